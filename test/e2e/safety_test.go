package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback /24s of the safety-hardening tests (issue 7): each takes base,
// base+1 and base+2.
const (
	netClone      = 80
	netWALDir     = 83
	netRemnants   = 86
	netNewAddress = 89
	netOldAddress = 92
	netVoterDown  = 95 // etcd 3.4 only
	netLocalTLS   = 98
	netVoters     = 101
)

// Item 3: a host whose disk is a copy of another member's (a cloned image)
// never starts a second etcd as that member: the data is moved aside and the
// host joins as a member of its own. The original keeps running untouched.
func TestClonedDataIsACopy(t *testing.T) {
	forEachVersion(t, netClone, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 4)
		three := testetcd.InitialCluster(l.nodes[:3])
		l.hostEnv = func(i int) []string {
			if i < 3 {
				return []string{"ETCD_INITIAL_CLUSTER=" + three}
			}
			return nil
		}
		for i := 0; i < 3; i++ {
			l.start(i)
		}
		for i := 0; i < 3; i++ {
			l.hosts[i].waitReady(t)
		}
		l.put(20, "k", 0, 1, 2)
		n3 := l.memberID(2, l.members(0, 1, 2))
		copyTree(t, l.nodes[2].DataDir, l.nodes[3].DataDir)

		p, code := l.plan(3)
		if p["action"] != "rejoin" || code != 0 || p["move_data_aside"] != true {
			t.Fatalf("plan for the clone = %v (exit %d), want rejoin moving the data aside", p, code)
		}
		if r, _ := p["reason"].(string); !strings.Contains(r, "a copy of another host's member") {
			t.Errorf("reason %q does not call the data a copy", r)
		}
		l.start(3).waitReady(t)
		ms := l.members(0, 1, 2)
		if len(ms) != 4 || l.memberID(2, ms) != n3 {
			t.Fatalf("members %+v: want 4, n3 still %x", ms, n3)
		}
		if n4 := l.memberID(3, ms); n4 == n3 {
			t.Errorf("the clone runs as n3's member %x", n3)
		}
		if l.hosts[2].exited() {
			t.Errorf("n3 exited (code %d) while its clone came up", l.hosts[2].code)
		}
		if n := l.count(2, "k"); n != 20 {
			t.Errorf("%d keys through n3, want 20", n)
		}
		if got := movedAside(t, l.nodes[3].DataDir); len(got) != 1 {
			t.Errorf("clone's moved copies = %v, want 1", got)
		}
	})
}

// copyTree copies a directory tree (regular files and dirs).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v: %s", from, to, err, out)
	}
}

// Item 4: with etcd's wal-dir, a restart keeps the member; a lost WAL dir or
// a lost data dir moves the other one aside too, and the member rejoins.
func TestWALDir(t *testing.T) {
	forEachVersion(t, netWALDir, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		walDir := func(i int) string { return filepath.Join(l.dir, l.nodes[i].Name+".wal") }
		l.hostEnv = func(i int) []string { return []string{"ETCD_WAL_DIR=" + walDir(i)} }
		l.startAll()
		l.put(30, "k")
		if names, _ := filepath.Glob(filepath.Join(walDir(0), "*.wal")); len(names) == 0 {
			t.Fatalf("no WAL in %s: wal-dir not used", walDir(0))
		}
		before := l.members()

		l.hosts[1].stop(20 * time.Second)
		if p, _ := l.plan(1); p["action"] != "restart" {
			t.Fatalf("plan after a stop with wal-dir = %v, want restart", p)
		}
		l.start(1).waitReady(t)
		if after := l.members(); !sameMembers(before, after) {
			t.Errorf("restart changed the membership:\nbefore %+v\nafter  %+v", before, after)
		}

		l.hosts[2].stop(20 * time.Second)
		if err := os.RemoveAll(walDir(2)); err != nil {
			t.Fatal(err)
		}
		expectRejoin(t, l, 2, "no WAL file")
		if n := l.count(2, "k"); n != 30 {
			t.Errorf("%d keys through n3, want 30", n)
		}
		if got := movedAside(t, l.nodes[2].DataDir); len(got) != 1 {
			t.Errorf("n3's data dir copies = %v, want 1", got)
		}

		l.hosts[0].stop(20 * time.Second)
		if err := os.RemoveAll(l.nodes[0].DataDir); err != nil {
			t.Fatal(err)
		}
		expectRejoin(t, l, 0, "one of the two dirs was lost")
		if got, _ := filepath.Glob(walDir(0) + ".moved-*"); len(got) != 1 {
			t.Errorf("n1's WAL dir copies = %v, want 1", got)
		}
	})
}

