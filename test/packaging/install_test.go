package packaging_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	stateDir  = "/var/lib/etcd-rejoin"
	distroDir = "/var/lib/etcd/default"
	endpoint  = "--endpoints=http://127.0.0.1:2379"
)

// TestInstallBootRemove installs the .deb into a Debian 12 root booted under
// real systemd, next to Debian's own etcd-server, and follows a host's life:
// install, enable --now, upgrade, reboot, remove, purge.
func TestInstallBootRemove(t *testing.T) {
	needRoot(t)
	b := packages(t)
	template := rootfsTemplate(t)
	start := time.Now()

	c := newContainer(t, template, "etcd-rejoin-pkg")
	copyFile(t, b.deb, filepath.Join(c.dir, "root", "etcd-rejoin.deb"))
	c.boot()

	// Debian's etcd.service runs at first: the collision is real.
	if got := c.exec(time.Minute, "systemctl", "is-active", "etcd.service").Out; strings.TrimSpace(got) != "active" {
		t.Fatalf("precondition: Debian's etcd.service is %q, want active", strings.TrimSpace(got))
	}

	installed(t, c)
	enabledAndRunning(t, c)
	value := fmt.Sprintf("v-%d", time.Now().UnixNano())
	c.mustExec("etcdctl", endpoint, "put", "/packaging/key", value)
	readsBack(t, c, value)
	ownDataOnly(t, c)
	upgradeRestarts(t, c)

	c.poweroff()
	c.boot()
	onlyRejoinAfterReboot(t, c, value)
	watchdogFed(t, c)
	runtimeCrashRestarts(t, c, value)
	badConfigDoesNotFlap(t, c)

	removeKeepsData(t, c)
	c.poweroff()
	t.Logf("install test wall time: %s", time.Since(start).Round(time.Second))
}

