package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/lifecycle"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback /24s of the lifecycle tests (issue 9): 220-237, three per test.
const (
	netSnapshots       = 220
	netServiceSnaps    = 223
	netRecoverSnapshot = 226
	netRecoverLocal    = 229
	netRecoverRefuses  = 232
	netLeaveJoin       = 235
)

// lifecycleLab is a lab whose hosts each keep snapshots in a dir of their
// own (the default, beside the state file, is shared by the hosts of a lab)
// and, unless extra says otherwise, take no periodic snapshots.
func lifecycleLab(t *testing.T, v testetcd.Version, prefix string, extra ...string) *lab {
	t.Helper()
	l := newLab(t, v, prefix, 3)
	l.extra = append([]string{"ETCD_REJOIN_SNAPSHOT_INTERVAL=0"}, extra...)
	l.hostEnv = func(i int) []string { return []string{"ETCD_REJOIN_SNAPSHOT_DIR=" + snapDirOf(l, i)} }
	return l
}

func snapDirOf(l *lab, i int) string { return filepath.Join(l.dir, l.nodes[i].Name+".snapshots") }

func stateFileOf(l *lab, i int) string { return l.nodes[i].DataDir + ".rejoin-state.json" }

// cmdResult is how one etcd-rejoin command ended.
type cmdResult struct {
	code        int
	out, stderr string
}

// rejoin runs `etcd-rejoin ARGS` as host i would (its environment).
func (l *lab) rejoin(i int, args ...string) cmdResult {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = l.env(i)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	_ = cmd.Run()
	r := cmdResult{code: cmd.ProcessState.ExitCode(), out: out.String(), stderr: stderr.String()}
	l.t.Logf("%s: etcd-rejoin %s: exit %d\n%s%s", l.nodes[i].Name, strings.Join(args, " "), r.code, r.out, r.stderr)
	return r
}

// mustRejoin runs a command that must exit 0.
func (l *lab) mustRejoin(i int, args ...string) cmdResult {
	l.t.Helper()
	r := l.rejoin(i, args...)
	if r.code != 0 {
		l.t.Fatalf("%s: etcd-rejoin %s: exit %d\n%s%s", l.nodes[i].Name, strings.Join(args, " "), r.code, r.out, r.stderr)
	}
	return r
}

// refused checks that a command exited 1 and said every want.
func refused(t *testing.T, r cmdResult, want ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (refused)", r.code)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the refusal does not say %q:\n%s", w, r.stderr)
		}
	}
}

// hostState is what a refused command must leave as it was: the files of
// host i's data dir, what lies beside it, its state file and snapshots,
// with sizes and modification times.
func hostState(t *testing.T, l *lab, i int) []string {
	t.Helper()
	var out []string
	for _, root := range []string{l.nodes[i].DataDir, snapDirOf(l, i)} {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					out = append(out, p+" "+fi.ModTime().String()+" "+fi.Name())
				}
			}
			return nil
		})
	}
	beside, _ := filepath.Glob(l.nodes[i].DataDir + ".*")
	out = append(out, beside...)
	if b, err := os.ReadFile(stateFileOf(l, i)); err == nil {
		out = append(out, string(b))
	}
	return out
}

// clusterIDVia is the cluster ID that host i's member answers with.
func (l *lab) clusterIDVia(i int) uint64 {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := l.cli(i).Get(ctx, "probe", clientv3.WithSerializable())
	if err != nil {
		l.t.Fatalf("get through %s: %v", l.nodes[i].Name, err)
	}
	return resp.Header.ClusterId
}

// assertThreeVoters: all three hosts are started voters of one cluster, not
// old, and each serves want keys under prefix and none under gone.
func assertThreeVoters(t *testing.T, l *lab, old uint64, prefix string, want int64, gone string) {
	t.Helper()
	ms := l.members(0, 1, 2)
	if len(ms) != 3 {
		t.Fatalf("members %+v, want three", ms)
	}
	for _, m := range ms {
		if m.Learner || !m.Started {
			t.Errorf("member %+v is not a started voter", m)
		}
	}
	id := l.clusterIDVia(0)
	for i := range l.nodes {
		if got := l.clusterIDVia(i); got != id || got == old {
			t.Errorf("%s answers as cluster %x, want the new cluster %x (the old was %x)", l.nodes[i].Name, got, id, old)
		}
		if n := l.count(i, prefix); n != want {
			t.Errorf("%s: %d keys under %s, want %d", l.nodes[i].Name, n, prefix, want)
		}
		if gone != "" {
			if n := l.count(i, gone); n != 0 {
				t.Errorf("%s: %d keys under %s, written after the snapshot, want none", l.nodes[i].Name, n, gone)
			}
		}
	}
}

