package lifecycle

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// AppliedIndex reads what the member reported as applied before it
// stopped; while it runs, the backend is locked; without data there is
// nothing.
func TestAppliedIndex(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, vi int) {
		c := startCluster(t, v, vi, netSnap, 10, 1)
		cli := c.Client(t)
		putKeys(t, cli, "k", 30)
		dataDir := c.Nodes[0].DataDir
		if _, err := AppliedIndex(dataDir); !errors.Is(err, ErrBackendLocked) {
			t.Errorf("while etcd runs: %v, want ErrBackendLocked", err)
		}
		st, err := cli.Status(ctxFor(t), c.Nodes[0].ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		c.Stop(t, 0)
		idx, err := AppliedIndex(dataDir)
		if err != nil {
			t.Fatalf("AppliedIndex after the stop: %v", err)
		}
		if idx < st.RaftAppliedIndex || idx > st.RaftIndex+1 {
			t.Errorf("applied index %d, the member reported applied %d and committed %d", idx, st.RaftAppliedIndex, st.RaftIndex)
		}
		if text := appliedIndexText(dataDir); text == "" || text[0] < '1' || text[0] > '9' {
			t.Errorf("appliedIndexText = %q, want the index", text)
		}
	})
	if _, err := AppliedIndex(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no data: %v, want fs.ErrNotExist", err)
	}
}
