package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Loopback /24s: each test takes base, base+1 and base+2 (one per etcd
// version, see forEachVersion), all below 60; the benchmark takes 60-62.
// 80-254 are left for further tests.
const (
	netWipeOne    = 20
	netRestart    = 23
	netColdStart  = 26
	netTwoWiped   = 29
	netPortTaken  = 32
	netFiveTwo    = 35
	netCrash      = 38
	netTLS        = 41
	netNotify     = 44
	netFirstStart = 47
	netLearner    = 50
	netAbort      = 53
	netStall      = 56
)

// A member's WAL is lost while the others run: the data dir holds a backend
// but no WAL, so it is not usable. It is moved aside, the stale entry is
// replaced, and the member ends as a voter with every key.
func TestWipedMemberRejoins(t *testing.T) {
	forEachVersion(t, netWipeOne, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(50, "before")
		before := l.members(0, 1)
		oldID := l.memberID(2, before)

		l.hosts[2].stop(20 * time.Second)
		wal := filepath.Join(l.nodes[2].DataDir, "member", "wal")
		if err := os.RemoveAll(wal); err != nil {
			t.Fatal(err)
		}
		l.put(20, "while-down", 0, 1)

		p, code := l.plan(2)
		if p["action"] != "rejoin" || code != 0 || p["move_data_aside"] != true {
			t.Fatalf("plan = %v (exit %d), want rejoin moving data aside", p, code)
		}

		start := time.Now()
		h := l.start(2)
		h.waitReady(t)
		t.Logf("etcd %s: wiped member ready as a voter after %s", v.Name, time.Since(start).Round(time.Millisecond))

		after := l.members(0, 1)
		newID := l.memberID(2, after)
		if newID == oldID {
			t.Errorf("member ID unchanged (%x): the stale entry was not replaced", oldID)
		}
		if len(after) != 3 {
			t.Errorf("members = %+v, want 3", after)
		}
		for _, m := range after {
			if m.ID == oldID {
				t.Errorf("old entry %x still listed", oldID)
			}
			if m.Learner {
				t.Errorf("member %x is still a learner", m.ID)
			}
		}
		if n := l.count(2, "before"); n != 50 {
			t.Errorf("through the rejoined member: %d keys written before, want 50", n)
		}
		if n := l.count(2, "while-down"); n != 20 {
			t.Errorf("through the rejoined member: %d keys written while it was down, want 20", n)
		}
		moved := movedAside(t, l.nodes[2].DataDir)
		if len(moved) != 1 {
			t.Fatalf("moved-aside dirs = %v, want 1", moved)
		}
		if _, err := os.Stat(filepath.Join(moved[0], "member", "snap", "db")); err != nil {
			t.Errorf("moved-aside copy lost its backend: %v", err)
		}
		for _, want := range []string{"action=rejoin", "removed stale member", "added as learner", "promoted"} {
			if !strings.Contains(h.out.String(), want) {
				t.Errorf("log does not say %q", want)
			}
		}
	})
}

func movedAside(t *testing.T, dataDir string) []string {
	t.Helper()
	matches, err := filepath.Glob(dataDir + ".moved-*")
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

// A restart with intact data keeps the member ID and changes nothing in the
// membership (property 5).
func TestRestartKeepsMembership(t *testing.T) {
	forEachVersion(t, netRestart, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		before := l.members()
		if code := l.hosts[1].stop(20 * time.Second); code != 0 {
			t.Errorf("clean stop exit code = %d, want 0", code)
		}
		p, code := l.plan(1)
		if p["action"] != "restart" || code != 0 {
			t.Fatalf("plan = %v (exit %d), want restart", p, code)
		}
		h := l.start(1)
		h.waitReady(t)
		if after := l.members(); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed on restart:\nbefore %+v\nafter  %+v", before, after)
		}
		if !strings.Contains(h.out.String(), "action=restart") {
			t.Errorf("log does not show the restart decision")
		}
		if got := movedAside(t, l.nodes[1].DataDir); len(got) != 0 {
			t.Errorf("data moved aside on a plain restart: %v", got)
		}
	})
}

// The whole cluster stopped and started together: no membership change,
// every key present (property 9).
func TestColdStartOfWholeCluster(t *testing.T) {
	forEachVersion(t, netColdStart, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(30, "k")
		before := l.members()
		for _, h := range l.hosts {
			h.stop(20 * time.Second)
		}
		l.startAll()
		if after := l.members(); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed on a cold start:\nbefore %+v\nafter  %+v", before, after)
		}
		for i := range l.nodes {
			if n := l.count(i, "k"); n != 30 {
				t.Errorf("%s: %d keys, want 30", l.nodes[i].Name, n)
			}
			if got := movedAside(t, l.nodes[i].DataDir); len(got) != 0 {
				t.Errorf("data moved aside on a cold start: %v", got)
			}
		}
	})
}

