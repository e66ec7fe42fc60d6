// Command hitter passes the failpoints named on its command line, in order,
// printing "passed <name>" after each: the failpoint tests run it to see
// which terms return, pause or kill.
package main

import (
	"fmt"
	"os"

	"github.com/etcd-rejoin/etcd-rejoin/internal/failpoint"
)

func main() {
	fmt.Printf("enabled %t\n", failpoint.Enabled)
	for _, name := range os.Args[1:] {
		failpoint.Hit(name)
		fmt.Printf("passed %s\n", name)
	}
}