// expectRejoin checks that host i plans a rejoin moving its data aside for
// the reason given, then starts it and waits until it is ready.
func expectRejoin(t *testing.T, l *lab, i int, why string) {
	t.Helper()
	p, code := l.plan(i)
	if p["action"] != "rejoin" || code != 0 || p["move_data_aside"] != true {
		t.Fatalf("plan for %s = %v (exit %d), want rejoin moving data aside", l.nodes[i].Name, p, code)
	}
	if r, _ := p["reason"].(string); !strings.Contains(r, why) {
		t.Errorf("reason %q does not say %q", r, why)
	}
	l.start(i).waitReady(t)
}

func sameMembers(a, b []member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Items 1 and 5: etcd refuses a start for a membership reason three times
// (a wrapper gives it an initial cluster of itself alone): the service looks
// again each time instead of exiting, each refusal's leftovers are moved
// aside as remnants, and the one copy that held the member's data survives
// with keep-backups = 1.
func TestRefusedStartsKeepTheRealCopy(t *testing.T) {
	forEachVersion(t, netRemnants, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(20, "k")
		l.hosts[2].stop(20 * time.Second)
		if err := os.RemoveAll(filepath.Join(l.nodes[2].DataDir, "member", "wal")); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		wrapper := filepath.Join(dir, "etcd")
		script := versionPassThrough(v) + "n=$(cat " + dir + "/runs 2>/dev/null || echo 0)\necho $((n + 1)) >" + dir + "/runs\n" +
			"if [ \"$n\" -lt 3 ]; then ETCD_INITIAL_CLUSTER=n3=" + l.nodes[2].PeerURL + " exec " + v.Binary + " \"$@\"; fi\n" +
			"exec " + v.Binary + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		h := l.start(2, "ETCD_REJOIN_ETCD_BINARY="+wrapper, "ETCD_REJOIN_KEEP_BACKUPS=1")
		h.waitReady(t)
		if n := strings.Count(h.out.String(), "etcd refused to start as an existing member"); n != 3 {
			t.Errorf("looked again after %d refusals, want 3:\n%s", n, h.tail(40))
		}
		copies, err := datadir.Copies(filepath.Dir(l.nodes[2].DataDir), filepath.Base(l.nodes[2].DataDir))
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, c := range copies {
			kinds[c.Kind]++
			if c.Kind == datadir.KindMoved {
				db := filepath.Join(filepath.Dir(l.nodes[2].DataDir), c.Name, "member", "snap", "db")
				if fi, err := os.Stat(db); err != nil || fi.Size() == 0 {
					t.Errorf("the real copy %s lost its backend: %v", c.Name, err)
				}
			}
		}
		if kinds[datadir.KindMoved] != 1 || kinds[datadir.KindRemnant] != 1 {
			t.Errorf("copies %+v: want the one real copy and the newest remnant", copies)
		}
		if n := l.count(2, "k"); n != 20 {
			t.Errorf("%d keys through n3, want 20", n)
		}
	})
}

// Item 6: a host that comes back with its data at a new address keeps its
// member ID; its entry's peer URLs are updated before etcd starts, and it
// catches up.
func TestNewAddressKeepsData(t *testing.T) {
	forEachVersion(t, netNewAddress, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(10, "before")
		id := l.memberID(2, l.members())
		l.hosts[2].stop(20 * time.Second)
		l.put(10, "while-down", 0, 1)
		l.nodes[2] = movedNode(l.nodes[2], prefix+".7")

		p, code := l.plan(2)
		if p["action"] != "restart" || code != 0 || p["update_peer_urls"] != true {
			t.Fatalf("plan at the new address = %v (exit %d), want restart updating the peer URLs", p, code)
		}
		h := l.start(2)
		h.waitReady(t)
		ms := l.members(0, 1)
		if got := l.memberID(2, ms); got != id {
			t.Errorf("member at the new address is %x, want the same %x", got, id)
		}
		if len(ms) != 3 {
			t.Errorf("members = %+v, want 3", ms)
		}
		if n := l.count(2, "while-down"); n != 10 {
			t.Errorf("%d keys written while down, through n3, want 10", n)
		}
		if !strings.Contains(h.out.String(), "peer URLs of member") {
			t.Errorf("no word of the peer URL update:\n%s", h.tail(20))
		}
		if got := movedAside(t, l.nodes[2].DataDir); len(got) != 0 {
			t.Errorf("data moved aside: %v", got)
		}
	})
}