// loseTwoDisks wipes hosts 0 and 1 and starts their services again: they
// wait (no data, no quorum) as services restarted by systemd would. Host 2
// keeps running its member of the old cluster, without quorum.
func loseTwoDisks(t testing.TB, l *lab) {
	t.Helper()
	for _, i := range []int{0, 1} {
		l.wipe(i)
	}
	for _, i := range []int{0, 1} {
		l.start(i).waitLog(t, "waiting: no local data", 60*time.Second)
	}
}

// TestSnapshotsOnSchedule: RunSnapshots against a member of a cluster run
// by etcd-rejoin keeps the newest snapshot-keep of snapshots taken an
// interval apart; `etcd-rejoin snapshot` writes a verified snapshot into
// the host's snapshot dir, or to --output (never over a file), and from a
// healthy peer when the host's own member is down.
func TestSnapshotsOnSchedule(t *testing.T) {
	forEachVersion(t, netSnapshots, func(t *testing.T, v testetcd.Version, prefix string) {
		l := lifecycleLab(t, v, prefix)
		l.startAll()
		l.put(40, "k")

		dir := t.TempDir()
		s := lifecycle.Schedule{Interval: time.Second, Keep: 2, Dir: dir}
		results := make(chan lifecycle.Result, 8)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		open := func(ctx context.Context) (io.ReadCloser, error) { return l.cli(0).Snapshot(ctx) }
		done := lifecycle.RunSnapshots(ctx, s, open, func(r lifecycle.Result) { results <- r })
		var got []lifecycle.Result
		for len(got) < 3 && ctx.Err() == nil {
			select {
			case r := <-results:
				got = append(got, r)
			case <-ctx.Done():
			}
		}
		cancel()
		<-done
		if len(got) < 3 {
			t.Fatalf("%d rounds within a minute, want 3", len(got))
		}
		for i, r := range got {
			if r.Failed() || r.Info.TotalKeys < 40 {
				t.Errorf("round %d: %s", i, r.Summary())
			}
			if i > 0 && r.Start.Sub(got[i-1].Start) < s.Interval {
				t.Errorf("rounds %d and %d started %s apart, less than the interval", i-1, i, r.Start.Sub(got[i-1].Start))
			}
		}
		if files := ownSnapshots(t, dir); !slices.Equal(files, []string{got[2].Info.Path, got[1].Info.Path}) {
			t.Errorf("snapshots kept %v, want the newest two", files)
		}

		r := l.mustRejoin(1, "snapshot")
		files := ownSnapshots(t, snapDirOf(l, 1))
		if len(files) != 1 || !strings.Contains(r.out, files[0]) || !strings.Contains(r.out, "this host's member") {
			t.Fatalf("snapshot dir %v after `snapshot`, output:\n%s", files, r.out)
		}
		assertSnapshot(t, files[0], 40)

		out := filepath.Join(t.TempDir(), "before-upgrade.db")
		l.mustRejoin(1, "snapshot", "--output", out)
		assertSnapshot(t, out, 40)
		again := l.rejoin(1, "snapshot", "--output", out)
		refused(t, again, "file already exists")

		l.hosts[2].stop(20 * time.Second)
		r = l.mustRejoin(2, "snapshot")
		if !strings.Contains(r.out, "this host's member does not answer") {
			t.Errorf("a snapshot on a host whose member is down does not say where it came from:\n%s", r.out)
		}
		if files := ownSnapshots(t, snapDirOf(l, 2)); len(files) != 1 {
			t.Errorf("snapshot dir of the stopped host: %v", files)
		} else {
			assertSnapshot(t, files[0], 40)
		}
	})
}

