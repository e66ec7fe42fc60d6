package member

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback nets of the tests in this file (issue 10's range).
const (
	netOpsStatus = "127.0.180"
	netOpsAlarm  = "127.0.181"
	netOpsDefrag = "127.0.182"
)

func TestEndpointStatus(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.StartCluster(t, v, testetcd.Nodes(netOpsStatus, 3, t.TempDir()))
		ids, clusterID := truth(t, c)
		o := optionsFor(t, c)
		ctx := ctxFor(t)
		leaders := map[uint64]bool{}
		var leaderSeen int
		for _, n := range c.Nodes {
			st, err := EndpointStatus(ctx, n.ClientURL, o)
			if err != nil {
				t.Fatalf("EndpointStatus of %s: %v", n.Name, err)
			}
			if st.Endpoint != n.ClientURL || st.MemberID != ids[n.Name] || st.ClusterID != clusterID || st.IsLearner {
				t.Errorf("status of %s = %+v, want member %x of cluster %x, a voter", n.Name, st, ids[n.Name], clusterID)
			}
			if st.Leader == 0 || st.RaftTerm == 0 || st.RaftIndex == 0 || st.AppliedIndex == 0 {
				t.Errorf("status of %s = %+v, want a leader, a term and indexes", n.Name, st)
			}
			if st.DBSize <= 0 || st.DBSizeInUse <= 0 || st.DBSizeInUse > st.DBSize {
				t.Errorf("status of %s: db size %d, in use %d; want 0 < in use <= size", n.Name, st.DBSize, st.DBSizeInUse)
			}
			if !strings.HasPrefix(st.Version, v.Name+".") {
				t.Errorf("status of %s: version %q, want %s.x", n.Name, st.Version, v.Name)
			}
			leaders[st.Leader] = true
			if st.IsLeader() {
				leaderSeen++
			}
		}
		if len(leaders) != 1 || leaderSeen != 1 {
			t.Errorf("members see leaders %v and %d call themselves leader; want one leader", leaders, leaderSeen)
		}

		c.Stop(t, 2)
		st, err := EndpointStatus(ctx, c.Nodes[2].ClientURL, o)
		if !errors.Is(err, syscall.ECONNREFUSED) || st.MemberID != 0 || !strings.Contains(err.Error(), c.Nodes[2].ClientURL) {
			t.Errorf("EndpointStatus of stopped n3 = %+v, %v; want connection refused naming its URL", st, err)
		}
	})
}

// fillUntilNoSpace writes 256 KiB values through cli until etcd refuses
// with "database space exceeded" (the NOSPACE alarm), at most max times.
func fillUntilNoSpace(t *testing.T, cli *clientv3.Client, max int) int {
	t.Helper()
	value := strings.Repeat("x", 256<<10)
	for i := range max {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/fill/%04d", i), value)
		cancel()
		if err != nil {
			if strings.Contains(err.Error(), "database space exceeded") {
				return i
			}
			t.Fatalf("put %d: %v", i, err)
		}
	}
	t.Fatalf("no NOSPACE after %d puts of 256 KiB", max)
	return 0
}

func TestAlarmsNOSPACE(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		const quota = 4 << 20
		c := testetcd.StartCluster(t, v, testetcd.Nodes(netOpsAlarm, 1, t.TempDir()),
			testetcd.Args(fmt.Sprintf("--quota-backend-bytes=%d", quota)))
		ids, _ := truth(t, c)
		o := optionsFor(t, c)
		ctx := ctxFor(t)
		url := c.Nodes[0].ClientURL

		alarms, err := Alarms(ctx, []string{url}, o)
		if err != nil || len(alarms) != 0 {
			t.Fatalf("Alarms before filling = %v, %v; want none", alarms, err)
		}
		st, err := EndpointStatus(ctx, url, o)
		if err != nil || len(AlarmsInErrors(st.Errors)) != 0 {
			t.Fatalf("status before filling = %+v, %v; want no alarm in its errors", st, err)
		}

		puts := fillUntilNoSpace(t, c.Client(t), 100)
		want := []Alarm{{MemberID: ids["n1"], Name: "NOSPACE"}}
		alarms, err = Alarms(ctx, []string{url}, o)
		if err != nil || !slices.Equal(alarms, want) {
			t.Errorf("Alarms after %d puts = %v, %v; want %v", puts, alarms, err, want)
		}
		st, err = EndpointStatus(ctx, url, o)
		if err != nil {
			t.Fatalf("status after filling: %v", err)
		}
		if got := AlarmsInErrors(st.Errors); !slices.Equal(got, want) {
			t.Errorf("alarms in status errors %q = %v, want %v", st.Errors, got, want)
		}
		if st.DBSize < quota*3/4 {
			t.Errorf("db size %d after NOSPACE, want near the quota %d", st.DBSize, quota)
		}
		if st.DBSizeQuota != 0 && st.DBSizeQuota != quota {
			t.Errorf("reported quota %d, want %d (or 0 where etcd does not report it)", st.DBSizeQuota, quota)
		}
	})
}

