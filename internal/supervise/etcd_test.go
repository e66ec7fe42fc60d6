package supervise

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// freeLoopbackURL reserves a loopback port and returns it as an http URL.
func freeLoopbackURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// TestStopRealEtcd records how a real etcd ends under Stop: the service
// layer maps this to a clean stop.
func TestStopRealEtcd(t *testing.T) {
	versions := testetcd.Versions(t) // fails under CI=true when one is missing
	etcdBinary := versions[len(versions)-1].Binary
	client, peer := freeLoopbackURL(t), freeLoopbackURL(t)
	settings := map[string]string{
		"ETCD_NAME":                        "s1",
		"ETCD_DATA_DIR":                    t.TempDir(),
		"ETCD_LISTEN_CLIENT_URLS":          client,
		"ETCD_ADVERTISE_CLIENT_URLS":       client,
		"ETCD_LISTEN_PEER_URLS":            peer,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": peer,
		"ETCD_INITIAL_CLUSTER":             "s1=" + peer,
		"ETCD_INITIAL_CLUSTER_STATE":       "new",
	}
	t.Setenv("NOTIFY_SOCKET", "/nonexistent/notify") // must not reach etcd
	out := newLines()
	p, err := Start(Spec{Path: etcdBinary, Env: BuildEnv(os.Environ(), settings), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(0) })
	// etcd installs its SIGTERM handler just before it notifies the init
	// daemon; a SIGTERM before that kills it without a clean shutdown.
	if line := waitContains(t, out, `"msg":"successfully notified init daemon"`, "notify systemd"); strings.Contains(line, "systemd") {
		t.Fatalf("etcd saw a notify socket: %s", line)
	}
	err = p.Stop(30 * time.Second)
	// etcd shuts down cleanly, then re-raises SIGTERM: it dies of the
	// signal rather than exiting 0.
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != "SIGTERM" {
		t.Fatalf("Stop() = %v, want a clean shutdown ending in SIGTERM", err)
	}
	if !ee.Terminated() {
		t.Errorf("Terminated() = false for %v", ee)
	}
	// Output is fully read once the child is done.
	if !slices.ContainsFunc(out.all(), func(l string) bool { return strings.Contains(l, `"msg":"closed etcd server"`) }) {
		t.Errorf("etcd did not log a clean shutdown; tail: %q", ee.Tail)
	}
}

// waitContains waits for an output line containing any of subs and returns it.
func waitContains(t *testing.T, l *lines, subs ...string) string {
	t.Helper()
	deadline := time.After(hang)
	for {
		for _, w := range l.all() {
			for _, sub := range subs {
				if strings.Contains(w, sub) {
					return w
				}
			}
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("no output line containing any of %q; got:\n%s", subs, strings.Join(l.all(), ""))
		}
	}
}