// TestServiceTakesSnapshotsOnSchedule: the service of a running member
// writes a snapshot every snapshot-interval into its snapshot dir, keeps
// snapshot-keep of them and hands each to snapshot-command. (It passes once
// the service starts lifecycle.RunSnapshots when its member is ready.)
func TestServiceTakesSnapshotsOnSchedule(t *testing.T) {
	forEachVersion(t, netServiceSnaps, func(t *testing.T, v testetcd.Version, prefix string) {
		l := lifecycleLab(t, v, prefix)
		marker := filepath.Join(l.dir, "n1.hook")
		h := l.start(0, "ETCD_REJOIN_SNAPSHOT_INTERVAL=1s", "ETCD_REJOIN_SNAPSHOT_KEEP=2",
			`ETCD_REJOIN_SNAPSHOT_COMMAND=echo "$1" >> `+marker)
		l.start(1)
		l.start(2)
		for _, h := range l.hosts {
			h.waitReady(t)
		}
		l.put(25, "k")
		// Snapshots taken while the others started hold no keys: wait for
		// three taken after the puts (a round under way during the puts
		// may count as one of them, so two of the three kept have all keys).
		runs := func() []string {
			b, _ := os.ReadFile(marker)
			return strings.Fields(string(b))
		}
		before := len(runs())
		var lines []string
		for deadline := time.Now().Add(90 * time.Second); len(lines) < before+3; time.Sleep(200 * time.Millisecond) {
			lines = runs()
			if time.Now().After(deadline) {
				t.Fatalf("snapshot-command ran %d times within 90s after the puts, want 3 (is the snapshot loop started?)", len(lines)-before)
			}
		}
		h.stop(20 * time.Second)
		b, _ := os.ReadFile(marker)
		lines = strings.Fields(string(b))
		// The last round may have been cut short by the stop after its
		// snapshot but before its command: compare with what is kept loosely.
		files := ownSnapshots(t, snapDirOf(l, 0))
		if len(files) != 2 || slices.Contains(files, lines[0]) {
			t.Fatalf("snapshots kept %v; want two (snapshot-keep), not the first of %v", files, lines)
		}
		assertSnapshot(t, files[0], 25)
		var taken []time.Time
		for _, p := range lines {
			stamp, ok := strings.CutPrefix(filepath.Base(p), "etcd-")
			at, err := time.Parse("20060102T150405.000Z.snapshot", stamp)
			if filepath.Dir(p) != snapDirOf(l, 0) || !ok || err != nil {
				t.Fatalf("the command got %s, not a snapshot named by Take in %s (%v)", p, snapDirOf(l, 0), err)
			}
			taken = append(taken, at)
		}
		for i := 1; i < len(taken); i++ {
			if d := taken[i].Sub(taken[i-1]); d < time.Second-time.Millisecond {
				t.Errorf("snapshots %d and %d taken %s apart, less than the interval", i-1, i, d)
			}
		}
	})
}

// TestRecoverFromSnapshot: two of three disks are lost; the survivor's
// member waits without quorum. `plan` there names `recover` and shows the
// applied index and the newest snapshot; `recover` refuses while the
// service runs, and a corrupt or truncated snapshot; a dry run changes
// nothing. Recovering the survivor from its snapshot brings all three back
// under a new cluster ID with every key written before the snapshot, with
// no command on the other two hosts.
func TestRecoverFromSnapshot(t *testing.T) {
	forEachVersion(t, netRecoverSnapshot, func(t *testing.T, v testetcd.Version, prefix string) {
		l := lifecycleLab(t, v, prefix)
		l.startAll()
		l.put(100, "before")
		l.mustRejoin(2, "snapshot")
		snap := ownSnapshots(t, snapDirOf(l, 2))[0]
		l.put(30, "after")
		old := l.clusterIDVia(2)

		loseTwoDisks(t, l)
		p, _ := l.plan(2)
		hint, _ := p["recovery"].(map[string]any)
		newest, _ := hint["newest_snapshot"].(map[string]any)
		if hint == nil || newest["path"] != snap || !strings.Contains(strings.Join(toStrings(hint["commands"]), ";"), "etcd-rejoin recover") {
			t.Errorf("plan on the survivor does not point at recover and the newest snapshot %s: %v", snap, p["recovery"])
		}
		if idx, _ := hint["applied_index"].(float64); idx <= 100 {
			t.Errorf("plan shows applied index %v, want above 100", hint["applied_index"])
		}

		refused(t, l.rejoin(2, "recover", "--from-snapshot", snap), "stop the service first: systemctl stop etcd-rejoin")
		l.hosts[2].stop(20 * time.Second)
		before := hostState(t, l, 2)
		refused(t, l.rejoin(2, "recover", "--from-snapshot", damaged(t, snap, false)), "not an intact etcd snapshot")
		refused(t, l.rejoin(2, "recover", "--from-snapshot", damaged(t, snap, true)), "not an intact etcd snapshot")
		dry := l.mustRejoin(2, "recover", "--from-snapshot", snap, "--dry-run")
		if !strings.Contains(dry.out, "dry run: nothing was changed") || !strings.Contains(dry.out, "restore "+snap) {
			t.Errorf("dry run output:\n%s", dry.out)
		}
		if after := hostState(t, l, 2); !reflect.DeepEqual(before, after) {
			t.Fatalf("refusals or the dry run changed the host:\nbefore %v\nafter  %v", before, after)
		}

		start := time.Now()
		r := l.mustRejoin(2, "recover", "--from-snapshot", snap)
		if !strings.Contains(r.out, "recovered: this host is member") {
			t.Errorf("recover output:\n%s", r.out)
		}
		assertRecorded(t, l, 2, snap)
		l.start(2).waitReady(t)
		l.hosts[0].waitReady(t)
		l.hosts[1].waitReady(t)
		t.Logf("etcd %s: from `recover --from-snapshot` to three voters: %s", v.Name, time.Since(start).Round(time.Millisecond))
		assertThreeVoters(t, l, old, "before", 100, "after")
	})
}

