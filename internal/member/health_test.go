package member

import (
	"errors"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

func TestLocalHealth(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		dir := t.TempDir()
		c := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.13", 3, dir))
		ids, clusterID := truth(t, c)
		o := optionsFor(t, c)
		ctx := ctxFor(t)

		h, err := LocalHealth(ctx, c.Nodes[1].ClientURL, o)
		if err != nil {
			t.Fatalf("LocalHealth of n2: %v", err)
		}
		if h.MemberID != ids["n2"] || h.ClusterID != clusterID || h.Leader == 0 || h.IsLearner ||
			!h.Voting || !h.CaughtUp || h.RaftIndex == 0 || h.AppliedIndex == 0 || !h.Ready() {
			t.Errorf("health of n2 = %+v, want member %x of %x, a leader, voting and caught up", h, ids["n2"], clusterID)
		}

		c.Stop(t, 2)
		h, err = LocalHealth(ctx, c.Nodes[2].ClientURL, o)
		if err == nil || h.Ready() || h.MemberID != 0 {
			t.Errorf("LocalHealth of stopped n3 = %+v, %v; want an error", h, err)
		}
		t.Logf("stopped n3: %v", err)

		t.Run("learner", func(t *testing.T) { testLearnerHealth(t, c, dir, o, ids["n3"]) })
	})
}

// testLearnerHealth replaces the stopped member (etcd refuses any add while
// the leader is not connected to every member) with a learner: healthy but
// not voting; then promotes it once etcd says it is in sync: voting and
// caught up.
func testLearnerHealth(t *testing.T, c *testetcd.Cluster, dir string, o Options, stale uint64) {
	ctx := ctxFor(t)
	cli, err := Dial(ctx, o.ClientURLs[:2], o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = cli.Close() }()
	if err := cli.Remove(ctx, stale); err != nil {
		t.Fatalf("Remove stopped member: %v", err)
	}
	i := c.AddNode(t, testetcd.NewNode("n4", "127.0.13.4", dir))
	added, _, err := addWhenHealthy(t, cli, []string{c.Nodes[i].PeerURL}, true)
	if err != nil {
		t.Fatalf("Add learner: %v", err)
	}
	initial := testetcd.InitialCluster(c.Nodes[:2]) + ",n4=" + c.Nodes[i].PeerURL
	c.Launch(t, i, "existing", initial)
	c.WaitReady(t, i)

	h, err := LocalHealth(ctx, c.Nodes[i].ClientURL, o)
	if err != nil {
		t.Fatalf("LocalHealth of learner: %v", err)
	}
	if h.MemberID != added.ID || !h.IsLearner || h.Voting || h.CaughtUp || h.Ready() || h.Leader == 0 {
		t.Errorf("learner health = %+v, want member %x, learner, not voting, sees a leader", h, added.ID)
	}
	promoteWhenReady(t, cli, added.ID)
	h, err = LocalHealth(ctx, c.Nodes[i].ClientURL, o)
	if err != nil || h.MemberID != added.ID || h.IsLearner || !h.Voting || !h.CaughtUp || !h.Ready() {
		t.Errorf("promoted member health = %+v, %v; want voting and caught up", h, err)
	}
}

// promoteWhenReady retries Promote while etcd says the learner is not in
// sync yet, for at most 20 s.
func promoteWhenReady(t *testing.T, cli *Client, id uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cli.Promote(ctxFor(t), id)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrLearnerNotReady) && !errors.Is(err, ErrClusterUnhealthy) || time.Now().After(deadline) {
			t.Fatalf("Promote %x: %v", id, err)
		}
		t.Logf("retrying: %v", err)
		time.Sleep(500 * time.Millisecond)
	}
}
