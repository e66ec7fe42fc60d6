package status

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback nets of this package's tests (issue 10's range).
const (
	netGather  = "127.0.183"
	netNoSpace = "127.0.184"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

// sourceFor is the Source of node i as the service's configuration would
// give it: the other members' client URLs to ask, its own to check.
func sourceFor(c *testetcd.Cluster, i int, dir string) Source {
	n := c.Nodes[i]
	var others []string
	for j, o := range c.Nodes {
		if j != i {
			others = append(others, o.ClientURL)
		}
	}
	o := member.Options{ClientURLs: others, SelfPeerURLs: []string{n.PeerURL},
		DialTimeout: time.Second, RequestTimeout: 2 * time.Second, Log: quietLog()}
	return Source{
		Name: n.Name, PeerURLs: []string{n.PeerURL}, Local: n.ClientURL, LocalOptions: o, Cluster: o,
		RecordPath:  filepath.Join(dir, n.Name+".etcd.rejoin-status.json"),
		SnapshotDir: filepath.Join(dir, "snapshots"), DataDir: n.DataDir,
	}
}

// leaderOf returns the leader's ID as member n1 reports it.
func leaderOf(t *testing.T, c *testetcd.Cluster, i int) uint64 {
	t.Helper()
	st, err := c.MemberClient(t, i).Status(ctxFor(t), c.Nodes[i].ClientURL)
	if err != nil {
		t.Fatalf("status of %s: %v", c.Nodes[i].Name, err)
	}
	return st.Leader
}

func ids(t *testing.T, c *testetcd.Cluster) map[string]uint64 {
	t.Helper()
	resp, err := c.Client(t).MemberList(ctxFor(t))
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	out := map[string]uint64{}
	for _, m := range resp.Members {
		out[m.Name] = m.ID
	}
	return out
}

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestGather(t *testing.T) {
	for _, v := range testetcd.Versions(t) {
		t.Run(v.Name, func(t *testing.T) {
			dir := t.TempDir()
			c := testetcd.StartCluster(t, v, testetcd.Nodes(netGather, 3, dir))
			src := sourceFor(c, 0, dir)
			files := prepareFiles(t, src)
			t.Run("running", func(t *testing.T) { testGatherRunning(t, c, src, files) })
			t.Run("stopped", func(t *testing.T) { testGatherStopped(t, c, src) })
		})
	}
}

// knownFiles are what prepareFiles put on disk.
type knownFiles struct {
	snapshot string
	copies   []Copy
}

// prepareFiles writes a service record, two snapshot files and two
// moved-aside copies of the data dir.
func prepareFiles(t *testing.T, src Source) knownFiles {
	t.Helper()
	rec := NewRecorder(src.RecordPath, quietLog())
	rec.Decision("bootstrap", "first start of a new cluster")
	rec.Healed("bootstrap", 1500*time.Millisecond)
	rec.State(StateRunning, "running: voting and caught up")
	if err := os.MkdirAll(src.SnapshotDir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(src.SnapshotDir, snapshot.FileName(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	newest := filepath.Join(src.SnapshotDir, snapshot.FileName(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)))
	for _, p := range []string{old, newest} {
		if err := os.WriteFile(p, make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	parent, base := filepath.Dir(src.DataDir), filepath.Base(src.DataDir)
	copies := []Copy{
		{Path: filepath.Join(parent, base+".remnant-20260103T000000Z"), Kind: "remnant"},
		{Path: filepath.Join(parent, base+".moved-20260102T000000Z"), Kind: "moved"},
	}
	for _, cp := range copies {
		if err := os.Mkdir(cp.Path, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return knownFiles{snapshot: newest, copies: copies}
}

func testGatherRunning(t *testing.T, c *testetcd.Cluster, src Source, files knownFiles) {
	want := ids(t, c)
	leader := leaderOf(t, c, 0)
	r := Gather(ctxFor(t), src)
	m := r.Member
	wantRole := RoleFollower
	if leader == want["n1"] {
		wantRole = RoleLeader
	}
	if m.ID != hexID(want["n1"]) || !hex16.MatchString(m.ID) || m.Name != "n1" || m.Source != SourceLocal || m.Role != wantRole {
		t.Errorf("member = %+v; want n1 %016x, local, %s", m, want["n1"], wantRole)
	}
	if m.Leader != hexID(leader) || m.LeaderName == "" || m.LeaderRaftTerm != m.RaftTerm || m.LeaderRaftIndex == 0 {
		t.Errorf("member leader %s (%s) term %d index %d, own term %d; want leader %016x at the same term",
			m.Leader, m.LeaderName, m.LeaderRaftTerm, m.LeaderRaftIndex, m.RaftTerm, leader)
	}
	if m.DBSize <= 0 || m.DBSizeInUse <= 0 || m.QuotaBytes != DefaultQuotaBytes {
		t.Errorf("member db %d, in use %d, quota %d; want sizes and etcd's default quota %d", m.DBSize, m.DBSizeInUse, m.QuotaBytes, DefaultQuotaBytes)
	}
	if !r.Healthy || len(r.Problems) != 0 || len(r.Alarms) != 0 {
		t.Errorf("healthy %t, problems %q, alarms %v; want healthy", r.Healthy, r.Problems, r.Alarms)
	}
	checkClusterView(t, r, want, leader, "")
	if r.Service == nil || r.Service.State != StateRunning || r.Service.Decision.Action != "bootstrap" || r.Service.Heal.DurationSeconds != 1.5 {
		t.Errorf("service record = %+v; want running after bootstrap, healed in 1.5 s", r.Service)
	}
	if r.Snapshot == nil || r.Snapshot.Path != files.snapshot || r.Snapshot.SizeBytes != 4096 {
		t.Errorf("snapshot = %+v; want %s of 4096 bytes", r.Snapshot, files.snapshot)
	}
	if fmt.Sprint(r.MovedAside) != fmt.Sprint(files.copies) {
		t.Errorf("moved aside = %v; want %v", r.MovedAside, files.copies)
	}
	checkRenderings(t, r)
}

// checkClusterView checks the member table: every member, by ID and name,
// healthy but the one named down.
func checkClusterView(t *testing.T, r Report, want map[string]uint64, leader uint64, down string) {
	t.Helper()
	if len(r.Cluster.Members) != len(want) || r.Cluster.Leader != hexID(leader) {
		t.Fatalf("cluster = %+v; want %d members, leader %016x", r.Cluster, len(want), leader)
	}
	for _, cm := range r.Cluster.Members {
		wantHealthy := cm.Name != down
		if cm.ID != hexID(want[cm.Name]) || cm.Healthy != wantHealthy || cm.Self != (cm.Name == "n1") {
			t.Errorf("cluster member %+v; want ID %016x, healthy %t, self only for n1", cm, want[cm.Name], wantHealthy)
		}
		switch {
		case !wantHealthy && (cm.Role != RoleUnknown || cm.DBSize != 0):
			t.Errorf("down member %s: role %s, db %d; want unknown, no size", cm.Name, cm.Role, cm.DBSize)
		case wantHealthy && (cm.DBSize <= 0 || cm.RaftIndex == 0 || (cm.Role == RoleLeader) != (cm.ID == hexID(leader))):
			t.Errorf("member %s: %+v; want its size, index, and leader role only for %016x", cm.Name, cm, leader)
		}
	}
}

func checkRenderings(t *testing.T, r Report) {
	t.Helper()
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Schema int  `json:"schema"`
		Health bool `json:"healthy"`
		Member struct {
			ID   string `json:"id"`
			Role string `json:"role"`
		} `json:"member"`
		Alarms []any `json:"alarms"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, js.String())
	}
	if back.Schema != SchemaVersion || back.Member.ID != r.Member.ID || back.Member.Role != r.Member.Role || back.Alarms == nil {
		t.Errorf("JSON %+v does not carry the report's schema, member ID and role, and an alarms list", back)
	}
	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	for _, cm := range r.Cluster.Members {
		if !strings.Contains(text.String(), cm.ID+"  "+cm.Name) {
			t.Errorf("text lacks the row of %s %s:\n%s", cm.ID, cm.Name, text.String())
		}
	}
	if lines := strings.Count(text.String(), "\n"); lines > 24 {
		t.Errorf("text is %d lines, more than a screen:\n%s", lines, text.String())
	}
	t.Logf("status:\n%s", text.String())
}

func testGatherStopped(t *testing.T, c *testetcd.Cluster, src Source) {
	want := ids(t, c)
	c.Stop(t, 0)
	defer c.Start(t, 0, "existing")
	leader := awaitLeader(t, c)
	r := Gather(ctxFor(t), src)
	m := r.Member
	if m.ID != hexID(want["n1"]) || m.Source != SourcePeers || m.Role != RoleUnknown || m.Error == "" {
		t.Errorf("member of a stopped etcd = %+v; want its ID from the peers, role unknown, the local error", m)
	}
	if m.Leader != hexID(leader) || m.LeaderRaftIndex == 0 {
		t.Errorf("leader %s (index %d), want %016x as the peers see it", m.Leader, m.LeaderRaftIndex, leader)
	}
	if r.Healthy || len(r.Problems) == 0 || !strings.Contains(r.Problems[0], "does not answer") {
		t.Errorf("healthy %t, problems %q; want unhealthy: does not answer", r.Healthy, r.Problems)
	}
	checkClusterView(t, r, want, leader, "n1")
	var text bytes.Buffer
	_ = WriteText(&text, r)
	if !strings.Contains(text.String(), "healthy     NO") || !strings.Contains(text.String(), "as its peers list it") {
		t.Errorf("text of a stopped member:\n%s", text.String())
	}
	t.Logf("status:\n%s", text.String())
}

// awaitLeader waits until n2 sees a leader (one is elected after n1
// stopped, if n1 led) and returns it.
func awaitLeader(t *testing.T, c *testetcd.Cluster) uint64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.MemberClient(t, 1).Status(ctxFor(t), c.Nodes[1].ClientURL)
		if err == nil && st.Leader != 0 {
			return st.Leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader after n1 stopped: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestGatherNoSpace(t *testing.T) {
	for _, v := range testetcd.Versions(t) {
		t.Run(v.Name, func(t *testing.T) {
			const quota = 4 << 20
			dir := t.TempDir()
			c := testetcd.StartCluster(t, v, testetcd.Nodes(netNoSpace, 1, dir),
				testetcd.Args(fmt.Sprintf("--quota-backend-bytes=%d", quota)))
			id := ids(t, c)["n1"]
			fill(t, c.Client(t))
			src := sourceFor(c, 0, dir)
			src.QuotaBytes = quota
			r := Gather(ctxFor(t), src)
			want := Alarm{Name: "NOSPACE", MemberID: hexID(id), MemberName: "n1", DBSize: r.Member.DBSize}
			if len(r.Alarms) != 1 || r.Alarms[0] != want {
				t.Errorf("alarms = %+v, want [%+v]", r.Alarms, want)
			}
			if r.Healthy || r.Member.QuotaBytes != quota || r.Member.DBSize < quota*3/4 {
				t.Errorf("healthy %t, quota %d, db %d; want unhealthy, quota %d, db near it", r.Healthy, r.Member.QuotaBytes, r.Member.DBSize, quota)
			}
			if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "alarm NOSPACE on n1") ||
				!strings.Contains(r.Problems[0], "of quota 4.0 MiB") {
				t.Errorf("problems = %q; want the NOSPACE alarm with the quota", r.Problems)
			}
			var text bytes.Buffer
			_ = WriteText(&text, r)
			if !strings.Contains(text.String(), "alarms      NOSPACE on n1 "+hexID(id)) {
				t.Errorf("text lacks the alarm:\n%s", text.String())
			}
			t.Logf("status:\n%s", text.String())
		})
	}
}

// fill writes 256 KiB values until etcd refuses with NOSPACE.
func fill(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	value := strings.Repeat("z", 256<<10)
	for i := range 100 {
		_, err := cli.Put(ctxFor(t), fmt.Sprintf("/fill/%04d", i), value)
		if err != nil && strings.Contains(err.Error(), "database space exceeded") {
			return
		}
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	t.Fatal("no NOSPACE after 100 puts of 256 KiB")
}