// TestRecoverFromLocalData: two of three disks are lost; recovering the
// survivor from its own data brings all three back under a new cluster ID
// with every acknowledged key.
func TestRecoverFromLocalData(t *testing.T) {
	forEachVersion(t, netRecoverLocal, func(t *testing.T, v testetcd.Version, prefix string) {
		l := lifecycleLab(t, v, prefix)
		l.startAll()
		l.put(100, "acked")
		old := l.clusterIDVia(2)
		loseTwoDisks(t, l)
		l.hosts[2].stop(20 * time.Second)

		p, _ := l.plan(2)
		hint, _ := p["recovery"].(map[string]any)
		if idx, _ := hint["applied_index"].(float64); idx <= 100 || hint["applied_index_note"] != "from the data dir's backend" {
			t.Errorf("plan on the stopped survivor: recovery %v, want the applied index from the data dir", p["recovery"])
		}
		r := l.mustRejoin(2, "recover", "--from-local-data")
		for _, want := range []string{"--force-new-cluster", "recovered: this host is member"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("recover output lacks %q:\n%s", want, r.out)
			}
		}
		assertRecorded(t, l, 2, "the local data of member")
		if moved := movedAside(t, l.nodes[2].DataDir); len(moved) != 1 {
			t.Errorf("moved-aside copies %v, want the old data kept once", moved)
		}
		l.start(2).waitReady(t)
		l.hosts[0].waitReady(t)
		l.hosts[1].waitReady(t)
		assertThreeVoters(t, l, old, "acked", 100, "")
	})
}

