package snapshot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback ranges of this package: 127.0.160.0/24 - 127.0.169.0/24, one /24
// per test that runs etcd, one address per etcd version in it.
const (
	netTake    = "127.0.160"
	netVerify  = "127.0.161"
	netRestore = "127.0.162"
	netBench   = "127.0.164"
)

func ctxFor(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// forVersions runs fn as a subtest for each etcd version present; each
// version gets its own host number, so its member has its own address.
func forVersions(t *testing.T, fn func(t *testing.T, v testetcd.Version, host int)) {
	t.Helper()
	for i, v := range testetcd.Versions(t) {
		t.Run(v.Name, func(t *testing.T) { fn(t, v, i+1) })
	}
}

// startOne starts a one-member cluster of v on prefix.host.
func startOne(t testing.TB, v testetcd.Version, prefix string, host int) *testetcd.Cluster {
	t.Helper()
	n := testetcd.NewNode("s1", fmt.Sprintf("%s.%d", prefix, host), t.TempDir())
	return testetcd.StartCluster(t, v, []testetcd.Node{n})
}

// opener streams snapshots of the member cli talks to.
func opener(cli *clientv3.Client) Opener {
	return func(ctx context.Context) (io.ReadCloser, error) { return cli.Snapshot(ctx) }
}

// written is what writeKeys left in the cluster.
type written struct {
	values   map[string]string // the live keys and their values
	revision int64             // the revision after the last write
}

// writeKeys puts k000..k099, overwrites k000..k009, deletes k090..k099:
// 90 live keys, 120 revisions after the cluster's first.
func writeKeys(t *testing.T, cli *clientv3.Client) written {
	t.Helper()
	ctx := ctxFor(t)
	w := written{values: map[string]string{}}
	put := func(k, v string) {
		resp, err := cli.Put(ctx, k, v)
		if err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		w.values[k], w.revision = v, resp.Header.Revision
	}
	for i := range 100 {
		put(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i))
	}
	for i := range 10 {
		put(fmt.Sprintf("k%03d", i), fmt.Sprintf("again%d", i))
	}
	for i := 90; i < 100; i++ {
		k := fmt.Sprintf("k%03d", i)
		resp, err := cli.Delete(ctx, k)
		if err != nil || resp.Deleted != 1 {
			t.Fatalf("delete %s: %v (deleted %d)", k, err, resp.Deleted)
		}
		delete(w.values, k)
		w.revision = resp.Header.Revision
	}
	return w
}

// snapshotOf starts a one-member cluster of v, writes keys and takes a
// snapshot into a new dir.
func snapshotOf(t *testing.T, v testetcd.Version, prefix string, host int) (*testetcd.Cluster, written, Info) {
	t.Helper()
	c := startOne(t, v, prefix, host)
	w := writeKeys(t, c.Client(t))
	info, err := Take(ctxFor(t), opener(c.Client(t)), t.TempDir(), time.Now())
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return c, w, info
}

// dirNames lists the names in dir, hidden ones included.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// writeFile writes b to name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// toolFor is FindTool for v; a missing tool fails the test under CI and
// skips it elsewhere.
func toolFor(t *testing.T, v testetcd.Version) Tool {
	t.Helper()
	tool, err := FindTool(v.Binary)
	if err != nil {
		if testetcd.InCI() {
			t.Fatalf("FindTool: %v", err)
		}
		t.Skipf("no restore tool for etcd %s (run scripts/deps.sh): %v", v.Name, err)
	}
	return tool
}
