package lifecycle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// TestLeave on a real three-member cluster: with a voter down, leaving
// would break the quorum and is refused with nothing changed; with all
// three up, the member is removed, its etcd stops by itself, its data is
// moved aside and the leave is recorded; join clears the record.
func TestLeave(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, vi int) {
		c := startCluster(t, v, vi, netLeave, 0, 3)
		h := hostFor(t, c, 2)
		putKeys(t, c.Client(t), "k", 10)
		ids := memberIDs(t, c)

		c.Stop(t, 1)
		var out bytes.Buffer
		err := Leave(ctxFor(t), h, &out)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "would leave 1 healthy of 2 voters (need 2)") {
			t.Fatalf("leave with a voter down: %v, want a refusal naming 1 healthy of 2 voters", err)
		}
		assertUntouched(t, c, h, 3)

		c.Start(t, 1, "existing")
		out.Reset()
		if err := Leave(ctxFor(t), h, &out); err != nil {
			t.Fatalf("leave: %v\n%s", err, out.String())
		}
		t.Logf("leave said:\n%s", out.String())
		// Leave returns once etcd let go of its data and its port; the
		// process itself may take a moment longer to end.
		for deadline := time.Now().Add(30 * time.Second); c.Running(2); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the removed member's etcd still runs 30s after leave")
			}
		}
		after := memberIDs(t, c)
		if len(after) != 2 || after[c.Nodes[2].PeerURL] != 0 {
			t.Errorf("members after the leave: %v, want the other two", after)
		}
		mem, err := datadir.LoadMemory(h.StateFile)
		if err != nil || mem.Left == nil || mem.Left.MemberID != ids[c.Nodes[2].PeerURL] {
			t.Fatalf("state file: %+v, %v; want left as member %x", mem, err, ids[c.Nodes[2].PeerURL])
		}
		if _, err := os.Stat(h.Layout.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the data dir is still there: %v", err)
		}
		if moved, _ := filepath.Glob(h.Layout.DataDir + ".moved-*"); len(moved) != 1 {
			t.Errorf("moved-aside copies %v, want one", moved)
		}
		if !strings.Contains(out.String(), "etcd-rejoin join") {
			t.Errorf("leave does not say how to come back:\n%s", out.String())
		}

		out.Reset()
		if err := Join(h, &out); err != nil {
			t.Fatalf("join: %v", err)
		}
		mem, err = datadir.LoadMemory(h.StateFile)
		if err != nil || mem.Left != nil || mem.MemberID != 0 {
			t.Errorf("state file after join: %+v, %v; want no leave", mem, err)
		}
		out.Reset()
		if err := Join(h, &out); err != nil || !strings.Contains(out.String(), "nothing to do") {
			t.Errorf("second join: %v, %q", err, out.String())
		}
	})
}

// The last member of a cluster never leaves: that would end the cluster.
func TestLeaveRefusesLastMember(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, vi int) {
		c := startCluster(t, v, vi, netLeave, 30, 1)
		h := hostFor(t, c, 0)
		err := Leave(ctxFor(t), h, nil)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "is the last member") {
			t.Fatalf("leave of the only member: %v, want a refusal", err)
		}
		assertUntouched(t, c, h, 1)
	})
}

// memberIDs maps peer URL to member ID, through the members that run.
func memberIDs(t *testing.T, c *testetcd.Cluster) map[string]uint64 {
	t.Helper()
	var eps []string
	for i, n := range c.Nodes {
		if c.Running(i) {
			eps = append(eps, n.ClientURL)
		}
	}
	cli := c.Client(t)
	cli.SetEndpoints(eps...)
	resp, err := cli.MemberList(ctxFor(t))
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	out := map[string]uint64{}
	for _, m := range resp.Members {
		out[strings.Join(m.PeerURLs, ",")] = m.ID
	}
	return out
}

// assertUntouched: the member list still has n members, the data dir is in
// place, nothing was moved aside and no state file was written.
func assertUntouched(t *testing.T, c *testetcd.Cluster, h Host, n int) {
	t.Helper()
	if ids := memberIDs(t, c); len(ids) != n {
		t.Errorf("members %v, want %d", ids, n)
	}
	if _, err := os.Stat(filepath.Join(h.Layout.DataDir, "member")); err != nil {
		t.Errorf("data dir: %v", err)
	}
	if moved, _ := filepath.Glob(h.Layout.DataDir + ".*"); len(moved) != 0 {
		t.Errorf("something was moved aside: %v", moved)
	}
	if _, err := os.Stat(h.StateFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file written: %v", err)
	}
}
