// Package supervise runs etcd as a child process: it builds the child's
// environment, starts it, copies and keeps its output, reports how it ended
// and stops it with SIGTERM, a bounded wait, then SIGKILL.
package supervise

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// DefaultTailLines is how many output lines a Process keeps by default.
const DefaultTailLines = 40

// drainTimeout bounds how long, after the child exited, we keep reading
// output that a grandchild holding the pipe might never close.
const drainTimeout = 2 * time.Second

// Spec says what to run.
type Spec struct {
	Path string   // binary; without a '/' it is looked up in our PATH
	Args []string // arguments, without argv[0]
	Env  []string // the child's whole environment (BuildEnv); nil means empty
	Dir  string   // working directory; "" means ours
	// Output receives every line of the child's stdout and stderr, one Write
	// per line, newline-terminated. May be nil.
	Output    io.Writer
	TailLines int // how many recent lines to keep; <= 0 means DefaultTailLines
}

// Process is a started child. One goroutine owns Wait and closes Done.
type Process struct {
	proc *os.Process
	tail *tail
	done chan struct{}
	err  error // set before done is closed
}

// Start starts the child. It fails if the binary cannot be started.
func Start(spec Spec) (*Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: output pipe: %w", spec.Path, err)
	}
	cmd := command(spec, w)
	p := &Process{tail: newTail(tailLines(spec.TailLines)), done: make(chan struct{})}
	started := make(chan error, 1)
	go p.run(cmd, r, w, spec.Output, started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	p.proc = cmd.Process
	return p, nil
}

func tailLines(n int) int {
	if n <= 0 {
		return DefaultTailLines
	}
	return n
}

func command(spec Spec, out *os.File) *exec.Cmd {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // never inherit ours: it holds NOTIFY_SOCKET
	}
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}

// run starts the child and owns it until it exited. The goroutine stays on
// the thread that forked: Pdeathsig fires when that thread ends, not when the
// process does, so the thread must outlive the child.
func (p *Process) run(cmd *exec.Cmd, r, w *os.File, out io.Writer, started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := cmd.Start()
	w.Close() // the child holds its own copy
	if err != nil {
		r.Close()
		started <- err
		return
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		copyLines(r, out, p.tail)
	}()
	started <- nil
	waitErr := cmd.Wait()
	drain(copied, r)
	p.err = result(waitErr, p.tail.snapshot())
	close(p.done)
}

// drain waits for the output copier to reach EOF, for at most drainTimeout.
func drain(copied <-chan struct{}, r *os.File) {
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	select {
	case <-copied:
	case <-timer.C:
		r.Close() // unblocks the copier's Read
		<-copied
	}
	r.Close()
}

// result maps Wait's error to nil or *ExitError.
func result(waitErr error, lines []string) error {
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		return exitError(exitErr.ProcessState, lines)
	}
	if waitErr != nil {
		return fmt.Errorf("wait for child: %w", waitErr)
	}
	return nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.proc.Pid }

// Done is closed once the child exited and its output was read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is nil while the child runs or after it exited with code 0, else an
// *ExitError.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Tail returns the last lines of the child's output, oldest first.
func (p *Process) Tail() []string { return p.tail.snapshot() }

// Signal sends sig to the child. After it exited the error wraps
// os.ErrProcessDone.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.proc.Signal(sig); err != nil {
		return fmt.Errorf("signal pid %d with %v: %w", p.proc.Pid, sig, err)
	}
	return nil
}

// Stop sends SIGTERM, waits up to timeout for the child to exit, then sends
// SIGKILL and waits for it. It returns how the child ended (Err). Calling it
// again, or after the child exited, only returns that.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		<-p.done
	}
	return p.err
}
