package supervise

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// childModeVar makes the test binary act as a child process.
const childModeVar = "SUPERVISE_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeVar); mode != "" {
		os.Exit(child(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// child is the test binary's behaviour as a child process.
func child(mode string, args []string) int {
	switch mode {
	case "print": // args alternate to stdout and stderr, then exit with $SUPERVISE_TEST_EXIT
		for i, a := range args {
			fmt.Fprintln([]*os.File{os.Stdout, os.Stderr}[i%2], a)
		}
		code, _ := strconv.Atoi(os.Getenv("SUPERVISE_TEST_EXIT"))
		return code
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
		return 0
	case "sleep": // default SIGTERM disposition: dies of it
		fmt.Println("ready")
		return sleepForever()
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		return sleepForever()
	case "term-exit":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		fmt.Printf("got %v\n", <-ch)
		return 0
	case "panic":
		fmt.Println("about to crash")
		panic("boom")
	case "parent": // supervises a sleeping grandchild and waits to be killed
		return parent()
	}
	fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
	return 99
}

func parent() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Println(err)
		return 98
	}
	ready := make(chan struct{})
	out := writerFunc(func(b []byte) (int, error) {
		if string(b) == "ready\n" {
			close(ready)
		}
		return len(b), nil
	})
	p, err := Start(Spec{Path: self, Env: []string{childModeVar + "=sleep"}, Output: out})
	if err != nil {
		fmt.Println(err)
		return 97
	}
	// Once the grandchild has written all it will write, its death can only
	// come from Pdeathsig (not from SIGPIPE on a pipe nobody reads).
	<-ready
	fmt.Printf("grandchild %d\n", p.Pid())
	return sleepForever()
}

// sleepForever blocks without tripping the runtime's deadlock detector.
func sleepForever() int {
	for {
		time.Sleep(time.Hour)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
