// Command testsum turns `go test -json` into what a reader of a test run
// needs, and adds up the suites of `make test`.
//
//	go test -json ./... 2>&1 | testsum -suite unit -log build/unit.log -summary build/summary/test-unit
//	testsum total -dir build/summary lint=0 test-unit=0 test-e2e=1
//
// The first form prints one result line per test as it ends, the whole
// output of every failed test (and of a package that failed outside any
// test: a build error, a timeout, a panic in TestMain), fuzzing progress,
// and at the end the summary line `unit: N passed, N failed[, N skipped]`.
// It counts leaf tests: a test without subtests, and each subtest without
// subtests of its own; a test with subtests counts only when it fails
// itself while none of its subtests failed. A suite in which no test passed
// or failed fails: nothing passes by running nothing. -log keeps the plain
// `go test -v` text of the run.
//
// The second form prints the summary line each step wrote into -dir, in the
// order given, then `total: N passed, N failed[, N skipped]`; a step that
// exited non-zero fails the total even where its line counted no failure.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches on the first argument and returns the exit code: 0 when
// everything passed, 1 when something failed, 2 for a bad command line.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	code := 0
	if len(args) > 0 && args[0] == "total" {
		code, err = runTotal(args[1:], stdout)
	} else {
		code, err = runSuite(args, stdin, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "testsum:", err)
		return 2
	}
	return code
}