// movedNode is n at another loopback address, with the same data dir.
func movedNode(n testetcd.Node, ip string) testetcd.Node {
	m := testetcd.NewNode(n.Name, ip, filepath.Dir(n.DataDir))
	m.ClientURL = strings.Replace(m.ClientURL, "http://", schemeOf(n.ClientURL), 1)
	m.PeerURL = strings.Replace(m.PeerURL, "http://", schemeOf(n.PeerURL), 1)
	return m
}

func schemeOf(u string) string { return u[:strings.Index(u, "://")+3] }

// Item 7: a rejoin interrupted right after its add leaves an unstarted
// learner at the host's old address; the host comes back at a new one. The
// entry the state file recorded is provably this host's: it is removed, the
// host rejoins, and no learner is left behind (which would block every later
// learner add with "too many learners").
func TestInterruptedRejoinAtOldAddress(t *testing.T) {
	forEachVersion(t, netOldAddress, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.wipe(2)
		if code := l.start(2, "ETCD_REJOIN_ETCD_BINARY=/bin/false").waitExit(t); code != 1 {
			t.Fatalf("exit code with a failing etcd = %d, want 1", code)
		}
		var stale member
		for _, m := range l.members(0, 1) {
			if m.Peer == l.nodes[2].PeerURL {
				stale = m
			}
		}
		if stale.ID == 0 || stale.Started || !stale.Learner {
			t.Fatalf("after the interrupted rejoin: %+v, want an unstarted learner", l.members(0, 1))
		}
		l.nodes[2] = movedNode(l.nodes[2], prefix+".8")
		p, _ := l.plan(2)
		if p["action"] != "rejoin" || !strings.Contains(p["reason"].(string), plan.HexID(stale.ID)) {
			t.Fatalf("plan = %v, want a rejoin removing the recorded entry %x", p, stale.ID)
		}
		l.start(2).waitReady(t)
		ms := l.members(0, 1)
		if len(ms) != 3 {
			t.Fatalf("members = %+v, want 3", ms)
		}
		for _, m := range ms {
			if m.ID == stale.ID || m.Learner || !m.Started {
				t.Errorf("entry %+v left behind", m)
			}
		}
	})
}

// Item 8 (etcd 3.4): while an unrelated voter is down, etcd 3.4 refuses every
// member add. The service retries soon a few times, then backs off, and says
// which voter blocks the add; once that voter is back, the member heals.
func TestUnrelatedVoterDownBacksOff(t *testing.T) {
	onlyVersion(t, "3.4", netVoterDown, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 5)
		l.startAll()
		l.hosts[4].stop(20 * time.Second)
		l.wipe(3)
		h := l.start(3)
		h.waitLog(t, "not healthy: n5 ("+l.nodes[4].PeerURL+")", 60*time.Second)
		h.waitLog(t, "retry_in=2s", 90*time.Second)
		pauses := waitPauses(t, h, "waiting: etcd refuses to add a member", 1, time.Second)
		backedOff := regexp.MustCompile(`retry_in=500ms[^\n]*\n(?s:.*)retry_in=1s(?s:.*)retry_in=2s`)
		if !backedOff.MatchString(h.out.String()) || strings.Contains(h.out.String()[strings.Index(h.out.String(), "retry_in=1s"):], "retry_in=500ms") {
			t.Errorf("tries do not go from short retries to the backoff (first pause %v):\n%s", pauses, h.tail(30))
		}
		l.start(4)
		h.waitReady(t)
	})
}

