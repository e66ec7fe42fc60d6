package supervise

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hang guards a wait; no test asserts on timing.
const hang = 30 * time.Second

// lines is an Output that records every Write and lets a test wait for one.
type lines struct {
	mu     sync.Mutex
	got    []string
	notify chan struct{}
}

func newLines() *lines { return &lines{notify: make(chan struct{}, 1)} }

func (l *lines) Write(b []byte) (int, error) {
	l.mu.Lock()
	l.got = append(l.got, string(b))
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// waitFor waits for a written line with the given prefix and returns it
// without its newline.
func (l *lines) waitFor(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(hang)
	for {
		for _, w := range l.all() {
			if strings.HasPrefix(w, prefix) {
				return strings.TrimSuffix(w, "\n")
			}
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("no output line starting with %q; got %q", prefix, l.all())
		}
	}
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// startChild starts the test binary in the given child mode.
func startChild(t *testing.T, mode string, out *lines, args ...string) *Process {
	t.Helper()
	p, err := Start(Spec{Path: self(t), Args: args, Env: []string{childModeVar + "=" + mode}, Output: out})
	if err != nil {
		t.Fatalf("start child %s: %v", mode, err)
	}
	t.Cleanup(func() { _ = p.Stop(0) })
	return p
}

func waitDone(t *testing.T, p *Process) error {
	t.Helper()
	select {
	case <-p.Done():
		return p.Err()
	case <-time.After(hang):
		t.Fatalf("child %d did not exit", p.Pid())
		return nil
	}
}

func asExit(t *testing.T, err error) *ExitError {
	t.Helper()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T) is not an *ExitError", err, err)
	}
	return ee
}

func sh(t *testing.T, script string, tailLines int) (*Process, *lines) {
	t.Helper()
	out := newLines()
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"},
		Output: out, TailLines: tailLines})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(0) })
	return p, out
}

func TestExitCodes(t *testing.T) {
	for _, code := range []int{0, 1, 2, 3, 42, 255} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			p, _ := sh(t, fmt.Sprintf("echo bye; exit %d", code), 0)
			err := waitDone(t, p)
			if code == 0 {
				if err != nil {
					t.Fatalf("Err() = %v, want nil", err)
				}
				return
			}
			ee := asExit(t, err)
			if ee.Code != code || ee.Signal != "" {
				t.Errorf("ExitError{Code: %d, Signal: %q}, want code %d", ee.Code, ee.Signal, code)
			}
			if want := fmt.Sprintf("child exited with code %d; last output: bye", code); ee.Error() != want {
				t.Errorf("Error() = %q, want %q", ee.Error(), want)
			}
		})
	}
}

func TestOutputCopiedLineByLine(t *testing.T) {
	out := newLines()
	p := startChild(t, "print", out, "out 1", "err 1", "out 2", "", "err 3")
	if err := waitDone(t, p); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	want := []string{"out 1\n", "err 1\n", "out 2\n", "\n", "err 3\n"}
	if got := out.all(); !slices.Equal(got, want) {
		t.Errorf("Output writes = %q, want %q", got, want)
	}
	if got, want := p.Tail(), []string{"out 1", "err 1", "out 2", "", "err 3"}; !slices.Equal(got, want) {
		t.Errorf("Tail() = %q, want %q", got, want)
	}
}

func TestUnterminatedAndCRLFLines(t *testing.T) {
	p, out := sh(t, `printf 'one\r\ntwo\nthree'`, 0)
	if err := waitDone(t, p); err != nil {
		t.Fatal(err)
	}
	if got, want := out.all(), []string{"one\n", "two\n", "three\n"}; !slices.Equal(got, want) {
		t.Errorf("Output writes = %q, want %q", got, want)
	}
}

