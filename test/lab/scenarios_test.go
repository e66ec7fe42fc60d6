package lab_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The scenarios run in three labs at once; within a lab, one after another
// on the same cluster, as an operator would see them.

// TestFirstBootKillWipeReplace: first boot forms one cluster; kill -9 of
// etcd; a data dir deleted while stopped; a host replaced.
func TestFirstBootKillWipeReplace(t *testing.T) {
	t.Parallel()
	l := newLab(t, "elab-a")
	ids := l.assertFormed()
	// Each host bootstraps, or joins when the others formed the cluster
	// before it looked; a quorum (two) must have bootstrapped.
	bootstraps := 0
	for _, h := range hosts {
		j := l.journal(h, "")
		switch {
		case strings.Contains(j, "msg=decision action=bootstrap"):
			bootstraps++
		case strings.Contains(j, "msg=decision action=join"):
		default:
			t.Errorf("%s: first boot journal lacks a bootstrap or join decision:\n%s", h, j)
		}
	}
	if bootstraps < 2 {
		t.Errorf("%d hosts bootstrapped, want at least 2 (a quorum of the initial cluster)", bootstraps)
	}
	value := fmt.Sprintf("v-%d", time.Now().UnixNano())
	l.put("etcd1", "/lab/a", value)

	t.Run("kill -9 etcd", func(t *testing.T) { killEtcd(t, l.with(t), "etcd2", ids) })
	t.Run("data dir deleted", func(t *testing.T) { ids = wipeDataDir(t, l.with(t), "etcd3", ids, value) })
	t.Run("host replaced", func(t *testing.T) { replaceHost(t, l.with(t), "etcd2", ids, value) })
}

// killEtcd: systemd restarts the unit after etcd dies by SIGKILL, and the
// member keeps its ID.
func killEtcd(t *testing.T, l *lab, h string, ids map[string]uint64) {
	main, etcd := l.show(h, "MainPID"), l.etcdPID(h)
	before := l.nRestarts(h)
	since := l.now(h)
	start := time.Now()
	l.exec(h, "sh", "-c", "kill -9 "+etcd)
	l.waitActive(h, 3*time.Minute, main)
	record(t, "kill -9 etcd: unit restarted and READY", time.Since(start))
	if n := l.nRestarts(h); n != before+1 {
		t.Errorf("%s: NRestarts %d, want %d (systemd restarted it)", h, n, before+1)
	}
	if got := l.memberID(h); got != ids[h] {
		t.Errorf("%s: member ID %x after restart, want %x", h, got, ids[h])
	}
	sameIDs(t, "after kill -9", l.idsByName("etcd1"), ids)
	if j := l.journal(h, since); !strings.Contains(j, "msg=decision action=restart") {
		t.Errorf("%s: journal lacks the restart decision:\n%s", h, j)
	}
}

// wipeDataDir: the data dir deleted while the unit is stopped; on start the
// host rejoins as a voter under a new ID, and the keys survive.
func wipeDataDir(t *testing.T, l *lab, h string, ids map[string]uint64, value string) map[string]uint64 {
	l.exec(h, "systemctl", "stop", unit)
	l.exec(h, "rm", "-rf", "/var/lib/etcd-rejoin/"+h+".etcd")
	since := l.now(h)
	start := time.Now()
	l.exec(h, "systemctl", "start", "--no-block", unit)
	l.waitActive(h, 3*time.Minute, "")
	record(t, "data dir deleted: rejoined and READY", time.Since(start))
	j := l.journal(h, since)
	for _, re := range []string{
		`msg=decision action=rejoin reason="[^"]+"`,
		`rejoining: added as learner [0-9a-f]+; starting etcd`,
		`running: member [0-9a-f]+ of cluster [0-9a-f]+, voting and caught up`,
	} {
		if !regexp.MustCompile(re).MatchString(j) {
			t.Errorf("%s: journal lacks %q:\n%s", h, re, j)
		}
	}
	now := l.idsByName("etcd1")
	if now[h] == ids[h] {
		t.Errorf("%s: member ID still %x after rejoin; want a new member", h, ids[h])
	}
	for _, o := range hosts {
		if o != h && now[o] != ids[o] {
			t.Errorf("%s: member ID changed %x -> %x", o, ids[o], now[o])
		}
	}
	if got := l.memberID(h); got != now[h] {
		t.Errorf("%s reports member ID %x, the list says %x", h, got, now[h])
	}
	if got := l.get(h, "/lab/a"); got != value {
		t.Errorf("%s: /lab/a = %q after rejoin, want %q", h, got, value)
	}
	return now
}

// replaceHost: the container destroyed and recreated empty with the same
// name and address: it rejoins.
func replaceHost(t *testing.T, l *lab, h string, ids map[string]uint64, value string) {
	l.mustCtl(2*time.Minute, "destroy", h)
	start := time.Now()
	l.mustCtl(5*time.Minute, "create", h)
	l.waitActive(h, 3*time.Minute, "")
	record(t, "host replaced: created, rejoined and READY", time.Since(start))
	j := l.journal(h, "")
	if !strings.Contains(j, "msg=decision action=rejoin") {
		t.Errorf("%s: journal of the new host lacks the rejoin decision:\n%s", h, j)
	}
	now := l.idsByName("etcd1")
	if now[h] == ids[h] {
		t.Errorf("%s: member ID still %x after replacement", h, ids[h])
	}
	if got := l.get(h, "/lab/a"); got != value {
		t.Errorf("%s: /lab/a = %q on the new host, want %q", h, got, value)
	}
	l.assertFormed()
}