// installed: dpkg -i works, creates the user, restricts the config files,
// and (Debian convention for a service that needs configuring first) does
// not enable or start the service.
func installed(t *testing.T, c *container) {
	t.Helper()
	out := c.mustExec("dpkg", "-i", "/root/etcd-rejoin.deb")
	t.Logf("dpkg -i:\n%s", out)
	if got := c.mustExec("getent", "passwd", "etcd-rejoin"); !strings.Contains(got, ":/var/lib/etcd-rejoin:/usr/sbin/nologin") {
		t.Errorf("system user: %q", got)
	}
	wantModes := map[string]string{
		"/etc/etcd-rejoin.toml":    "640 root etcd-rejoin",
		"/etc/default/etcd-rejoin": "600 root root",
		stateDir:                   "700 etcd-rejoin etcd-rejoin",
	}
	for path, want := range wantModes {
		if got := strings.TrimSpace(c.mustExec("stat", "-c", "%a %U %G", path)); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if got := strings.TrimSpace(c.exec(time.Minute, "systemctl", "is-enabled", unitName).Out); got != "disabled" {
		t.Errorf("after install %s is %q, want disabled until configured", unitName, got)
	}
	if got := strings.TrimSpace(c.exec(time.Minute, "systemctl", "is-active", unitName).Out); got != "inactive" {
		t.Errorf("after install %s is %q, want inactive", unitName, got)
	}
}

// enabledAndRunning: enable --now reaches active (running) through READY=1,
// shows the STATUS= line, and stops Debian's etcd.service.
func enabledAndRunning(t *testing.T, c *container) {
	t.Helper()
	r := c.exec(5*time.Minute, "systemctl", "enable", "--now", unitName)
	if r.Code != 0 {
		t.Fatalf("systemctl enable --now: exit %d:\n%s\n%s", r.Code, r.Out, journal(c))
	}
	status := c.exec(time.Minute, "systemctl", "status", "--no-pager", "--lines=0", unitName).Out
	t.Logf("systemctl status:\n%s", status)
	if !strings.Contains(status, "Active: active (running)") {
		t.Fatalf("status lacks active (running):\n%s\n%s", status, journal(c))
	}
	if !regexp.MustCompile(`(?m)^\s+Status: "[^"]+"`).MatchString(status) {
		t.Errorf("status shows no STATUS= line:\n%s", status)
	}
	if got := strings.TrimSpace(c.exec(time.Minute, "systemctl", "is-active", "etcd.service").Out); got != "inactive" {
		t.Errorf("Debian's etcd.service is %q after starting %s, want inactive (Conflicts=)", got, unitName)
	}
}

func readsBack(t *testing.T, c *container, value string) {
	t.Helper()
	got := c.mustExec("etcdctl", endpoint, "get", "--print-value-only", "/packaging/key")
	if strings.TrimSpace(got) != value {
		t.Errorf("etcdctl get /packaging/key = %q, want %q", strings.TrimSpace(got), value)
	}
}

// ownDataOnly: the etcd child keeps its files below /var/lib/etcd-rejoin
// and has nothing open below Debian's /var/lib/etcd/default.
func ownDataOnly(t *testing.T, c *container) {
	t.Helper()
	mainPID := strings.TrimSpace(c.mustExec("systemctl", "show", "-p", "MainPID", "--value", unitName))
	// Any thread of the Go program may have started etcd: read every task's.
	children := strings.Fields(c.mustExec("sh", "-c", "cat /proc/"+mainPID+"/task/*/children"))
	if len(children) != 1 {
		t.Fatalf("etcd-rejoin (pid %s) has children %q, want exactly one etcd", mainPID, children)
	}
	etcd := children[0]
	if comm := strings.TrimSpace(c.mustExec("cat", "/proc/"+etcd+"/comm")); comm != "etcd" {
		t.Errorf("child %s is %q, want etcd", etcd, comm)
	}
	fds := c.mustExec("find", "/proc/"+etcd+"/fd", "-type", "l", "-printf", "%l\n")
	if !strings.Contains(fds, stateDir+"/") {
		t.Errorf("etcd has no file open below %s:\n%s", stateDir, fds)
	}
	if strings.Contains(fds, distroDir) {
		t.Errorf("etcd has files open below %s:\n%s", distroDir, fds)
	}
	if user := strings.TrimSpace(c.mustExec("stat", "-c", "%U", "/proc/"+etcd)); user != "etcd-rejoin" {
		t.Errorf("etcd runs as %q, want etcd-rejoin", user)
	}
}

// upgradeRestarts: reinstalling (an upgrade for dpkg) restarts the running
// service and leaves it enabled.
func upgradeRestarts(t *testing.T, c *container) {
	t.Helper()
	before := strings.TrimSpace(c.mustExec("systemctl", "show", "-p", "MainPID", "--value", unitName))
	c.mustExec("dpkg", "-i", "/root/etcd-rejoin.deb")
	c.waitFor("active", 5*time.Minute, "systemctl", "is-active", unitName)
	after := strings.TrimSpace(c.mustExec("systemctl", "show", "-p", "MainPID", "--value", unitName))
	if before == after {
		t.Errorf("upgrade did not restart the service: main PID still %s", after)
	}
	if got := strings.TrimSpace(c.exec(time.Minute, "systemctl", "is-enabled", unitName).Out); got != "enabled" {
		t.Errorf("after upgrade %s is %q, want enabled", unitName, got)
	}
}

// onlyRejoinAfterReboot: with both units enabled, a boot brings back
// etcd-rejoin, with its data, and not Debian's etcd.service.
func onlyRejoinAfterReboot(t *testing.T, c *container, value string) {
	t.Helper()
	c.waitFor("active", 5*time.Minute, "systemctl", "is-active", unitName)
	if got := strings.TrimSpace(c.exec(time.Minute, "systemctl", "is-enabled", "etcd.service").Out); got != "enabled" {
		t.Logf("note: Debian's etcd.service is %q (the package leaves it alone)", got)
	}
	if got := strings.TrimSpace(c.exec(time.Minute, "systemctl", "is-active", "etcd.service").Out); got != "inactive" {
		t.Errorf("after reboot Debian's etcd.service is %q, want inactive", got)
	}
	readsBack(t, c, value)
	ownDataOnly(t, c)
}

// watchdogFed: WATCHDOG=1 from the main process reaches systemd under the
// hardening (the watchdog timestamp moves on past the one set at READY).
func watchdogFed(t *testing.T, c *container) {
	t.Helper()
	show := func() string {
		return strings.TrimSpace(c.mustExec("systemctl", "show", "-p", "WatchdogTimestampMonotonic", "--value", unitName))
	}
	first := show()
	deadline := time.Now().Add(2 * time.Minute)
	for show() == first {
		if time.Now().After(deadline) {
			t.Fatalf("no WATCHDOG=1 reached systemd (timestamp still %s):\n%s", first, journal(c))
		}
		time.Sleep(time.Second)
	}
	if got := strings.TrimSpace(c.mustExec("systemctl", "is-active", unitName)); got != "active" {
		t.Errorf("%s is %q after a watchdog ping, want active", unitName, got)
	}
}

// badConfigDoesNotFlap: an invalid configuration makes etcd-rejoin exit 78,
// which RestartPreventExitStatus= keeps from restarting in a loop.
func badConfigDoesNotFlap(t *testing.T, c *container) {
	t.Helper()
	c.mustExec("cp", "-p", "/etc/etcd-rejoin.toml", "/root/etcd-rejoin.toml.good")
	c.mustExec("sh", "-c", "echo 'no-such-key = 1' >> /etc/etcd-rejoin.toml")
	if r := c.exec(2*time.Minute, "systemctl", "restart", unitName); r.Code == 0 {
		t.Errorf("systemctl restart with a broken config succeeded")
	}
	c.waitFor("failed", time.Minute, "systemctl", "is-active", unitName)
	got := strings.TrimSpace(c.mustExec("systemctl", "show", "-p", "ExecMainStatus", "-p", "NRestarts", unitName))
	if got != "NRestarts=0\nExecMainStatus=78" && got != "ExecMainStatus=78\nNRestarts=0" {
		t.Errorf("after a broken config: %q, want ExecMainStatus=78 and NRestarts=0", got)
	}
	c.mustExec("cp", "-p", "/root/etcd-rejoin.toml.good", "/etc/etcd-rejoin.toml")
	if r := c.exec(5*time.Minute, "systemctl", "restart", unitName); r.Code != 0 {
		t.Fatalf("restart with the config restored: exit %d:\n%s\n%s", r.Code, r.Out, journal(c))
	}
}

// runtimeCrashRestarts: Go's runtime exits 2 when a goroutine panics or on a
// fatal error; the unit must restart that like any failure. SIGQUIT makes
// the Go runtime take exactly that exit (dump the goroutines, exit 2) in
// the shipped binary, which has no other way to crash on demand.
func runtimeCrashRestarts(t *testing.T, c *container, value string) {
	t.Helper()
	restarts := func() string {
		return strings.TrimSpace(c.mustExec("systemctl", "show", "-p", "NRestarts", "--value", unitName))
	}
	before := restarts()
	c.mustExec("systemctl", "kill", "--kill-whom=main", "--signal=SIGQUIT", unitName)
	// The unit is still active until the runtime has dumped its goroutines
	// and exited: wait for the restart to be counted, then for READY.
	deadline := time.Now().Add(3 * time.Minute)
	for restarts() == before {
		if time.Now().After(deadline) {
			t.Fatalf("NRestarts still %s 3 minutes after the runtime exit:\n%s", before, journal(c))
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.waitFor("active", 3*time.Minute, "systemctl", "is-active", unitName)
	exits := c.exec(time.Minute, "sh", "-c", "journalctl --no-pager -u "+unitName+" | grep -c 'code=exited, status=2/'")
	if n := strings.TrimSpace(exits.Out); n == "" || n == "0" {
		t.Errorf("the journal shows no exit with status 2 (grep: %q):\n%s", exits.Out, journal(c))
	}
	readsBack(t, c, value)
}

// removeKeepsData: remove stops the service, and neither remove nor purge
// deletes the member's data.
func removeKeepsData(t *testing.T, c *container) {
	t.Helper()
	before := c.mustExec("find", stateDir, "-path", "*/member/wal/*.wal")
	if strings.TrimSpace(before) == "" {
		t.Fatalf("no WAL below %s before removal", stateDir)
	}
	c.mustExec("dpkg", "-r", "etcd-rejoin")
	if got := strings.TrimSpace(c.exec(time.Minute, "systemctl", "is-active", unitName).Out); got != "inactive" {
		t.Errorf("after dpkg -r %s is %q, want inactive", unitName, got)
	}
	if after := c.mustExec("find", stateDir, "-path", "*/member/wal/*.wal"); after != before {
		t.Errorf("dpkg -r changed the data: WAL files before %q, after %q", before, after)
	}
	c.mustExec("dpkg", "-P", "etcd-rejoin")
	if after := c.mustExec("find", stateDir, "-path", "*/member/wal/*.wal"); after != before {
		t.Errorf("dpkg -P changed the data: WAL files before %q, after %q", before, after)
	}
	if r := c.exec(time.Minute, "test", "-e", "/etc/etcd-rejoin.toml"); r.Code == 0 {
		t.Errorf("/etc/etcd-rejoin.toml survived the purge")
	}
	if r := c.exec(time.Minute, "dpkg-statoverride", "--list", "/etc/etcd-rejoin.toml"); r.Code == 0 {
		t.Errorf("statoverride for /etc/etcd-rejoin.toml survived the purge: %s", r.Out)
	}
}

func journal(c *container) string {
	return tail(c.exec(time.Minute, "journalctl", "--no-pager", "-u", unitName, "-u", "etcd.service").Out, 60)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("read %s: %v", src, err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatalf("write %s: %v", dst, err)
	}
}
