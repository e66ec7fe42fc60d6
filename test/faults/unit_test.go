package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a service (see TestMain).
const helperEnv = "FAULTS_UNIT_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); strings.HasPrefix(mode, "net-") {
		os.Exit(netHelper(strings.TrimPrefix(mode, "net-")))
	} else if mode != "" {
		os.Exit(helper(mode))
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// helper is a tiny Type=notify service. Its incarnation number comes from a
// counter file, so that modes can behave differently after a restart.
func helper(mode string) int {
	n := bumpCounter(os.Getenv("HELPER_COUNTER"))
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	switch mode {
	case "fail-once":
		notify("READY=1\nSTATUS=running #" + strconv.Itoa(n))
		if n == 1 {
			return 1
		}
	case "bad-config":
		return 78
	case "no-watchdog":
		notify("READY=1\nSTATUS=running")
		signal.Reset(syscall.SIGTERM)
		select {} // never pings; SIGABRT ends it (Go exits 2)
	case "child-notifies":
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), helperEnv+"=notify-once")
		_ = child.Run()
		notify("READY=1\nSTATUS=running")
	case "notify-once":
		notify("READY=1")
		return 0
	case "stubborn-child":
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), helperEnv+"=ignore-term")
		_ = child.Start()
		notify("READY=1\nSTATUS=running")
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	default:
		notify("READY=1\nSTATUS=running")
	}
	for {
		select {
		case <-term:
			notify("STOPPING=1")
			return 0
		case <-time.After(50 * time.Millisecond):
			notify("WATCHDOG=1")
		}
	}
}

func notify(msg string) {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(msg))
}

func bumpCounter(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	n++
	_ = os.WriteFile(path, []byte(strconv.Itoa(n)), 0o600)
	return n
}

// startUnit runs a unit of the helper in the given mode until the test ends.
func startUnit(t *testing.T, mode string) (*Unit, string) {
	t.Helper()
	dir := t.TempDir()
	clock := NewClock()
	logPath := filepath.Join(dir, "unit.log")
	lf, err := openLog(logPath, clock)
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUnit(UnitConfig{
		Name:         "h",
		Command:      func() *exec.Cmd { return exec.Command(os.Args[0]) },
		Env:          []string{helperEnv + "=" + mode, "HELPER_COUNTER=" + filepath.Join(dir, "counter")},
		Log:          lf,
		SocketPath:   filepath.Join(dir, "notify.sock"),
		Watchdog:     time.Second,
		RestartDelay: 100 * time.Millisecond,
		StopTimeout:  time.Second,
		AbortTimeout: time.Second,
		Clock:        clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		u.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		u.Close()
		lf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("unit log:\n%s", b)
		}
	})
	u.Start()
	return u, logPath
}

// waitState waits until cond holds for the unit's state.
func waitState(t *testing.T, u *Unit, what string, cond func(UnitState) bool) UnitState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st := u.State(); cond(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("unit never %s: %+v", what, u.State())
	return UnitState{}
}

func TestUnitRestartsOnFailure(t *testing.T) {
	u, _ := startUnit(t, "fail-once")
	st := waitState(t, u, "ready in its second incarnation", func(s UnitState) bool { return s.Incarnation == 2 && s.Healthy() })
	if len(st.Exits) != 1 || st.Exits[0].Code != 1 || st.Exits[0].Watchdog {
		t.Errorf("exits %v, want one exit 1", st.Exits)
	}
	if st.Status != "running #2" {
		t.Errorf("status %q, want the second incarnation's", st.Status)
	}
}

func TestUnitDoesNotRestartAConfigError(t *testing.T) {
	u, _ := startUnit(t, "bad-config")
	st := waitState(t, u, "failed", func(s UnitState) bool { return s.Failed != "" })
	if !strings.Contains(st.Failed, "78") || st.Enabled || len(st.Exits) != 1 {
		t.Errorf("want one exit 78 and no restart, got failed %q enabled %t exits %v", st.Failed, st.Enabled, st.Exits)
	}
}

func TestUnitWatchdogAborts(t *testing.T) {
	u, _ := startUnit(t, "no-watchdog")
	st := waitState(t, u, "restarted by the watchdog", func(s UnitState) bool { return len(s.Exits) > 0 })
	ex := st.Exits[0]
	if !ex.Watchdog || ex.Code != 2 {
		t.Errorf("exit %v, want exit 2 (Go's SIGABRT) after the watchdog", ex)
	}
}

func TestUnitRejectsNotifyFromAChild(t *testing.T) {
	u, _ := startUnit(t, "child-notifies")
	st := waitState(t, u, "ready", func(s UnitState) bool { return s.Healthy() })
	if len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "READY") {
		t.Errorf("problems %v, want one about the child's READY=1", st.Problems)
	}
}

func TestUnitStopKillsWhatIsLeft(t *testing.T) {
	u, logPath := startUnit(t, "stubborn-child")
	st := waitState(t, u, "ready", func(s UnitState) bool { return s.Healthy() })
	children := childrenOf(st.Pid)
	if len(children) != 1 {
		t.Fatalf("want one child of %d, got %v", st.Pid, children)
	}
	u.Stop()
	if alive(children[0]) {
		t.Errorf("child %d outlived the stop", children[0])
	}
	st = u.State()
	if st.Running || st.Enabled || len(st.Exits) != 1 || st.Exits[0].Code != 0 {
		t.Errorf("after Stop: running %t enabled %t exits %v", st.Running, st.Enabled, st.Exits)
	}
	b, _ := os.ReadFile(logPath)
	if want := fmt.Sprintf("SIGKILL to [%d]", children[0]); !strings.Contains(string(b), "left in the group") || !strings.Contains(string(b), want[len("SIGKILL to "):]) {
		t.Errorf("the log does not say the leftover child was killed:\n%s", b)
	}
}
