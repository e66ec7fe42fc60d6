package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// output keeps every line a process (and its notify socket) produced, each
// stamped when the bench read it, and copies them to a log file.
type output struct {
	mu      sync.Mutex
	lines   []stamped
	changed chan struct{}
	file    io.Writer
}

func newOutput(file io.Writer) *output {
	return &output{changed: make(chan struct{}), file: file}
}

func (o *output) add(text string) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, stamped{at: now, text: text})
	if o.file != nil {
		fmt.Fprintf(o.file, "%s %s\n", now.UTC().Format("15:04:05.000000"), text)
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// since returns the lines from index i on, and a channel closed at the next
// line.
func (o *output) since(i int) ([]stamped, chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]stamped(nil), o.lines[min(i, len(o.lines)):]...), o.changed
}

func (o *output) all() []stamped {
	lines, _ := o.since(0)
	return lines
}

// tail returns the last n lines' text.
func (o *output) tail(n int) []string {
	lines := o.all()
	lines = lines[max(0, len(lines)-n):]
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

// copyLines stamps each line read from r.
func (o *output) copyLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		o.add(sc.Text())
	}
}

// proc is one child process of the bench; one goroutine owns Wait.
type proc struct {
	name  string
	cmd   *exec.Cmd
	out   *output
	start time.Time // just before exec
	done  chan struct{}
	err   error // valid once done is closed
}

// startProc runs path with args and env; its stdout and stderr go to out.
func startProc(name, path string, args, env []string, out *output) (*proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: pipe: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	_ = w.Close()
	copied := make(chan struct{})
	go func() {
		out.copyLines(r)
		_ = r.Close()
		close(copied)
	}()
	go func() {
		p.err = cmd.Wait()
		select {
		case <-copied:
		case <-time.After(2 * time.Second): // a grandchild holds the pipe
		}
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// errExited: the process ended while it was waited on.
var errExited = errors.New("process exited")

// waitLine waits until a line from index from on satisfies match, and
// returns it. It fails when the process exits first or ctx ends.
func (p *proc) waitLine(ctx context.Context, from int, match func(string) bool) (stamped, error) {
	for {
		lines, changed := p.out.since(from)
		for _, l := range lines {
			if match(l.text) {
				return l, nil
			}
		}
		from += len(lines)
		select {
		case <-ctx.Done():
			return stamped{}, fmt.Errorf("%s: %w", p.name, context.Cause(ctx))
		case <-p.done:
			if lines, _ := p.out.since(from); len(lines) > 0 {
				continue
			}
			return stamped{}, fmt.Errorf("%s: %w (%v)", p.name, errExited, p.err)
		case <-changed:
		}
	}
}

// hasMark matches the lines that mark milestone m.
func hasMark(m string) func(string) bool {
	return func(line string) bool { return classify(line) == m }
}

// run runs a short command and returns its output.
func run(ctx context.Context, path string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