// TestWatchdogAndReboot: a frozen etcd makes the watchdog fire and systemd
// restart the unit; then all three hosts reboot together.
func TestWatchdogAndReboot(t *testing.T) {
	t.Parallel()
	l := newLab(t, "elab-b")
	ids := l.assertFormed()
	value := fmt.Sprintf("v-%d", time.Now().UnixNano())
	l.put("etcd1", "/lab/b", value)

	t.Run("etcd frozen", func(t *testing.T) { frozenEtcd(t, l.with(t), "etcd1", ids) })
	t.Run("all rebooted", func(t *testing.T) { rebootAll(t, l.with(t), ids, value) })
}

// watchdogDropIn makes the watchdog fire fast; in /run, it ends with the
// boot.
const watchdogDropIn = "mkdir -p /run/systemd/system/etcd-rejoin.service.d && " +
	"printf '[Service]\\nWatchdogSec=6s\\n' >/run/systemd/system/etcd-rejoin.service.d/50-lab-watchdog.conf && " +
	"systemctl daemon-reload"

func frozenEtcd(t *testing.T, l *lab, h string, ids map[string]uint64) {
	l.exec(h, "sh", "-c", watchdogDropIn)
	l.exec(h, "systemctl", "restart", unit)
	if got := l.show(h, "WatchdogUSec"); got != "6s" {
		t.Fatalf("%s: WatchdogUSec %q, want 6s", h, got)
	}
	l.waitActive(h, 2*time.Minute, "")
	main, etcd := l.show(h, "MainPID"), l.etcdPID(h)
	before := l.nRestarts(h)
	since := l.now(h)
	start := time.Now()
	l.exec(h, "sh", "-c", "kill -STOP "+etcd)
	l.waitFor(h+": watchdog timeout in the journal", 2*time.Minute, func() bool {
		return strings.Contains(l.journal(h, since), "Watchdog timeout")
	})
	l.waitActive(h, 3*time.Minute, main)
	record(t, "etcd frozen: watchdog fired, restarted, READY", time.Since(start))
	if n := l.nRestarts(h); n != before+1 {
		t.Errorf("%s: NRestarts %d, want %d", h, n, before+1)
	}
	if r := l.ctl(time.Minute, "exec", h, "test", "-e", "/proc/"+etcd); r.Code == 0 && etcd != l.etcdPID(h) {
		t.Errorf("%s: the frozen etcd %s is still there", h, etcd)
	}
	if got := l.memberID(h); got != ids[h] {
		t.Errorf("%s: member ID %x after the watchdog restart, want %x", h, got, ids[h])
	}
	sameIDs(t, "after the watchdog restart", l.idsByName("etcd2"), ids)
}

// rebootAll: every host powered off and booted again at once: the same
// members restart on their data.
func rebootAll(t *testing.T, l *lab, ids map[string]uint64, value string) {
	l.mustCtl(3*time.Minute, append([]string{"stop"}, hosts...)...)
	start := time.Now()
	l.mustCtl(5*time.Minute, append([]string{"start"}, hosts...)...)
	for _, h := range hosts {
		l.waitActive(h, 3*time.Minute, "")
	}
	record(t, "all rebooted: boot to READY on all three", time.Since(start))
	sameIDs(t, "after the reboot", l.assertFormed(), ids)
	for _, h := range hosts {
		if j := l.journal(h, ""); !strings.Contains(j, "msg=decision action=restart") {
			t.Errorf("%s: journal of this boot lacks the restart decision:\n%s", h, j)
		}
		if got := l.get(h, "/lab/b"); got != value {
			t.Errorf("%s: /lab/b = %q after the reboot, want %q", h, got, value)
		}
	}
}

// TestLinkDown: one host's link is down for more than a minute; nothing
// removes it, and it catches up once back.
func TestLinkDown(t *testing.T) {
	t.Parallel()
	l := newLab(t, "elab-c")
	ids := l.assertFormed()
	const h = "etcd3"
	l.put("etcd1", "/lab/c/before", "1")
	l.mustCtl(time.Minute, "link", h, "down")
	cut := time.Now()
	value := fmt.Sprintf("v-%d", time.Now().UnixNano())
	l.put("etcd1", "/lab/c/during", value)
	for time.Since(cut) < 70*time.Second {
		sameIDs(t, "while the link is down", l.idsByName("etcd1"), ids)
		time.Sleep(10 * time.Second)
	}
	l.mustCtl(time.Minute, "link", h, "up")
	start := time.Now()
	l.waitFor(h+": caught up with the write made while cut off", 3*time.Minute, func() bool {
		r := l.ctl(time.Minute, "etcdctl", h, "get", "--consistency=s", "--print-value-only", "/lab/c/during")
		return r.Code == 0 && strings.TrimSpace(r.Out) == value
	})
	l.waitActive(h, 3*time.Minute, "")
	record(t, "link down 70s: back, caught up and active", time.Since(start))
	sameIDs(t, "after the link came back", l.assertFormed(), ids)
	t.Logf("%s restarts while cut off: %d", h, l.nRestarts(h))
}