func TestAlarmsInErrors(t *testing.T) {
	got := AlarmsInErrors([]string{
		"etcdserver: no leader",
		"memberID:10276657743932975437 alarm:NOSPACE ",
		"memberID:2 alarm:CORRUPT",
		"memberID:notanumber alarm:NOSPACE",
	})
	want := []Alarm{{MemberID: 2, Name: "CORRUPT"}, {MemberID: 10276657743932975437, Name: "NOSPACE"}}
	if !slices.Equal(got, want) {
		t.Errorf("AlarmsInErrors = %v, want %v", got, want)
	}
}

func TestDefragment(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.StartCluster(t, v, testetcd.Nodes(netOpsDefrag, 1, t.TempDir()))
		o := optionsFor(t, c)
		ctx := ctxFor(t)
		url := c.Nodes[0].ClientURL
		fragment(t, c.Client(t), 160, 64<<10)
		before := awaitFree(t, c.Client(t), url, o, 8<<20)
		if err := Defragment(ctx, url, o); err != nil {
			t.Fatalf("Defragment: %v", err)
		}
		after, err := EndpointStatus(ctx, url, o)
		if err != nil {
			t.Fatalf("status after: %v", err)
		}
		if after.DBSize > before.DBSize-8<<20 || after.DBSize-after.DBSizeInUse > 1<<20 {
			t.Errorf("after defragmenting: size %d, in use %d (before %d, %d); want at least 8 MiB given back and under 1 MiB free",
				after.DBSize, after.DBSizeInUse, before.DBSize, before.DBSizeInUse)
		}
		c.Stop(t, 0)
		if err := Defragment(ctx, url, o); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Defragment of a stopped member = %v, want connection refused", err)
		}
	})
}

// fragment writes n values of size bytes, deletes them and compacts: the
// database file keeps its size while little of it is in use.
func fragment(t *testing.T, cli *clientv3.Client, n, size int) {
	t.Helper()
	value := strings.Repeat("y", size)
	ctx := ctxFor(t)
	for i := range n {
		if _, err := cli.Put(ctx, fmt.Sprintf("/frag/%04d", i), value); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	del, err := cli.Delete(ctx, "/frag/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("delete /frag/: %v", err)
	}
	if del.Deleted != int64(n) {
		t.Fatalf("delete /frag/: deleted %d of %d", del.Deleted, n)
	}
	if _, err := cli.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact at %d: %v", del.Header.Revision, err)
	}
}

// awaitFree waits until the member at url reports at least free bytes of
// its database file unused, and returns that status. The pages a
// compaction frees count as free only once the backend has committed again
// with no reader holding them: small writes make it commit.
func awaitFree(t *testing.T, cli *clientv3.Client, url string, o Options, free int64) Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := EndpointStatus(ctxFor(t), url, o)
		if err != nil {
			t.Fatalf("status of %s: %v", url, err)
		}
		if st.DBSize-st.DBSizeInUse >= free {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("size %d, in use %d: not %d bytes free within 20 s", st.DBSize, st.DBSizeInUse, free)
		}
		if _, err := cli.Put(ctxFor(t), "/frag-tick", "x"); err != nil {
			t.Fatalf("put: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
