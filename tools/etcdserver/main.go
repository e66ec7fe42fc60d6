// Command etcd is an etcd server built from the Go module proxy for the
// integration tests, and etcdutl of the same release when it is invoked under
// that name (scripts/deps.sh links $CACHE/etcd-<version>/etcdutl to it). It
// lives in its own module so that the product's go.mod never depends on the
// etcd server.
package main

import (
	"os"
	"path/filepath"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	if filepath.Base(os.Args[0]) == "etcdutl" {
		os.Exit(runEtcdutl(os.Args[1:]))
	}
	etcdmain.Main(os.Args)
}