// Two of three members wiped while the third runs: no quorum. Nothing
// destructive happens anywhere, the survivor's data is untouched, plan says
// wait with a reason, and the wiped hosts keep waiting.
func TestTwoOfThreeWipedWaits(t *testing.T) {
	forEachVersion(t, netTwoWiped, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(10, "k")
		before := l.members(0)
		for _, i := range []int{1, 2} {
			l.wipe(i)
		}
		survivorWAL := snapshotDir(t, filepath.Join(l.nodes[0].DataDir, "member", "wal"))

		for _, i := range []int{1, 2} {
			p, code := l.plan(i)
			if p["action"] != "wait" || code != 3 {
				t.Fatalf("plan for %s = %v (exit %d), want wait with exit 3", l.nodes[i].Name, p, code)
			}
			if r, _ := p["reason"].(string); !strings.Contains(r, "no quorum") {
				t.Errorf("wait reason %q does not name the missing quorum", r)
			}
		}
		h1, h2 := l.start(1), l.start(2)
		h1.waitLog(t, "waiting: no local data", 30*time.Second)
		h2.waitLog(t, "waiting: no local data", 30*time.Second)
		time.Sleep(5 * time.Second) // let them look again a few times
		for _, h := range []*host{h1, h2} {
			if h.exited() {
				t.Errorf("%s exited (code %d) instead of waiting", h.name, h.code)
			}
			if strings.Contains(h.out.String(), "etcd started") {
				t.Errorf("%s started etcd without quorum", h.name)
			}
		}
		if after := l.members(0); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed:\nbefore %+v\nafter  %+v", before, after)
		}
		if got := snapshotDir(t, filepath.Join(l.nodes[0].DataDir, "member", "wal")); !reflect.DeepEqual(got, survivorWAL) {
			t.Errorf("survivor's WAL changed")
		}
		if got := movedAside(t, l.nodes[0].DataDir); len(got) != 0 {
			t.Errorf("survivor's data moved aside: %v", got)
		}
		for _, i := range []int{1, 2} {
			if _, err := os.Stat(l.nodes[i].DataDir); !os.IsNotExist(err) {
				t.Errorf("%s: a data dir was created while waiting (%v)", l.nodes[i].Name, err)
			}
		}
	})
}

// snapshotDir returns name -> size of the files in dir.
func snapshotDir(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, name := range dirEntries(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = fi.Size()
	}
	return out
}

// A member whose client port is taken exits 1 without touching its data or
// the membership (property 4), and starts normally once the port is free.
func TestPortInUseTouchesNothing(t *testing.T) {
	forEachVersion(t, netPortTaken, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		before := l.members(0, 1)
		l.hosts[2].stop(20 * time.Second)
		wal := snapshotDir(t, filepath.Join(l.nodes[2].DataDir, "member", "wal"))

		ln, err := net.Listen("tcp", strings.TrimPrefix(l.nodes[2].ClientURL, "http://"))
		if err != nil {
			t.Fatalf("occupy the client port: %v", err)
		}
		h := l.start(2)
		if code := h.waitExit(t); code != 1 {
			t.Errorf("exit code = %d, want 1", code)
		}
		if !strings.Contains(h.out.String(), "cannot listen on "+l.nodes[2].IP) {
			t.Errorf("error does not name the busy address:\n%s", h.tail(10))
		}
		if after := l.members(0, 1); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed:\nbefore %+v\nafter  %+v", before, after)
		}
		if got := snapshotDir(t, filepath.Join(l.nodes[2].DataDir, "member", "wal")); !reflect.DeepEqual(got, wal) {
			t.Errorf("WAL changed")
		}
		if got := movedAside(t, l.nodes[2].DataDir); len(got) != 0 {
			t.Errorf("data moved aside: %v", got)
		}

		ln.Close()
		h = l.start(2)
		h.waitReady(t)
		if !strings.Contains(h.out.String(), "action=restart") {
			t.Errorf("did not restart on its data once the port was free")
		}
		if after := l.members(); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed after the restart:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

// Two members of five wiped at the same time: both end as voters (property
// 7: etcd allows one learner at a time, the other waits its turn).
func TestTwoOfFiveRejoinTogether(t *testing.T) {
	forEachVersion(t, netFiveTwo, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 5)
		l.startAll()
		l.put(20, "k")
		for _, i := range []int{3, 4} {
			l.wipe(i)
		}
		start := time.Now()
		a, b := l.start(3), l.start(4)
		a.waitReady(t)
		b.waitReady(t)
		t.Logf("etcd %s: two wiped members of five ready after %s", v.Name, time.Since(start).Round(time.Millisecond))
		startedVoters(t, l.members(0, 1, 2), 5)
		for _, i := range []int{3, 4} {
			if n := l.count(i, "k"); n != 20 {
				t.Errorf("%s: %d keys, want 20", l.nodes[i].Name, n)
			}
		}
	})
}