func TestTailKeepsLastLines(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tailLines int
		first     int // first line number kept of 100
	}{
		{"five", 5, 96},
		{"default", 0, 100 - DefaultTailLines + 1},
		{"more than printed", 500, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, out := sh(t, `i=1; while [ $i -le 100 ]; do echo "line $i"; i=$((i+1)); done; exit 3`, tc.tailLines)
			ee := asExit(t, waitDone(t, p))
			var want []string
			for i := tc.first; i <= 100; i++ {
				want = append(want, fmt.Sprintf("line %d", i))
			}
			if got := p.Tail(); !slices.Equal(got, want) {
				t.Errorf("Tail() = %q, want %q", got, want)
			}
			if !slices.Equal(ee.Tail, want) {
				t.Errorf("ExitError.Tail = %q, want %q", ee.Tail, want)
			}
			if n := len(out.all()); n != 100 {
				t.Errorf("Output got %d lines, want all 100", n)
			}
			wantMsg := "child exited with code 3; last output: line 96 | line 97 | line 98 | line 99 | line 100"
			if ee.Error() != wantMsg {
				t.Errorf("Error() = %q, want %q", ee.Error(), wantMsg)
			}
		})
	}
}

func TestLongLineIsCutNotBlocking(t *testing.T) {
	// 3 MiB on one line, then a normal one: the copier must keep reading.
	p, out := sh(t, `head -c 3145728 /dev/zero | tr '\0' x; echo; echo after`, 0)
	if err := waitDone(t, p); err != nil {
		t.Fatal(err)
	}
	got := out.all()
	if len(got) != 2 || got[1] != "after\n" {
		t.Fatalf("got %d writes, last %q", len(got), got[len(got)-1])
	}
	if want := strings.Repeat("x", maxLineBytes) + "\n"; got[0] != want {
		t.Errorf("long line has %d bytes, want %d", len(got[0]), len(want))
	}
	if tail := p.Tail(); len(tail[0]) != maxTailLineBytes || tail[1] != "after" {
		t.Errorf("Tail() lines of %d bytes and %q", len(tail[0]), tail[1])
	}
}

func TestStopChildThatExitsOnSIGTERM(t *testing.T) {
	out := newLines()
	p := startChild(t, "term-exit", out)
	out.waitFor(t, "ready")
	// A long timeout: were SIGKILL needed, the result would say SIGKILL.
	if err := p.Stop(hang); err != nil {
		t.Fatalf("Stop() = %v, want nil (clean exit on SIGTERM)", err)
	}
	if got := out.waitFor(t, "got "); got != "got terminated" {
		t.Errorf("child reported %q", got)
	}
	if err := p.Stop(hang); err != nil {
		t.Errorf("second Stop() = %v, want nil", err)
	}
}

func TestStopChildKilledBySIGTERM(t *testing.T) {
	out := newLines()
	p := startChild(t, "sleep", out)
	out.waitFor(t, "ready")
	ee := asExit(t, p.Stop(hang))
	if ee.Signal != "SIGTERM" || ee.Code != -1 {
		t.Errorf("ExitError{Code: %d, Signal: %q}, want SIGTERM", ee.Code, ee.Signal)
	}
	if want := "child killed by signal SIGTERM; last output: ready"; ee.Error() != want {
		t.Errorf("Error() = %q, want %q", ee.Error(), want)
	}
}

