package lab_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stateDir is the unit's StateDirectory and WorkingDirectory: the
// configuration's relative paths (data-dir, and so the state file and the
// snapshot dir) are below it, and the commands an operator runs must run
// there too.
const stateDir = "/var/lib/etcd-rejoin"

// TestLifecycleUnderSystemd (issue 9): two hosts lose their disks and the
// lab has no quorum; `recover --from-local-data` on the third heals it, the
// other two rejoin with no command. Then snapshots under the unit's
// sandbox: `etcd-rejoin snapshot` run by root leaves them to the service's
// user; the service writes them every snapshot-interval into its state
// directory, keeps snapshot-keep and hands each to snapshot-command; a
// snapshot-dir elsewhere is writable only with a ReadWritePaths= drop-in.
func TestLifecycleUnderSystemd(t *testing.T) {
	t.Parallel()
	l := newLab(t, "elab-d")
	ids := l.assertFormed()
	value := fmt.Sprintf("v-%d", time.Now().UnixNano())
	l.put("etcd1", "/lab/d", value)

	t.Run("recover after two disks are lost", func(t *testing.T) { recoverLab(t, l.with(t), ids, value) })
	t.Run("snapshot by root", func(t *testing.T) { snapshotAsRoot(t, l.with(t), "etcd1") })
	t.Run("service snapshots in the sandbox", func(t *testing.T) { serviceSnapshots(t, l.with(t), "etcd2") })
	t.Run("snapshot dir outside the sandbox", func(t *testing.T) { outsideSandbox(t, l.with(t), "etcd3") })
}

// inState runs a shell command on the host in the state directory, as an
// operator who followed the README would.
func (l *lab) inState(host, command string) result {
	l.t.Helper()
	return l.ctl(5*time.Minute, "exec", host, "sh", "-c", "cd "+stateDir+" && "+command)
}

func (l *lab) mustInState(host, command string) string {
	l.t.Helper()
	r := l.inState(host, command)
	if r.Code != 0 {
		l.t.Fatalf("%s: %s: exit %d:\n%s", host, command, r.Code, r.Out)
	}
	return r.Out
}

