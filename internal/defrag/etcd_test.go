package defrag

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// netDefrag is this package's loopback net (issue 10's range).
const netDefrag = "127.0.185"

// testPolicy: a few MiB of free pages are enough to be due in a test.
var testPolicy = Policy{MinFreeRatio: 0.5, MinFreeBytes: 4 * mib}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func options() member.Options {
	return member.Options{DialTimeout: time.Second, RequestTimeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
}

func live(t *testing.T, c *testetcd.Cluster, i int) *Live {
	t.Helper()
	l, err := Dial(ctxFor(t), c.Nodes[i].ClientURL, options(), options())
	if err != nil {
		t.Fatalf("Dial %s: %v", c.Nodes[i].Name, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// TestRunOnEtcd: three members with the same fragmented database; the
// leader waits until both followers are done, a held lock and a stopped
// voter stop a run.
func TestRunOnEtcd(t *testing.T) {
	for _, v := range testetcd.Versions(t) {
		t.Run(v.Name, func(t *testing.T) {
			c := testetcd.StartCluster(t, v, testetcd.Nodes(netDefrag, 3, t.TempDir()))
			fragment(t, c.Client(t), 160, 64<<10)
			for i := range c.Nodes {
				awaitDue(t, live(t, c, i))
			}
			leader, followers := roles(t, c)

			other, err := member.Dial(ctxFor(t), []string{c.Nodes[followers[1]].ClientURL}, options())
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			unlock, err := other.Lock(ctxFor(t), LockName)
			if err != nil {
				t.Fatalf("take the lock elsewhere: %v", err)
			}
			expect(t, live(t, c, followers[0]), Busy)
			unlock()

			expect(t, live(t, c, leader), LeaderWaits)
			res := expect(t, live(t, c, followers[0]), Defragmented)
			if res.After.Bytes > res.Before.Bytes-4*mib || res.Took <= 0 {
				t.Errorf("follower: %+v; want at least 4 MiB given back and a duration", res)
			}
			expect(t, live(t, c, leader), LeaderWaits)
			expect(t, live(t, c, followers[1]), Defragmented)
			expect(t, live(t, c, followers[1]), NotDue)

			c.Stop(t, followers[0])
			res = expect(t, live(t, c, leader), Degraded)
			if !strings.Contains(res.Detail, c.Nodes[followers[0]].Name) {
				t.Errorf("degraded detail %q does not name the stopped %s", res.Detail, c.Nodes[followers[0]].Name)
			}
			c.Start(t, followers[0], "existing")
			res = expect(t, live(t, c, leader), Defragmented)
			if res.After.Bytes > res.Before.Bytes-4*mib {
				t.Errorf("leader: %+v; want at least 4 MiB given back", res)
			}
		})
	}
}

func expect(t *testing.T, l *Live, outcome string) Result {
	t.Helper()
	res, err := Run(ctxFor(t), l, testPolicy)
	if err != nil || res.Outcome != outcome {
		t.Fatalf("Run on %s = %+v, %v; want %s", l.Local, res, err, outcome)
	}
	t.Logf("%s: %s (%s)", l.Local, res.Outcome, res.Detail)
	return res
}

// roles returns the leader's index and the followers' (as member 0 sees it).
func roles(t *testing.T, c *testetcd.Cluster) (leader int, followers []int) {
	t.Helper()
	leader = -1
	for i, n := range c.Nodes {
		st, err := member.EndpointStatus(ctxFor(t), n.ClientURL, options())
		if err != nil {
			t.Fatal(err)
		}
		if st.IsLeader() {
			leader = i
		} else {
			followers = append(followers, i)
		}
	}
	if leader < 0 || len(followers) != 2 {
		t.Fatalf("leader %d, followers %v", leader, followers)
	}
	return leader, followers
}

// fragment writes n values of size bytes, deletes them and compacts.
func fragment(t *testing.T, cli *clientv3.Client, n, size int) {
	t.Helper()
	value := strings.Repeat("y", size)
	for i := range n {
		if _, err := cli.Put(ctxFor(t), fmt.Sprintf("/frag/%04d", i), value); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	del, err := cli.Delete(ctxFor(t), "/frag/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := cli.Compact(ctxFor(t), del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}
	// Small writes make every backend commit, so that the freed pages count.
	for i := range 5 {
		if _, err := cli.Put(ctxFor(t), "/tick", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// awaitDue waits until the member's freed pages count as free (its backend
// committed after the compaction) and the policy finds it due.
func awaitDue(t *testing.T, l *Live) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := l.LocalStatus(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		due, why := testPolicy.Due(st.DBSize, st.DBSizeInUse)
		if due {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not due within 20 s: %s", l.Local, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