// TestRecoverRefusesWithQuorum: with a quorum answering, recover refuses
// from a snapshot and from the local data, dry run or not, and changes
// nothing; the member restarts as it was. A bad command line exits 64.
func TestRecoverRefusesWithQuorum(t *testing.T) {
	forEachVersion(t, netRecoverRefuses, func(t *testing.T, v testetcd.Version, prefix string) {
		l := lifecycleLab(t, v, prefix)
		l.startAll()
		l.put(10, "k")
		snap := filepath.Join(t.TempDir(), "now.snapshot")
		l.mustRejoin(1, "snapshot", "--output", snap)
		refused(t, l.rejoin(1, "recover", "--from-local-data"), "stop the service first")
		before := l.members()
		l.hosts[0].stop(20 * time.Second)
		state := hostState(t, l, 0)
		for _, args := range [][]string{
			{"recover", "--from-local-data"},
			{"recover", "--from-snapshot", snap},
			{"recover", "--from-local-data", "--dry-run"},
		} {
			refused(t, l.rejoin(0, args...), "has a quorum (2 healthy of 3 voters): there is nothing to recover")
		}
		for _, args := range [][]string{{"recover"}, {"recover", "--from-local-data", "--from-snapshot", snap}, {"recover", "extra"}} {
			if r := l.rejoin(0, args...); r.code != 64 {
				t.Errorf("etcd-rejoin %v: exit %d, want 64", args, r.code)
			}
		}
		if after := hostState(t, l, 0); !reflect.DeepEqual(state, after) {
			t.Errorf("a refused recover changed the host:\nbefore %v\nafter  %v", state, after)
		}
		l.start(0).waitReady(t)
		if after := l.members(); !reflect.DeepEqual(before, after) {
			t.Errorf("membership changed:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

// TestLeaveAndJoin: leave refuses to break the quorum; then, with every
// member up, the member leaves while its service runs (which exits once
// etcd stops), its data is moved aside, and the restarted service stays out
// and says why; join brings it back as a voter with every key.
func TestLeaveAndJoin(t *testing.T) {
	forEachVersion(t, netLeaveJoin, func(t *testing.T, v testetcd.Version, prefix string) {
		l := lifecycleLab(t, v, prefix)
		l.startAll()
		l.put(20, "k")
		l.hosts[1].stop(20 * time.Second)
		refused(t, l.rejoin(2, "leave"), "removing member", "would leave 1 healthy of 2 voters (need 2)")
		if mem := memoryOf(t, l, 2); mem.Left != nil {
			t.Errorf("a refused leave was recorded: %+v", mem.Left)
		}
		l.start(1).waitReady(t)
		oldID := l.memberID(2, l.members(0, 1))

		r := l.mustRejoin(2, "leave")
		if !strings.Contains(r.out, "left: member") {
			t.Errorf("leave output:\n%s", r.out)
		}
		code := l.hosts[2].waitExit(t)
		t.Logf("the service exited %d once its member was removed and etcd stopped", code)
		if ms := l.members(0, 1); len(ms) != 2 || slices.ContainsFunc(ms, func(m member) bool { return m.ID == oldID }) {
			t.Errorf("members after the leave: %+v", ms)
		}
		if mem := memoryOf(t, l, 2); mem.Left == nil || mem.Left.MemberID != oldID {
			t.Errorf("state file: %+v, want the leave of %x", mem, oldID)
		}
		if moved := movedAside(t, l.nodes[2].DataDir); len(moved) != 1 {
			t.Errorf("moved-aside copies %v, want one", moved)
		}

		h := l.start(2)
		waitCount(t, h, "left the cluster on", 2, 60*time.Second)
		if h.exited() || strings.Contains(h.out.String(), "etcd started") {
			t.Errorf("the service of a member that left started etcd or exited (code %d)", h.code)
		}
		p, code := l.plan(2)
		if reason, _ := p["reason"].(string); code != 3 || !strings.Contains(reason, "run `etcd-rejoin join` to come back") {
			t.Errorf("plan after the leave: %v (exit %d)", p, code)
		}
		if ms := l.members(0, 1); len(ms) != 2 {
			t.Errorf("members while it stays out: %+v", ms)
		}

		l.mustRejoin(2, "join")
		h.waitReady(t)
		ms := l.members(0, 1, 2)
		if len(ms) != 3 || l.memberID(2, ms) == oldID {
			t.Errorf("members after join: %+v", ms)
		}
		for _, m := range ms {
			if m.Learner {
				t.Errorf("member %+v is still a learner", m)
			}
		}
		if n := l.count(2, "k"); n != 20 {
			t.Errorf("the member that came back serves %d keys, want 20", n)
		}
	})
}

// waitCount waits until the host's output holds s n times.
func waitCount(t *testing.T, h *host, s string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(h.out.String(), s) < n {
		if h.exited() {
			t.Fatalf("%s exited (code %d) before saying %q %d times", h.name, h.code, s, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s said %q %d times within %s, want %d", h.name, s, strings.Count(h.out.String(), s), timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownSnapshots lists the snapshots Take named in dir, newest first.
func ownSnapshots(t testing.TB, dir string) []string {
	t.Helper()
	files, err := snapshot.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if f.Own {
			out = append(out, f.Path)
		}
	}
	return out
}

// assertSnapshot verifies path and checks it holds at least keys keys.
func assertSnapshot(t *testing.T, path string, keys int) {
	t.Helper()
	info, err := snapshot.Verify(path)
	if err != nil || !info.SHA256 || info.TotalKeys < keys {
		t.Errorf("snapshot %s: %+v, %v; want a verified snapshot with at least %d keys", path, info, err, keys)
	}
}

// damaged writes a copy of the snapshot, truncated or with bytes flipped in
// its middle.
func damaged(t *testing.T, path string, truncate bool) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := "flipped.snapshot"
	if truncate {
		b, name = b[:len(b)*2/3], "truncated.snapshot"
	} else {
		for i := len(b) / 2; i < len(b)/2+16; i++ {
			b[i] ^= 0xff
		}
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func memoryOf(t *testing.T, l *lab, i int) plan.Memory {
	t.Helper()
	m, err := datadir.LoadMemory(stateFileOf(l, i))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// assertRecorded: the state file records a recovery into the cluster of the
// data now in place, from a source that names from.
func assertRecorded(t *testing.T, l *lab, i int, from string) {
	t.Helper()
	m := memoryOf(t, l, i)
	d, err := datadir.Inspect(datadir.Layout{DataDir: l.nodes[i].DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if m.Recovered == nil || m.Recovered.ClusterID != d.ClusterID || m.MemberID != d.MemberID || !strings.Contains(m.Recovered.From, from) {
		t.Errorf("state file %+v (recovered %+v), data dir %+v; want the recovery from %q recorded", m, m.Recovered, d, from)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// netRecoverBench is the lifecycle benchmark's loopback /24: its etcd
// versions run one after the other on hosts .1-.3 of it (the lifecycle
// package's tests use .101 and up).
const netRecoverBench = 238

// recoverBenchData is how much value data the recovery benchmark writes.
const recoverBenchData = 64 << 20

// BenchmarkRecoverFromSnapshot64MB measures, per etcd version, on a
// three-member cluster run by etcd-rejoin holding 64 MiB of values:
// `etcd-rejoin snapshot` (s/snapshot, MiB/snapshot), and after two of the
// three disks are lost, `recover --from-snapshot` on the survivor
// (s/recover-command) and from its start to all three members ready as
// voters again (s/recover-to-3-voters). Run it with
//
//	go test -run '^$' -bench RecoverFromSnapshot64MB -benchtime 1x ./test/e2e/
func BenchmarkRecoverFromSnapshot64MB(b *testing.B) {
	for _, v := range testetcd.Versions(b) {
		b.Run("etcd"+v.Name, func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				benchRecover(b, v, fmt.Sprintf("127.0.%d", netRecoverBench))
			}
		})
	}
}

func benchRecover(b *testing.B, v testetcd.Version, prefix string) {
	b.StopTimer()
	l := newLab(b, v, prefix, 3)
	l.extra = []string{"ETCD_REJOIN_SNAPSHOT_INTERVAL=0", "ETCD_REJOIN_JOIN_TIMEOUT=5m"}
	l.hostEnv = func(i int) []string { return []string{"ETCD_REJOIN_SNAPSHOT_DIR=" + snapDirOf(l, i)} }
	l.startAll()
	fillValues(b, l.cli(), recoverBenchData)
	start := time.Now()
	l.mustRejoin(2, "snapshot")
	took := time.Since(start)
	snap := ownSnapshots(b, snapDirOf(l, 2))[0]
	fi, err := os.Stat(snap)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(took.Seconds(), "s/snapshot")
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB/snapshot")

	loseTwoDisks(b, l)
	l.hosts[2].stop(20 * time.Second)
	b.StartTimer()
	start = time.Now()
	l.mustRejoin(2, "recover", "--from-snapshot", snap)
	b.ReportMetric(time.Since(start).Seconds(), "s/recover-command")
	l.start(2)
	for _, h := range l.hosts {
		h.waitReady(b)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s/recover-to-3-voters")
	b.StopTimer()
	for i := range l.nodes {
		if n := l.count(i, "bench"); n != recoverBenchData/(64<<10) {
			b.Errorf("%s: %d keys after the recovery, want %d", l.nodes[i].Name, n, recoverBenchData/(64<<10))
		}
	}
	for _, h := range l.hosts {
		h.stop(20 * time.Second)
	}
}

// fillValues writes size bytes of random values, 64 KiB each, 16 to a
// transaction, under bench/.
func fillValues(b *testing.B, cli *clientv3.Client, size int) {
	b.Helper()
	const valueSize, perTxn = 64 << 10, 16
	value := make([]byte, valueSize)
	for i := 0; i < size/valueSize; i += perTxn {
		ops := make([]clientv3.Op, perTxn)
		for j := range ops {
			_, _ = rand.Read(value)
			ops[j] = clientv3.OpPut(fmt.Sprintf("bench/%06d", i+j), string(value))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
}
