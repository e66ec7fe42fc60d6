package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readTimeout only guards against a hang; no test asserts on timing.
const readTimeout = 10 * time.Second

// env builds a getenv from a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// listen opens a real unixgram socket at addr and returns it.
func listen(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on %q: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// next reads one datagram.
func next(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	n, _, err := conn.ReadFromUnix(buf)
	if err != nil {
		t.Fatalf("read datagram: %v", err)
	}
	return string(buf[:n])
}

// expectNothingMore sends a sentinel datagram and checks that it is the next
// one read, so no call sent an extra message.
func expectNothingMore(t *testing.T, conn *net.UnixConn) {
	t.Helper()
	addr := conn.LocalAddr().(*net.UnixAddr)
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("SENTINEL")); err != nil {
		t.Fatal(err)
	}
	if got := next(t, conn); got != "SENTINEL" {
		t.Fatalf("unexpected extra datagram %q", got)
	}
}

// records is a slog handler that keeps every record.
type records struct {
	mu   sync.Mutex
	t    *testing.T
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t.Logf("log %s %s", rec.Level, rec.Message)
	r.recs = append(r.recs, rec)
	return nil
}

func (r *records) count(level slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level == level {
			n++
		}
	}
	return n
}

func (r *records) all() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.recs...)
}

var messages = []struct {
	name string
	call func(*Notifier)
	want string
}{
	{"ready", (*Notifier).Ready, "READY=1"},
	{"status", func(n *Notifier) { n.Status("waiting for quorum (1/3)") }, "STATUS=waiting for quorum (1/3)"},
	{"status newlines", func(n *Notifier) { n.Status("a\nb\r\nc\rd") }, "STATUS=a b c d"},
	{"status empty", func(n *Notifier) { n.Status("") }, "STATUS="},
	{"ready status", func(n *Notifier) { n.ReadyStatus("member 8e9e05c52164694d voting") },
		"READY=1\nSTATUS=member 8e9e05c52164694d voting"},
	{"ready status newline", func(n *Notifier) { n.ReadyStatus("x\ny") }, "READY=1\nSTATUS=x y"},
	{"watchdog", (*Notifier).Watchdog, "WATCHDOG=1"},
	{"stopping", (*Notifier).Stopping, "STOPPING=1"},
	{"extend 90s", func(n *Notifier) { n.ExtendTimeout(90 * time.Second) }, "EXTEND_TIMEOUT_USEC=90000000"},
	{"extend 1500us", func(n *Notifier) { n.ExtendTimeout(1500 * time.Microsecond) }, "EXTEND_TIMEOUT_USEC=1500"},
}

func TestMessagesOnPathSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	testMessages(t, path)
}

func TestMessagesOnAbstractSocket(t *testing.T) {
	testMessages(t, fmt.Sprintf("@etcd-rejoin-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
}

func testMessages(t *testing.T, addr string) {
	conn := listen(t, addr)
	logs := &records{t: t}
	n := New(env(map[string]string{EnvSocket: addr}), slog.New(logs))
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}
	for _, m := range messages {
		t.Run(m.name, func(t *testing.T) {
			m.call(n)
			if got := next(t, conn); got != m.want {
				t.Errorf("datagram = %q, want %q", got, m.want)
			}
		})
	}
	// ExtendTimeout below a microsecond sends nothing.
	n.ExtendTimeout(0)
	n.ExtendTimeout(-time.Second)
	n.ExtendTimeout(time.Nanosecond)
	expectNothingMore(t, conn)
	if recs := logs.all(); len(recs) != 0 {
		t.Errorf("logged %d records on successful sends, first %q", len(recs), recs[0].Message)
	}
}

func TestSocketPathReadOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.sock")
	conn := listen(t, path)
	vars := map[string]string{EnvSocket: path}
	n := New(env(vars), nil)
	vars[EnvSocket] = filepath.Join(t.TempDir(), "other.sock")
	n.Ready()
	if got := next(t, conn); got != "READY=1" {
		t.Fatalf("datagram = %q, want READY=1", got)
	}
}

