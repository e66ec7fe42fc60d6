//go:build failpoints

package failpoint

import (
	"fmt"
	"os"
	"syscall"
	"time"

	gofail "go.etcd.io/gofail/runtime"
)

// Enabled reports whether failpoints are compiled in.
const Enabled = true

// EnvVar is where the terms come from, read once at process start by the
// gofail runtime: "<name>=<terms>[;<name>=<terms>]...", for example
// after-add=return("kill") or before-promote=sleep("2s"). It is not an
// ETCD_REJOIN_* variable: the service rejects unknown ones of those.
const EnvVar = "GOFAIL_FAILPOINTS"

// Kill is the value of a return term that makes Hit crash the process the
// way SIGKILL at that point would: no deferred call, no cleanup, no exit code.
const Kill = "kill"

// points holds one gofail failpoint per name; registering them applies the
// terms found in EnvVar.
var points = register()

func register() map[string]*gofail.Failpoint {
	m := make(map[string]*gofail.Failpoint, len(All))
	for _, name := range All {
		m[name] = gofail.NewFailpoint(name)
	}
	return m
}

// Hit evaluates the terms of the failpoint name, if any: sleep("d") and
// sleep(ms) pause here, panic panics, and return("kill") sends SIGKILL to this
// process and never returns. Any other returned value is a mistake in the
// terms and panics with the failpoint's name. An unknown name panics too: it
// is a typo in the code that calls Hit.
func Hit(name string) {
	fp, ok := points[name]
	if !ok {
		panic("failpoint: unknown failpoint " + name)
	}
	v, err := fp.Acquire()
	if err != nil {
		return // disabled, no term given, or a term that only paused
	}
	if v != Kill {
		panic(fmt.Sprintf("failpoint %s: unsupported value %v (want %q)", name, v, Kill))
	}
	kill(name)
}

// kill says which failpoint fired, then sends SIGKILL to the process and
// parks the calling goroutine until the signal lands.
func kill(name string) {
	fmt.Fprintf(os.Stderr, "failpoint %s: SIGKILL\n", name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Hour)
	}
}