// waitPauses waits until h logged n lines with msg, and returns their
// retry_in values.
func waitPauses(t *testing.T, h *host, msg string, n int, timeout time.Duration) []string {
	t.Helper()
	re := regexp.MustCompile(`msg="` + regexp.QuoteMeta(msg) + `[^"]*" retry_in=(\S+)`)
	deadline := time.Now().Add(timeout)
	for {
		m := re.FindAllStringSubmatch(h.out.String(), -1)
		if len(m) >= n {
			var out []string
			for _, x := range m[:n] {
				out = append(out, x[1])
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %q lines within %s:\n%s", len(m), n, msg, timeout, h.tail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// onlyVersion runs f for one etcd version, on base.
func onlyVersion(t *testing.T, name string, base int, f func(t *testing.T, v testetcd.Version, prefix string)) {
	for _, v := range testetcd.Versions(t) {
		if v.Name == name {
			t.Run("etcd"+v.Name, func(t *testing.T) {
				t.Parallel()
				f(t, v, "127.0."+itoa(base))
			})
			return
		}
	}
	t.Fatalf("etcd %s not found", name)
}

// Item 9: the member listens on all addresses and its certificate names only
// its advertised address, not 127.0.0.1: the local health check dials
// loopback but checks the certificate against the advertised name, so the
// member becomes READY.
func TestLocalHealthTLSName(t *testing.T) {
	forEachVersion(t, netLocalTLS, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 1)
		l.withTLS()
		n := l.nodes[0]
		cert, key := l.ca.Issue(t, []string{n.IP})
		port := 24200 + int(v.Name[2]-'0') // a port of its own: the listener takes all addresses
		advertised := "https://" + n.IP + ":" + itoa(port)
		l.hostEnv = func(int) []string {
			return []string{"ETCD_LISTEN_CLIENT_URLS=https://0.0.0.0:" + itoa(port), "ETCD_ADVERTISE_CLIENT_URLS=" + advertised,
				"ETCD_CERT_FILE=" + cert, "ETCD_KEY_FILE=" + key, "ETCD_PEER_CERT_FILE=" + cert, "ETCD_PEER_KEY_FILE=" + key}
		}
		l.nodes[0].ClientURL = advertised
		h := l.start(0)
		h.waitReady(t)
		l.put(3, "k", 0)
		if n := l.count(0, "k"); n != 3 {
			t.Errorf("%d keys, want 3", n)
		}
	})
}

// Item 10: members that rejoin as voters (learner = false) at the same time
// take turns under a cluster-wide lock, each re-checking the quorum.
func TestVotersRejoinTogether(t *testing.T) {
	forEachVersion(t, netVoters, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 5)
		l.extra = []string{"ETCD_REJOIN_LEARNER=false"}
		l.startAll()
		l.put(20, "k")
		l.wipe(3)
		l.wipe(4)
		a, b := l.start(3), l.start(4)
		a.waitReady(t)
		b.waitReady(t)
		startedVoters(t, l.members(0, 1, 2), 5)
		for _, h := range []*host{a, b} {
			if !strings.Contains(h.out.String(), "added as voter") {
				t.Errorf("%s did not add itself as a voter:\n%s", h.name, h.tail(20))
			}
		}
		for _, i := range []int{3, 4} {
			if n := l.count(i, "k"); n != 20 {
				t.Errorf("%s: %d keys, want 20", l.nodes[i].Name, n)
			}
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// netSeen is the loopback base of the wiped-majority test.
const netSeen = 122

// Two of three hosts lose their disks, state files included, and wait,
// rightly: the survivor says the cluster exists. They record that they saw
// it. Then the survivor goes away (a reboot, its watchdog): in the seconds
// nobody answers, the two must not bootstrap a new cluster, which would carry
// the old cluster's ID and member IDs (both derive from the same initial
// cluster and token) and take writes at revisions the old one used. Found by
// the fault campaign (wipe-majority:lose-state+reboot).
func TestWipedMajorityNeverBootstraps(t *testing.T) {
	forEachVersion(t, netSeen, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		l.put(5, "k")
		for _, i := range []int{1, 2} {
			l.wipe(i)
			if err := os.Remove(l.nodes[i].DataDir + ".rejoin-state.json"); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range []int{1, 2} {
			h := l.start(i)
			h.waitLog(t, "exists but has no quorum", 60*time.Second)
			h.waitLog(t, "this host will not bootstrap a new one", 10*time.Second)
		}
		l.hosts[0].stop(20 * time.Second)
		for _, i := range []int{1, 2} {
			l.hosts[i].waitLog(t, "and no peer answered; refusing to bootstrap a second cluster", 60*time.Second)
		}
		// A few more looks with nobody answering.
		time.Sleep(5 * time.Second)
		for _, i := range []int{1, 2} {
			h := l.hosts[i]
			if out := h.out.String(); strings.Contains(out, "action=bootstrap") || strings.Contains(out, "etcd started") {
				t.Errorf("%s started etcd after losing its disk:\n%s", h.name, h.tail(30))
			}
			if h.exited() {
				t.Errorf("%s exited (%d):\n%s", h.name, h.code, h.tail(30))
			}
			if fi, err := os.Stat(l.nodes[i].DataDir); err == nil && fi.IsDir() {
				if names := dirEntries(t, l.nodes[i].DataDir); len(names) != 0 {
					t.Errorf("%s has data again: %v", h.name, names)
				}
			}
		}
	})
}