// A crash right after the membership change (etcd never ran: the binary is
// /bin/false) converges on the next start by reusing the added entry
// (property 6). No peer client URLs are configured here: they are found
// through the peers' /members.
func TestCrashAfterAddConverges(t *testing.T) {
	forEachVersion(t, netCrash, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.discover = true
		l.startAll()
		l.wipe(2)
		h := l.start(2, "ETCD_REJOIN_ETCD_BINARY=/bin/false")
		if code := h.waitExit(t); code != 1 {
			t.Fatalf("exit code with a failing etcd = %d, want 1", code)
		}
		mid := l.members(0, 1)
		var added member
		for _, m := range mid {
			if m.Peer == l.nodes[2].PeerURL {
				added = m
			}
		}
		if added.ID == 0 || added.Started || !added.Learner {
			t.Fatalf("after the crash: %+v, want an unstarted learner for %s", mid, l.nodes[2].PeerURL)
		}
		p, _ := l.plan(2)
		if p["action"] != "join" {
			t.Errorf("plan after the crash = %v, want join", p["action"])
		}
		h = l.start(2)
		h.waitReady(t)
		if id := l.memberID(2, l.members()); id != added.ID {
			t.Errorf("member ID %x, want the entry added before the crash %x", id, added.ID)
		}
		if !strings.Contains(h.out.String(), "action=join") {
			t.Errorf("second start did not join")
		}
	})
}

// A TLS cluster (client and peer certificate authentication) rejoins a wiped
// member exactly like a plain one.
func TestTLSClusterRejoins(t *testing.T) {
	forEachVersion(t, netTLS, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.withTLS()
		l.startAll()
		l.put(10, "k")
		oldID := l.memberID(0, l.members(1, 2))
		l.wipe(0)
		// A bad certificate is not about membership: exit 1, touch nothing.
		bad := filepath.Join(t.TempDir(), "bad.crt")
		if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := l.members(1, 2)
		h := l.start(0, "ETCD_CERT_FILE="+bad)
		if code := h.waitExit(t); code != 1 {
			t.Errorf("exit code with a bad certificate = %d, want 1", code)
		}
		if !strings.Contains(h.out.String(), "etcd cert-file "+bad) {
			t.Errorf("error does not name the bad certificate:\n%s", h.tail(5))
		}
		if after := l.members(1, 2); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed after a certificate error:\nbefore %+v\nafter  %+v", before, after)
		}

		h = l.start(0)
		h.waitReady(t)
		ms := l.members(1, 2)
		if id := l.memberID(0, ms); id == oldID {
			t.Errorf("member ID unchanged")
		}
		for _, m := range ms {
			if m.Learner || m.ID == oldID {
				t.Errorf("unexpected entry %+v", m)
			}
		}
		if n := l.count(0, "k"); n != 10 {
			t.Errorf("%d keys through the rejoined TLS member, want 10", n)
		}
	})
}

// The very first start of a cluster bootstraps it, and the state file then
// remembers the member so that a later wipe while everyone is down waits
// instead of bootstrapping a second cluster.
func TestFirstStartThenWipeWhileAllDown(t *testing.T) {
	forEachVersion(t, netFirstStart, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		for i := range l.nodes {
			p, code := l.plan(i)
			if p["action"] != "bootstrap" || code != 0 {
				t.Fatalf("first plan for %s = %v (exit %d), want bootstrap", l.nodes[i].Name, p, code)
			}
		}
		l.startAll()
		for _, h := range l.hosts {
			h.stop(20 * time.Second)
		}
		if err := os.RemoveAll(l.nodes[0].DataDir); err != nil {
			t.Fatal(err)
		}
		p, code := l.plan(0)
		if p["action"] != "wait" || code != 3 {
			t.Fatalf("plan = %v (exit %d), want wait", p, code)
		}
		if r, _ := p["reason"].(string); !strings.Contains(r, "refusing to bootstrap a second cluster") {
			t.Errorf("reason = %q", r)
		}
		// The others come back; the wiped one now sees a healthy cluster and rejoins.
		l.start(1)
		l.start(2)
		l.hosts[1].waitReady(t)
		l.hosts[2].waitReady(t)
		h := l.start(0)
		h.waitReady(t)
		if !strings.Contains(h.out.String(), "action=rejoin") {
			t.Errorf("did not rejoin once the cluster was back")
		}
	})
}