func TestNoSocketIsNoop(t *testing.T) {
	logs := &records{t: t}
	n := New(env(nil), slog.New(logs))
	var nilNotifier *Notifier
	for _, nn := range []*Notifier{n, nilNotifier, {}} {
		if nn.Enabled() {
			t.Fatal("Enabled() = true without NOTIFY_SOCKET")
		}
		for _, m := range messages {
			m.call(nn)
		}
		if got := nn.WatchdogInterval(); got != 0 {
			t.Errorf("WatchdogInterval() = %v, want 0", got)
		}
	}
	if recs := logs.all(); len(recs) != 0 {
		t.Errorf("no-op notifier logged %q", recs[0].Message)
	}
}

func TestUnreachableSocketWarnsOnce(t *testing.T) {
	for name, addr := range map[string]string{
		"missing file":     filepath.Join(t.TempDir(), "absent.sock"),
		"missing abstract": fmt.Sprintf("@etcd-rejoin-absent-%d-%d", os.Getpid(), time.Now().UnixNano()),
	} {
		t.Run(name, func(t *testing.T) {
			logs := &records{t: t}
			n := New(env(map[string]string{EnvSocket: addr}), slog.New(logs))
			for _, m := range messages {
				m.call(n) // must neither panic nor block
			}
			if got := logs.count(slog.LevelWarn); got != 1 {
				t.Fatalf("%d warnings, want exactly 1", got)
			}
			if got, want := logs.count(slog.LevelDebug), len(messages)-1; got != want {
				t.Errorf("%d debug records, want %d", got, want)
			}
			warn := logs.all()[0]
			if warn.Message != "sd_notify failed" {
				t.Errorf("warning message %q", warn.Message)
			}
			checkAttr(t, warn, "socket", addr)
		})
	}
}

// TestReceiverGone checks that a socket that vanished after New is only a
// logged failure.
func TestReceiverGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.sock")
	conn := listen(t, path)
	logs := &records{t: t}
	n := New(env(map[string]string{EnvSocket: path}), slog.New(logs))
	n.Ready()
	if got := next(t, conn); got != "READY=1" {
		t.Fatalf("datagram = %q", got)
	}
	conn.Close()
	n.Watchdog()
	n.Watchdog()
	if got := logs.count(slog.LevelWarn); got != 1 {
		t.Fatalf("%d warnings after the receiver closed, want 1", got)
	}
	var errAttr error
	logs.all()[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			errAttr, _ = a.Value.Any().(error)
		}
		return true
	})
	if !errors.Is(errAttr, syscall.ECONNREFUSED) {
		t.Errorf("err attribute = %v, want connection refused", errAttr)
	}
}

func checkAttr(t *testing.T, rec slog.Record, key, want string) {
	t.Helper()
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			found = true
			if got := a.Value.String(); got != want {
				t.Errorf("attr %s = %q, want %q", key, got, want)
			}
		}
		return true
	})
	if !found {
		t.Errorf("attr %s missing", key)
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	other := strconv.Itoa(os.Getpid() + 1)
	for _, tc := range []struct {
		name      string
		usec, pid string
		want      time.Duration
		warns     int
	}{
		{"unset", "", "", 0, 0},
		{"no pid", "30000000", "", 30 * time.Second, 0},
		{"our pid", "20000000", self, 20 * time.Second, 0},
		{"other pid", "20000000", other, 0, 0},
		{"pid without usec", "", self, 0, 0},
		{"zero", "0", self, 0, 1},
		{"negative", "-5", "", 0, 1},
		{"not a number", "30s", "", 0, 1},
		{"bad pid", "1000", "me", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &records{t: t}
			n := New(env(map[string]string{EnvWatchdogUS: tc.usec, EnvWatchdogPID: tc.pid}), slog.New(logs))
			if got := n.WatchdogInterval(); got != tc.want {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tc.want)
			}
			if got := logs.count(slog.LevelWarn); got != tc.warns {
				t.Errorf("%d warnings, want %d", got, tc.warns)
			}
		})
	}
}
