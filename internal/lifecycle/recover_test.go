package lifecycle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// TestRecover on a real one-member cluster: refused while its etcd runs and
// for a truncated snapshot, a dry run changes nothing; from the local data
// every key comes back under a new cluster ID, from a snapshot every key
// written before it (and none after); each time the old data is moved
// aside and the state file records the recovery.
func TestRecover(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, vi int) {
		c := startCluster(t, v, vi, netSnap, 20, 1)
		h := hostFor(t, c, 0)
		cli := c.Client(t)
		putKeys(t, cli, "a", 40)
		snap, err := snapshot.Take(ctxFor(t), opener(cli), t.TempDir(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		putKeys(t, cli, "b", 20)
		oldCluster := clusterID(t, cli)

		_, err = Recover(ctxFor(t), h, RecoverOptions{LocalData: true})
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "stop the service first: systemctl stop etcd-rejoin") {
			t.Fatalf("recover while etcd runs: %v", err)
		}
		c.Stop(t, 0)
		if others, _ := filepath.Glob(h.Layout.DataDir + ".*"); len(others) != 0 {
			t.Fatalf("the refusal left %v", others)
		}
		before := snapshotOfDirs(t, h)
		truncated := truncatedCopy(t, snap.Path)
		_, err = Recover(ctxFor(t), h, RecoverOptions{Snapshot: truncated})
		if !errors.Is(err, ErrRefused) || !errors.Is(err, snapshot.ErrCorrupt) && !strings.Contains(err.Error(), "not an intact etcd snapshot") {
			t.Fatalf("recover from a truncated snapshot: %v", err)
		}
		var out bytes.Buffer
		if _, err := Recover(ctxFor(t), h, RecoverOptions{LocalData: true, DryRun: true, Out: &out}); err != nil {
			t.Fatalf("dry run: %v", err)
		}
		for _, want := range []string{"dry run: nothing was changed", "--force-new-cluster on the copy", "move the current data aside", "record the recovery"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("dry run output lacks %q:\n%s", want, out.String())
			}
		}
		if after := snapshotOfDirs(t, h); !slices.Equal(before, after) {
			t.Fatalf("refusals and the dry run changed %v into %v", before, after)
		}

		out.Reset()
		rec := recoverOK(t, h, RecoverOptions{LocalData: true, Out: &out})
		t.Logf("recover --from-local-data said:\n%s", out.String())
		cli = startRecovered(t, c, rec, oldCluster)
		if a, b := countKeys(t, cli, "a"), countKeys(t, cli, "b"); a != 40 || b != 20 {
			t.Errorf("after recovering from the local data: %d and %d keys, want 40 and 20", a, b)
		}
		if !strings.HasPrefix(rec.Snapshot, h.Snapshots.Dir+string(filepath.Separator)) {
			t.Errorf("the snapshot of the local data %s is not kept in %s", rec.Snapshot, h.Snapshots.Dir)
		}
		c.Stop(t, 0)

		rec2 := recoverOK(t, h, RecoverOptions{Snapshot: snap.Path})
		cli = startRecovered(t, c, rec2, rec.ClusterID)
		if a, b := countKeys(t, cli, "a"), countKeys(t, cli, "b"); a != 40 || b != 0 {
			t.Errorf("after recovering from the snapshot: %d and %d keys, want 40 and none written after it", a, b)
		}
		if moved, _ := filepath.Glob(h.Layout.DataDir + ".moved-*"); len(moved) != 2 {
			t.Errorf("moved-aside copies %v, want one per recovery", moved)
		}
	})
}

// recoverOK recovers and checks what the data dir and the state file say.
func recoverOK(t *testing.T, h Host, opt RecoverOptions) Recovery {
	t.Helper()
	rec, err := Recover(ctxFor(t), h, opt)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	d, err := datadir.Inspect(h.Layout)
	if err != nil || d.Kind != plan.DataPresent || d.MemberID != rec.MemberID || d.ClusterID != rec.ClusterID {
		t.Fatalf("data dir after recover: %+v, %v; want member %x of cluster %x", d, err, rec.MemberID, rec.ClusterID)
	}
	mem, err := datadir.LoadMemory(h.StateFile)
	if err != nil || mem.Recovered == nil || mem.Recovered.ClusterID != rec.ClusterID || mem.ClusterID != rec.ClusterID ||
		mem.MemberID != rec.MemberID {
		t.Fatalf("state file after recover: %+v (recovered %+v), %v", mem, mem.Recovered, err)
	}
	if opt.Snapshot != "" && mem.Recovered.From != opt.Snapshot {
		t.Errorf("recovered from %q, want %q", mem.Recovered.From, opt.Snapshot)
	}
	if leftovers, _ := filepath.Glob(h.Layout.DataDir + ".recover-*"); len(leftovers) != 0 {
		t.Errorf("recover left %v behind", leftovers)
	}
	return rec
}

// startRecovered starts etcd on the recovered data: alone, under the new
// cluster ID, which is not old.
func startRecovered(t *testing.T, c *testetcd.Cluster, rec Recovery, old uint64) *clientv3.Client {
	t.Helper()
	c.Start(t, 0, "existing")
	cli := c.Client(t)
	if id := clusterID(t, cli); id != rec.ClusterID || id == old {
		t.Errorf("cluster ID %x, want the recovered %x (not the old %x)", id, rec.ClusterID, old)
	}
	resp, err := cli.MemberList(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Members) != 1 || resp.Members[0].ID != rec.MemberID || resp.Members[0].PeerURLs[0] != c.Nodes[0].PeerURL {
		t.Errorf("members %+v, want %x alone at %s", resp.Members, rec.MemberID, c.Nodes[0].PeerURL)
	}
	return cli
}

func clusterID(t *testing.T, cli *clientv3.Client) uint64 {
	t.Helper()
	resp, err := cli.Get(ctxFor(t), "x")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.ClusterId
}

func truncatedCopy(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "truncated.snapshot")
	if err := os.WriteFile(p, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshotOfDirs lists what is beside the data dir and in the state file's
// and snapshot dirs, with sizes.
func snapshotOfDirs(t *testing.T, h Host) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{filepath.Dir(h.Layout.DataDir), filepath.Dir(h.StateFile), h.Snapshots.Dir} {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || strings.HasSuffix(p, ".log") {
				return nil
			}
			if fi, err := d.Info(); err == nil && !d.IsDir() {
				out = append(out, p+" "+fi.ModTime().String())
			} else {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}
