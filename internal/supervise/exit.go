package supervise

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// errorTailLines is how many output lines ExitError.Error quotes.
const errorTailLines = 5

// ExitError says how a child ended when it did not exit with code 0.
type ExitError struct {
	Code   int      // exit code; -1 when killed by a signal
	Signal string   // name of the signal that killed it ("SIGKILL"), else ""
	Tail   []string // the last lines of its output, oldest first
}

func (e *ExitError) Error() string {
	var b strings.Builder
	if e.Signal != "" {
		fmt.Fprintf(&b, "child killed by signal %s", e.Signal)
	} else {
		fmt.Fprintf(&b, "child exited with code %d", e.Code)
	}
	if last := lastN(e.Tail, errorTailLines); len(last) > 0 {
		fmt.Fprintf(&b, "; last output: %s", strings.Join(last, " | "))
	}
	return b.String()
}

// Terminated reports whether the child died of SIGTERM, as etcd does after a
// clean shutdown on SIGTERM (it re-raises the signal).
func (e *ExitError) Terminated() bool { return e.Signal == "SIGTERM" }

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// exitError turns what Wait reported into nil (exit 0) or an *ExitError.
func exitError(state *os.ProcessState, lines []string) error {
	if state.Success() {
		return nil
	}
	e := &ExitError{Code: state.ExitCode(), Tail: lines}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = signalName(ws.Signal())
	}
	return e
}

func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return fmt.Sprintf("signal %d", int(sig))
}