func TestStopChildIgnoringSIGTERM(t *testing.T) {
	out := newLines()
	p := startChild(t, "ignore-term", out)
	out.waitFor(t, "ready")
	err := p.Stop(200 * time.Millisecond)
	ee := asExit(t, err)
	if ee.Signal != "SIGKILL" {
		t.Fatalf("Signal = %q, want SIGKILL (%v)", ee.Signal, ee)
	}
	if !slices.Equal(ee.Tail, []string{"ready"}) {
		t.Errorf("Tail = %q", ee.Tail)
	}
	// Idempotent: the same result again, and Err agrees.
	if again := p.Stop(time.Hour); again != err {
		t.Errorf("second Stop() = %v, want %v", again, err)
	}
	if p.Err() != err {
		t.Errorf("Err() = %v, want %v", p.Err(), err)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
}

func TestCrash(t *testing.T) {
	out := newLines()
	p := startChild(t, "panic", out)
	ee := asExit(t, waitDone(t, p))
	if ee.Code != 2 || ee.Signal != "" {
		t.Errorf("ExitError{Code: %d, Signal: %q}, want Go's panic exit code 2", ee.Code, ee.Signal)
	}
	if !slices.Contains(ee.Tail, "about to crash") || !slices.Contains(ee.Tail, "panic: boom") {
		t.Errorf("Tail lacks the crash output: %q", ee.Tail)
	}
	if !strings.HasPrefix(ee.Error(), "child exited with code 2; last output: ") {
		t.Errorf("Error() = %q", ee.Error())
	}
}

func TestErrNilWhileRunning(t *testing.T) {
	out := newLines()
	p := startChild(t, "sleep", out)
	out.waitFor(t, "ready")
	if err := p.Err(); err != nil {
		t.Errorf("Err() while running = %v", err)
	}
	select {
	case <-p.Done():
		t.Fatal("Done closed while the child runs")
	default:
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ee := asExit(t, waitDone(t, p)); ee.Signal != "SIGKILL" {
		t.Errorf("Signal = %q, want SIGKILL", ee.Signal)
	}
}

func TestChildEnvironment(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("ETCD_REJOIN_CONFIG", "/etc/etcd-rejoin.toml")
	t.Setenv("ETCD_OTHER_PEERS_CLIENT_URLS", "http://127.0.0.2:2379")
	t.Setenv("ETCD_NAME", "from-parent")
	t.Setenv("SUPERVISE_TEST_KEEP", "kept")
	t.Setenv(childModeVar, "env")
	env := BuildEnv(os.Environ(), map[string]string{"ETCD_NAME": "n1", "ETCD_DATA_DIR": "/tmp/n1"})
	t.Setenv(childModeVar, "")

	out := newLines()
	p, err := Start(Spec{Path: self(t), Env: env, Output: out, TailLines: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, p); err != nil {
		t.Fatal(err)
	}
	got := p.Tail()
	for _, want := range []string{"ETCD_NAME=n1", "ETCD_DATA_DIR=/tmp/n1", "SUPERVISE_TEST_KEEP=kept", "PATH=" + os.Getenv("PATH")} {
		if !slices.Contains(got, want) {
			t.Errorf("child environment lacks %s", want)
		}
	}
	for _, kv := range got {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "NOTIFY_SOCKET", strings.HasPrefix(name, "WATCHDOG_"), strings.HasPrefix(name, "ETCD_REJOIN_"),
			name == "ETCD_OTHER_PEERS_CLIENT_URLS":
			t.Errorf("child environment holds %s", kv)
		}
	}
}

func TestNilEnvIsEmpty(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	out := newLines()
	p, err := Start(Spec{Path: "/usr/bin/env", Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, p); err != nil {
		t.Fatal(err)
	}
	if got := out.all(); len(got) != 0 {
		t.Errorf("child with nil Env saw %q", got)
	}
}

func TestWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	out := newLines()
	p, err := Start(Spec{Path: "/bin/pwd", Args: []string{"-P"}, Dir: dir, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, p); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Tail(); !slices.Equal(got, []string{real}) {
		t.Errorf("child ran in %q, want %q", got, real)
	}
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "etcd")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		is         error
	}{
		{"missing binary", filepath.Join(dir, "no-such-etcd"), fs.ErrNotExist},
		{"not executable", notExec, fs.ErrPermission},
		{"not in PATH", "no-such-etcd-in-path", exec.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Start(Spec{Path: tc.path})
			if err == nil {
				p.Stop(0)
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %s", err, tc.path)
			}
		})
	}
}

// TestChildDiesWithParent kills an intermediate supervisor with SIGKILL and
// checks that Pdeathsig took its child down too.
func TestChildDiesWithParent(t *testing.T) {
	out := newLines()
	p := startChild(t, "parent", out)
	line := out.waitFor(t, "grandchild ")
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "grandchild "))
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	if !alive(pid) {
		t.Fatalf("grandchild %d not running before the parent was killed", pid)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ee := asExit(t, waitDone(t, p)); ee.Signal != "SIGKILL" {
		t.Fatalf("parent: %v", ee)
	}
	deadline := time.Now().Add(hang)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d outlived its parent", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}

// TestGrandchildHoldingOutput checks that a process the child left behind,
// holding the output pipe open, does not keep Done from closing.
func TestGrandchildHoldingOutput(t *testing.T) {
	p, _ := sh(t, `sleep 300 & echo "orphan $!"`, 0)
	err := waitDone(t, p)
	tail := p.Tail()
	if len(tail) == 1 {
		if pid, convErr := strconv.Atoi(strings.TrimPrefix(tail[0], "orphan ")); convErr == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err != nil {
		t.Fatalf("Err() = %v", err)
	}
	if len(tail) != 1 || !strings.HasPrefix(tail[0], "orphan ") {
		t.Errorf("Tail() = %q", tail)
	}
}