// A crash before the promotion leaves a started learner with data. After a
// cold start of the whole cluster (nobody answered when it decided), it
// restarts on its data with no membership change and is promoted (properties
// 6 and 9).
func TestStartedLearnerPromotedAfterColdStart(t *testing.T) {
	forEachVersion(t, netLearner, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(10, "k")
		old := l.memberID(2, l.members())
		l.wipe(2)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cli := l.cli(0, 1)
		if _, err := cli.MemberRemove(ctx, old); err != nil {
			t.Fatalf("remove: %v", err)
		}
		// etcd refuses membership changes for a few seconds after one.
		var added *clientv3.MemberAddResponse
		for err := error(nil); added == nil; {
			if added, err = cli.MemberAddAsLearner(ctx, []string{l.nodes[2].PeerURL}); err != nil {
				if ctx.Err() != nil {
					t.Fatalf("add learner: %v", err)
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
		// etcd itself runs the learner once, as a crashed etcd-rejoin would
		// have left it: started, with data, not promoted.
		raw := exec.Command(v.Binary)
		for _, kv := range l.env(2) {
			if strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "ETCD_REJOIN_") && !strings.HasPrefix(kv, "ETCD_OTHER_PEERS") {
				raw.Env = append(raw.Env, kv)
			}
		}
		raw.Env = append(raw.Env, "ETCD_INITIAL_CLUSTER_STATE=existing")
		if err := raw.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for !learnerStarted(l, added.Member.ID) {
			if time.Now().After(deadline) {
				raw.Process.Kill()
				t.Fatal("the learner never started")
			}
			time.Sleep(200 * time.Millisecond)
		}
		_ = raw.Process.Signal(syscall.SIGTERM)
		_ = raw.Wait()

		for _, h := range l.hosts[:2] {
			h.stop(20 * time.Second)
		}
		// The learner decides first, while nobody answers.
		h := l.start(2)
		h.waitLog(t, "msg=decision action=restart", 30*time.Second)
		if !strings.Contains(h.out.String(), "reachable=false") {
			t.Errorf("the learner saw the cluster before the others started")
		}
		l.start(0)
		l.start(1)
		for _, h := range l.hosts {
			h.waitReady(t)
		}
		ms := l.members()
		if id := l.memberID(2, ms); id != added.Member.ID {
			t.Errorf("member ID %x, want the learner's %x", id, added.Member.ID)
		}
		for _, m := range ms {
			if m.Learner {
				t.Errorf("still a learner: %+v", m)
			}
		}
		if !strings.Contains(l.hosts[2].out.String(), "action=restart") || !strings.Contains(l.hosts[2].out.String(), "promoted") {
			t.Errorf("the learner did not restart on its data and get promoted:\n%s", l.hosts[2].tail(20))
		}
		if n := l.count(2, "k"); n != 10 {
			t.Errorf("%d keys through the promoted member, want 10", n)
		}
	})
}

func learnerStarted(l *lab, id uint64) bool {
	for _, m := range l.members(0, 1) {
		if m.ID == id && m.Started {
			return true
		}
	}
	return false
}

// A joining etcd that never answers (here: a wrapper that sleeps on its
// first run) is stopped after join-timeout and the cluster looked at again;
// the second try reuses the entry the first one added.
func TestStalledJoinLooksAgain(t *testing.T) {
	forEachVersion(t, netStall, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.wipe(2)
		dir := t.TempDir()
		wrapper := filepath.Join(dir, "etcd")
		script := versionPassThrough(v) + "if [ ! -e " + dir + "/tried ]; then touch " + dir + "/tried; exec sleep 600; fi\nexec " + v.Binary + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		h := l.start(2, "ETCD_REJOIN_ETCD_BINARY="+wrapper, "ETCD_REJOIN_JOIN_TIMEOUT=3s")
		h.waitReady(t)
		out := h.out.String()
		if !strings.Contains(out, "did not answer within 3s; stopped it, looking again") {
			t.Errorf("no word of the stalled join:\n%s", h.tail(20))
		}
		if !strings.Contains(out, "action=rejoin") || !strings.Contains(out, "action=join") {
			t.Errorf("want a rejoin, then a join reusing its entry:\n%s", h.tail(30))
		}
		startedVoters(t, l.members(), 3)
	})
}