// clusterID is the cluster ID the host's member answers with.
func (l *lab) clusterID(host string) uint64 {
	l.t.Helper()
	out := l.mustCtl(time.Minute, "etcdctl", host, "endpoint", "status", "-w", "json")
	var st []struct {
		Status struct {
			Header struct {
				ClusterID uint64 `json:"cluster_id"`
			} `json:"header"`
		} `json:"Status"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		l.t.Fatalf("endpoint status of %s: %v\n%s", host, err, out)
	}
	return st[0].Status.Header.ClusterID
}

func recoverLab(t *testing.T, l *lab, ids map[string]uint64, value string) {
	old := l.clusterID("etcd3")
	for _, h := range []string{"etcd1", "etcd2"} {
		l.exec(h, "systemctl", "stop", unit)
	}
	for _, h := range []string{"etcd1", "etcd2"} {
		l.exec(h, "rm", "-rf", stateDir+"/"+h+".etcd")
		l.exec(h, "systemctl", "start", "--no-block", unit)
	}
	plan := l.inState("etcd3", "etcd-rejoin plan")
	for _, want := range []string{"lost quorum", "etcd-rejoin recover --from-local-data", "local data: last applied index"} {
		if !strings.Contains(plan.Out, want) {
			t.Errorf("plan on the survivor lacks %q:\n%s", want, plan.Out)
		}
	}
	if r := l.inState("etcd3", "etcd-rejoin recover --from-local-data"); r.Code != 1 ||
		!strings.Contains(r.Out, "stop the service first: systemctl stop etcd-rejoin") {
		t.Errorf("recover while the service runs: exit %d:\n%s", r.Code, r.Out)
	}

	start := time.Now()
	l.exec("etcd3", "systemctl", "stop", unit)
	out := l.mustInState("etcd3", "etcd-rejoin recover --from-local-data")
	record(t, "recover --from-local-data (command)", time.Since(start))
	if !strings.Contains(out, "recovered: this host is member") {
		t.Errorf("recover said:\n%s", out)
	}
	for _, p := range []string{stateDir + "/etcd3.etcd", stateDir + "/etcd3.etcd/member/snap/db", stateDir + "/etcd3.etcd.rejoin-state.json"} {
		if owner := l.exec("etcd3", "stat", "-c", "%U", p); owner != "etcd-rejoin" {
			t.Errorf("%s belongs to %s after a recover run by root, want etcd-rejoin", p, owner)
		}
	}
	l.exec("etcd3", "systemctl", "start", "--no-block", unit)
	for _, h := range hosts {
		l.waitActive(h, 5*time.Minute, "")
	}
	record(t, "recover: stop, recover, all three READY", time.Since(start))
	now := l.assertFormed()
	for _, h := range hosts {
		if now[h] == ids[h] {
			t.Errorf("%s kept member ID %x through the recovery", h, ids[h])
		}
		if id := l.clusterID(h); id == old {
			t.Errorf("%s still answers as the old cluster %x", h, old)
		}
		if got := l.get(h, "/lab/d"); got != value {
			t.Errorf("%s: /lab/d = %q after the recovery, want %q", h, got, value)
		}
	}
	for _, h := range []string{"etcd1", "etcd2"} {
		if j := l.journal(h, ""); !strings.Contains(j, "msg=decision action=rejoin") {
			t.Errorf("%s rejoined without a rejoin decision in its journal:\n%s", h, j)
		}
	}
}

// snapshotAsRoot: a snapshot taken by root in the service's snapshot dir
// belongs to the service's user, like the dir it made.
func snapshotAsRoot(t *testing.T, l *lab, h string) {
	before := l.ownSnapshots(h, stateDir+"/snapshots")
	out := l.mustInState(h, "etcd-rejoin snapshot")
	var made []string
	for _, f := range l.ownSnapshots(h, stateDir+"/snapshots") {
		if !slices.Contains(before, f) {
			made = append(made, f)
		}
	}
	if len(made) != 1 || !strings.Contains(out, made[0]) {
		t.Fatalf("new snapshots %v after `etcd-rejoin snapshot` (the service may have taken its own too):\n%s", made, out)
	}
	for _, p := range []string{stateDir + "/snapshots", made[0]} {
		if owner := l.exec(h, "stat", "-c", "%U %a", p); !strings.HasPrefix(owner, "etcd-rejoin ") {
			t.Errorf("%s: %s, want it to belong to etcd-rejoin", p, owner)
		}
	}
}

// ownSnapshots lists etcd-<time>.snapshot in dir on the host, oldest first.
func (l *lab) ownSnapshots(host, dir string) []string {
	l.t.Helper()
	r := l.ctl(time.Minute, "exec", host, "sh", "-c", "ls -1 "+dir+"/etcd-*.snapshot 2>/dev/null || true")
	return strings.Fields(r.Out)
}

// configure puts top-level keys in front of the host's configuration file
// (after them comes its [etcd] table) and restarts the service.
func (l *lab) configure(host string, keys ...string) {
	l.t.Helper()
	script := "set -e; f=/etc/etcd-rejoin.toml; t=$(mktemp); { printf '%s\\n' \"$@\"; cat $f; } >$t; " +
		"install -m 0640 -o root -g etcd-rejoin $t $f; rm -f $t; etcd-rejoin --config $f check >/dev/null; systemctl restart " + unit
	l.exec(host, append([]string{"sh", "-c", script, "configure"}, keys...)...)
	l.waitActive(host, 3*time.Minute, "")
}

// serviceSnapshots: the service under its unit writes a snapshot every
// snapshot-interval into /var/lib/etcd-rejoin/snapshots, keeps
// snapshot-keep of them, and runs snapshot-command on each.
func serviceSnapshots(t *testing.T, l *lab, h string) {
	hook := stateDir + "/hook.log"
	l.configure(h, `snapshot-interval = "2s"`, `snapshot-keep = 2`,
		`snapshot-command = 'echo "$1" >> `+hook+`'`)
	var lines []string
	l.waitFor(h+": snapshot-command ran three times (is the snapshot loop started?)", 2*time.Minute, func() bool {
		r := l.ctl(time.Minute, "exec", h, "sh", "-c", "cat "+hook+" 2>/dev/null || true")
		lines = strings.Fields(r.Out)
		return len(lines) >= 3
	})
	files := l.ownSnapshots(h, stateDir+"/snapshots")
	if len(files) < 2 || len(files) > 3 {
		t.Errorf("%s: snapshots %v, want snapshot-keep (2), or 3 between a snapshot and its pruning", h, files)
	}
	owned := 0
	for _, f := range files {
		if f == lines[0] {
			t.Errorf("%s: the first snapshot %s was not pruned", h, f)
		}
		// A snapshot every 2 s, two kept: one listed may be pruned by now.
		r := l.ctl(time.Minute, "exec", h, "stat", "-c", "%U", f)
		if r.Code != 0 {
			continue
		}
		owned++
		if owner := strings.TrimSpace(r.Out); owner != "etcd-rejoin" {
			t.Errorf("%s: %s belongs to %s", h, f, owner)
		}
	}
	if owned == 0 {
		t.Errorf("%s: none of the snapshots %v was still there to check its owner", h, files)
	}
	if n, err := strconv.Atoi(l.exec(h, "sh", "-c", "ls "+stateDir+"/snapshots | grep -c '^etcd-.*\\.snapshot$' || true")); err != nil || n > 3 {
		t.Errorf("%s: %d snapshots in the dir (%v)", h, n, err)
	}
}

// outsideSandbox: a snapshot-dir outside /var/lib/etcd-rejoin stays empty
// (ProtectSystem=strict) until a drop-in adds it to ReadWritePaths=; the
// member keeps running either way.
func outsideSandbox(t *testing.T, l *lab, h string) {
	const dir = "/srv/etcd-snapshots"
	l.exec(h, "install", "-d", "-m", "0700", "-o", "etcd-rejoin", "-g", "etcd-rejoin", dir)
	since := l.now(h)
	l.configure(h, `snapshot-interval = "2s"`, `snapshot-dir = "`+dir+`"`)
	l.waitFor(h+": a failed snapshot in the journal (is the snapshot loop started?)", 2*time.Minute, func() bool {
		return strings.Contains(l.journal(h, since), "snapshot failed")
	})
	if files := l.ownSnapshots(h, dir); len(files) != 0 {
		t.Errorf("%s: the sandbox let the service write %v outside its state directory", h, files)
	}
	l.waitActive(h, time.Minute, "")

	l.exec(h, "sh", "-c", "mkdir -p /etc/systemd/system/etcd-rejoin.service.d && "+
		"printf '[Service]\\nReadWritePaths="+dir+"\\n' >/etc/systemd/system/etcd-rejoin.service.d/50-snapshots.conf && "+
		"systemctl daemon-reload && systemctl restart "+unit)
	l.waitActive(h, 3*time.Minute, "")
	l.waitFor(h+": a snapshot in "+dir+" with ReadWritePaths=", 2*time.Minute, func() bool {
		return len(l.ownSnapshots(h, dir)) > 0
	})
}
