package e2e

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback /24s of the etcd auth tests (issue 13).
const (
	netAuthPassword = 104
	netAuthCN       = 107
)

// enableAuth creates the root user (with the root role) and turns etcd's
// auth on, through the test's own client.
func enableAuth(t *testing.T, l *lab, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := l.cli()
	if _, err := c.RoleAdd(ctx, "root"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("role add root: %v", err)
	}
	if _, err := c.UserAdd(ctx, "root", password); err != nil {
		t.Fatalf("user add root: %v", err)
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatalf("grant root: %v", err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		t.Fatalf("auth enable: %v", err)
	}
}

// writeSecret writes a password file the way an operator would (0600, a
// trailing newline).
func writeSecret(t *testing.T, dir, name, password string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// etcd auth with a password: the services authenticate as root with a
// password read from a file (here given as a systemd credential). A wrong
// password is reported as exactly that and changes nothing; the right one
// heals a wiped member.
func TestAuthPasswordHeals(t *testing.T) {
	forEachVersion(t, netAuthPassword, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(10, "k")
		enableAuth(t, l, "s3cret")
		l.user, l.password = "root", "s3cret"
		creds := t.TempDir()
		writeSecret(t, creds, "etcd-password", "s3cret")
		l.extra = []string{"ETCD_REJOIN_CLIENT_AUTH_USERNAME=root", "ETCD_REJOIN_CLIENT_AUTH_PASSWORD_FILE=etcd-password",
			"CREDENTIALS_DIRECTORY=" + creds}
		for i := range l.hosts { // a rolling restart with the credentials
			l.hosts[i].stop(20 * time.Second)
			l.start(i).waitReady(t)
		}
		before := l.members(0, 1)
		l.wipe(2)

		wrong := t.TempDir()
		writeSecret(t, wrong, "etcd-password", "not-it")
		h := l.start(2, "CREDENTIALS_DIRECTORY="+wrong)
		h.waitLog(t, "waiting: etcd refuses etcd-rejoin's credentials", 30*time.Second)
		time.Sleep(3 * time.Second) // a few more looks
		if out := h.out.String(); strings.Contains(out, "etcd started") || strings.Contains(out, "no quorum") ||
			!strings.Contains(out, "authentication failed") {
			t.Errorf("with a wrong password: want a wait naming the authentication failure, no etcd, no quorum talk:\n%s", h.tail(15))
		}
		if after := l.members(0, 1); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed on a wrong password:\nbefore %+v\nafter  %+v", before, after)
		}
		if _, err := os.Stat(l.nodes[2].DataDir); !os.IsNotExist(err) {
			t.Errorf("a data dir appeared on a wrong password: %v", err)
		}
		h.stop(20 * time.Second)

		l.start(2).waitReady(t)
		ms := l.members(0, 1)
		if len(ms) != 3 || l.memberID(2, ms) == l.memberID(2, before) {
			t.Errorf("members after the heal = %+v, want 3 with a new entry for n3", ms)
		}
		if n := l.count(2, "k"); n != 10 {
			t.Errorf("%d keys through the healed member, want 10", n)
		}
	})
}

// etcd auth with client certificates: the certificate's CN (root) is the
// user; no password anywhere. A wiped member heals.
func TestAuthClientCertificateHeals(t *testing.T) {
	forEachVersion(t, netAuthCN, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.withTLSAs("root")
		l.startAll()
		l.put(10, "k")
		enableAuth(t, l, "unused-by-the-services")
		oldID := l.memberID(0, l.members(1, 2))
		l.wipe(0)
		l.start(0).waitReady(t)
		ms := l.members(1, 2)
		if id := l.memberID(0, ms); id == oldID || len(ms) != 3 {
			t.Errorf("members = %+v; want 3, n1 under a new ID (old %x)", ms, oldID)
		}
		if n := l.count(0, "k"); n != 10 {
			t.Errorf("%d keys through the healed member, want 10", n)
		}
	})
}
