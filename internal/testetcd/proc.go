package testetcd

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// logLines is how many of a server's last output lines are kept and printed.
const logLines = 40

// lineRing keeps the last lines written to it; it also copies everything to
// an optional file.
type lineRing struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	file    *os.File
}

func (r *lineRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file != nil {
		_, _ = r.file.Write(p)
	}
	r.partial = append(r.partial, p...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		r.add(string(r.partial[:i]))
		r.partial = r.partial[i+1:]
	}
	return len(p), nil
}

func (r *lineRing) add(line string) {
	r.lines = append(r.lines, line)
	if len(r.lines) > logLines {
		r.lines = r.lines[len(r.lines)-logLines:]
	}
}

// Last returns the kept lines, oldest first, and any unfinished line.
func (r *lineRing) Last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := strings.Join(r.lines, "\n")
	if len(r.partial) > 0 {
		out += "\n" + string(r.partial)
	}
	return out
}

// proc is one running etcd; one goroutine owns Wait and closes done.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
}

func startProc(binary string, args []string, out *lineRing) (*proc, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}
