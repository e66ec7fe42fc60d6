// Command etcd is a current etcd server built from the Go module proxy, for
// the integration tests. It lives in its own module so that the product's
// go.mod never depends on the etcd server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
