package packaging_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rootfsTemplate builds (or reuses) the cached Debian 12 root file system.
func rootfsTemplate(t *testing.T) string {
	t.Helper()
	needTool(t, "debootstrap", "systemd-nspawn", "nsenter")
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "rootfs.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/rootfs.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// container is one Debian root booted under systemd-nspawn with a private
// network namespace of its own (loopback only), so its ports collide with
// nothing on the host and it reaches nothing outside.
type container struct {
	t    *testing.T
	dir  string
	name string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// newContainer copies the template into a fresh directory; it is removed,
// after the container is stopped, when the test ends.
func newContainer(t *testing.T, template, name string) *container {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	mustRun(t, 5*time.Minute, "", "cp", "-a", template, dir)
	c := &container{t: t, dir: dir, name: name}
	t.Cleanup(c.kill)
	return c
}

// boot starts systemd in the container and waits until the boot is over.
func (c *container) boot() {
	c.t.Helper()
	cmd := exec.Command("systemd-nspawn", "-q", "-b", "-D", c.dir,
		"--register=no", "--keep-unit", "--machine="+c.name,
		"--private-network", "--resolv-conf=off", "--timezone=off")
	cmd.Stdout = &syncWriter{c: c}
	cmd.Stderr = &syncWriter{c: c}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start systemd-nspawn: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()
	// is-system-running --wait blocks until the boot finished; "degraded"
	// (a unit failed) is reported by the checks that follow.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if pid, err := c.pid1(); err == nil {
			r := c.exec(3*time.Minute, "systemctl", "is-system-running", "--wait")
			state := strings.TrimSpace(r.Out)
			if state == "running" || state == "degraded" {
				c.t.Logf("%s booted: %s", c.name, state)
				return
			}
			c.t.Logf("%s (pid %d) is %q", c.name, pid, state)
		}
		select {
		case <-done:
			c.t.Fatalf("systemd-nspawn exited during boot:\n%s", c.output())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not finish booting:\n%s", c.name, c.output())
		}
	}
}

type syncWriter struct{ c *container }

func (w *syncWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.log.Write(p)
}

func (c *container) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// pid1 returns the host PID of the container's init: the child of nspawn.
func (c *container) pid1() (int, error) {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, fmt.Errorf("container %s is not running", c.name)
	}
	p := cmd.Process.Pid
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
	if err != nil {
		return 0, fmt.Errorf("tasks of nspawn %d: %w", p, err)
	}
	var f []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			return 0, fmt.Errorf("children of nspawn %d: %w", p, err)
		}
		f = append(f, strings.Fields(string(b))...)
	}
	if len(f) == 0 {
		return 0, fmt.Errorf("nspawn %d has no child yet", p)
	}
	return strconv.Atoi(f[0])
}

// exec runs a command inside the container (all its namespaces).
func (c *container) exec(timeout time.Duration, args ...string) result {
	c.t.Helper()
	pid, err := c.pid1()
	if err != nil {
		c.t.Fatalf("exec %q: %v", args, err)
	}
	nargs := append([]string{"-t", strconv.Itoa(pid), "-a", "--"}, args...)
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "TERM=dumb"}
	return run(c.t, timeout, "/", env, "nsenter", nargs...)
}

// mustExec runs a command inside and fails the test unless it exits 0.
func (c *container) mustExec(args ...string) string {
	c.t.Helper()
	r := c.exec(2*time.Minute, args...)
	if r.Code != 0 {
		c.t.Fatalf("in %s: %s: exit %d:\n%s", c.name, strings.Join(args, " "), r.Code, r.Out)
	}
	return r.Out
}

// poweroff shuts the container down from inside and waits for nspawn.
func (c *container) poweroff() {
	c.t.Helper()
	c.exec(time.Minute, "systemctl", "poweroff")
	select {
	case <-c.done:
	case <-time.After(2 * time.Minute):
		c.t.Fatalf("%s did not power off:\n%s", c.name, c.output())
	}
	c.mu.Lock()
	c.cmd = nil
	c.mu.Unlock()
}

// kill stops the container whatever state it is in: SIGTERM asks nspawn for
// an orderly shutdown, SIGKILL to the container's init then ends its whole
// PID namespace, and nspawn's own process group goes last. nspawn's mounts
// and the private network namespace live in namespaces that die with it.
func (c *container) kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		if pid, err := c.pid1(); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			c.t.Errorf("systemd-nspawn %d for %s did not exit", cmd.Process.Pid, c.name)
		}
	}
	c.mu.Lock()
	c.cmd = nil
	c.mu.Unlock()
	if c.t.Failed() {
		c.t.Logf("console of %s:\n%s", c.name, tail(c.output(), 60))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls a command inside until its output (trimmed) is want.
func (c *container) waitFor(want string, timeout time.Duration, args ...string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last result
	for time.Now().Before(deadline) {
		last = c.exec(time.Minute, args...)
		if strings.TrimSpace(last.Out) == want {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Fatalf("in %s: %s: still %q (exit %d) after %s, want %q", c.name, strings.Join(args, " "),
		strings.TrimSpace(last.Out), last.Code, timeout, want)
}
