package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// datagram is one sd_notify message and when it arrived.
type datagram struct {
	at  time.Time
	msg string
}

// notifySocket is a real unix datagram socket standing in for systemd's.
type notifySocket struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []datagram
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	s := &notifySocket{path: path, conn: conn}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, datagram{time.Now(), string(buf[:n])})
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return s
}

func (s *notifySocket) all() []datagram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]datagram(nil), s.msgs...)
}

// count counts messages holding field (e.g. "WATCHDOG=1") in [from, to).
func (s *notifySocket) count(field string, from, to time.Time) int {
	n := 0
	for _, d := range s.all() {
		if hasField(d.msg, field) && !d.at.Before(from) && d.at.Before(to) {
			n++
		}
	}
	return n
}

func (s *notifySocket) waitFor(t *testing.T, field string, timeout time.Duration) datagram {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, d := range s.all() {
			if hasField(d.msg, field) {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s within %s; got %v", field, timeout, s.all())
	return datagram{}
}

func hasField(msg, field string) bool {
	for _, line := range strings.Split(msg, "\n") {
		if line == field {
			return true
		}
	}
	return false
}

// childPID finds the etcd child of an etcd-rejoin process.
func childPID(t *testing.T, parent int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/task/" + strconv.Itoa(parent) + "/children")
	if err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
	}
	// Children may hang off another thread of the Go runtime.
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(parent) + "/task")
	for _, task := range tasks {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/task/" + task.Name() + "/children")
		if f := strings.Fields(string(data)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
	}
	t.Fatalf("no child process of %d", parent)
	return 0
}

func environOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// The service against a real notify socket: READY only once the member
// answers, watchdog pings every half interval while healthy and none while
// etcd is frozen, STOPPING on SIGTERM, and etcd never sees the socket.
func TestSystemdNotify(t *testing.T) {
	forEachVersion(t, netNotify, func(t *testing.T, v testetcd.Version, prefix string) {
		sock := listenNotify(t)
		l := newLab(t, v, prefix, 1)
		const watchdog = 2 * time.Second
		h := l.start(0, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC="+strconv.Itoa(int(watchdog/time.Microsecond)),
			"ETCD_REJOIN_HEALTH_INTERVAL=10s")

		ready := sock.waitFor(t, "READY=1", readyTimeout)
		if !strings.Contains(ready.msg, "STATUS=running: member") {
			t.Errorf("READY came without the running STATUS: %q", ready.msg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := l.cli(0).Get(ctx, "probe"); err != nil {
			t.Errorf("READY was sent but the member does not answer a quorum read: %v", err)
		}
		if n := sock.count("WATCHDOG=1", time.Time{}, ready.at); n != 0 {
			t.Errorf("%d watchdog pings before READY", n)
		}
		statusBefore := 0
		for _, d := range sock.all() {
			if d.at.Before(ready.at) && strings.Contains(d.msg, "STATUS=bootstrap: ") {
				statusBefore++
			}
		}
		if statusBefore == 0 {
			t.Errorf("no STATUS line naming the decision before READY: %v", sock.all())
		}

		// etcd's environment: no notify socket, no watchdog, no own variables.
		child := childPID(t, h.cmd.Process.Pid)
		env := environOf(t, child)
		for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "ETCD_OTHER_PEERS_CLIENT_URLS", "ETCD_REJOIN_ETCD_BINARY"} {
			if _, ok := env[k]; ok {
				t.Errorf("etcd child sees %s", k)
			}
		}
		if env["ETCD_INITIAL_CLUSTER_STATE"] != "new" || env["ETCD_NAME"] != "n1" {
			t.Errorf("etcd child env: state %q name %q", env["ETCD_INITIAL_CLUSTER_STATE"], env["ETCD_NAME"])
		}

		// Healthy: a ping every half watchdog interval (1 s): 6 s hold about 6.
		from := time.Now()
		time.Sleep(6 * time.Second)
		if n := sock.count("WATCHDOG=1", from, time.Now()); n < 4 || n > 8 {
			t.Errorf("%d watchdog pings in 6 s while healthy, want about 6", n)
		}

		// Frozen etcd: the pings stop.
		if err := syscall.Kill(child, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // a check under way may still succeed
		from = time.Now()
		time.Sleep(5 * time.Second)
		frozen := sock.count("WATCHDOG=1", from, time.Now())
		if err := syscall.Kill(child, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if frozen != 0 {
			t.Errorf("%d watchdog pings while etcd was frozen, want 0", frozen)
		}
		// And they resume once it thaws.
		from = time.Now()
		time.Sleep(4 * time.Second)
		if n := sock.count("WATCHDOG=1", from, time.Now()); n == 0 {
			t.Errorf("no watchdog ping after etcd thawed")
		}

		// SIGTERM: STOPPING=1, clean exit 0, etcd gone.
		if code := h.stop(30 * time.Second); code != 0 {
			t.Errorf("exit code after SIGTERM = %d, want 0", code)
		}
		sock.waitFor(t, "STOPPING=1", 2*time.Second)
		if err := syscall.Kill(child, 0); err == nil {
			t.Errorf("etcd child %d still runs after the service stopped", child)
		}
	})
}

// systemd sends SIGABRT when the watchdog times out. etcd-rejoin must then
// exit 1 (a failure systemd restarts) and take its frozen etcd down with it
// within 2 s, instead of Go's default (a goroutine dump and exit 2, leaving
// the frozen etcd to the unit's stop timeout).
func TestWatchdogAbortExits1(t *testing.T) {
	forEachVersion(t, netAbort, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 1)
		h := l.start(0)
		h.waitReady(t)
		child := childPID(t, h.cmd.Process.Pid)
		if err := syscall.Kill(child, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if err := h.cmd.Process.Signal(syscall.SIGABRT); err != nil {
			t.Fatal(err)
		}
		if code := h.waitExit(t); code != 1 {
			t.Errorf("exit code after SIGABRT = %d, want 1", code)
		}
		if !strings.Contains(h.out.String(), "aborted by SIGABRT") {
			t.Errorf("no word of the abort:\n%s", h.tail(5))
		}
		if err := syscall.Kill(child, 0); err == nil {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Errorf("frozen etcd %d outlived etcd-rejoin", child)
		}
	})
}
