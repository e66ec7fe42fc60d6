package member

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
	// The removal may be answered before the leader applied it, and raft
	// drops a change proposed meanwhile (see settle).
	settle(t, c)
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
	// The promotion is answered once the member that took it applied it;
	// n4 applies it a moment later.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		h, err = LocalHealth(ctxFor(t), c.Nodes[i].ClientURL, o)
		if err == nil && !h.IsLearner && h.Ready() || time.Now().After(deadline) {
			break
		}
	}
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

// TestCheckerKeepsOneConnection: a Checker asks every check over the one
// connection it made at its first; clientv3's Status(ctx, endpoint) used to
// dial another at every check.
func TestCheckerKeepsOneConnection(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.19", 1, t.TempDir()))
		ids, _ := truth(t, c)
		fwd := newCountingForwarder(t, strings.TrimPrefix(c.Nodes[0].ClientURL, "http://"))
		o := optionsFor(t, c)
		o.DialAddress = fwd.addr
		checker := NewChecker(c.Nodes[0].ClientURL, o)
		defer checker.Close()
		ctx := ctxFor(t)

		var after []int64
		for range 5 {
			h, err := checker.Health(ctx)
			if err != nil || !h.Ready() || h.MemberID != ids["n1"] {
				t.Fatalf("Health = %+v, %v; want member %x ready", h, err, ids["n1"])
			}
			after = append(after, fwd.accepted.Load())
		}
		// The first check also probes the port with a plain connection.
		if after[0] > 2 || after[4] != after[0] {
			t.Errorf("connections accepted after each of 5 checks: %v; want the first check's, then no more", after)
		}
	})
}

type countingForwarder struct {
	addr     string
	accepted atomic.Int64
}

// newCountingForwarder relays TCP connections from a loopback port to
// target and counts them.
func newCountingForwarder(t *testing.T, target string) *countingForwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &countingForwarder{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			relay := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			go relay(out, in)
			go relay(in, out)
		}
	})
	return f
}
