package lifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback ranges of this package: host numbers 101-199 of 127.0.238.0/24
// and 127.0.239.0/24 (the e2e lifecycle benchmark takes 1-3 of each). Each
// test that runs etcd takes a block of host numbers in one of them, one
// cluster per etcd version in the block (see addr).
const (
	netSnap  = "127.0.238" // snapshots .101-.109, applied index .111-.119, recover .121-.129, round failures .131-.139
	netLeave = "127.0.239" // leave .101-.109, last member .131-.139
)

// addr is host number 100+base+version*3+member+1 of net: three members per
// etcd version.
func addr(net string, base, version, member int) string {
	return fmt.Sprintf("%s.%d", net, 100+base+3*version+member+1)
}

func ctxFor(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// forVersions runs fn as a subtest for each etcd version present, one after
// the other (the machine has two cores).
func forVersions(t *testing.T, fn func(t *testing.T, v testetcd.Version, vi int)) {
	t.Helper()
	for i, v := range testetcd.Versions(t) {
		t.Run(v.Name, func(t *testing.T) { fn(t, v, i) })
	}
}

// startCluster starts n members of v on net, block base.
func startCluster(t *testing.T, v testetcd.Version, vi int, net string, base, n int) *testetcd.Cluster {
	t.Helper()
	dir := t.TempDir()
	nodes := make([]testetcd.Node, n)
	for i := range nodes {
		nodes[i] = testetcd.NewNode(fmt.Sprintf("m%d", i+1), addr(net, base, vi, i), dir)
	}
	return testetcd.StartCluster(t, v, nodes)
}

// testLog writes to the test's log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// hostFor describes member i of c as its etcd-rejoin would: the other
// members' client URLs configured, its state file and snapshot dir in a
// directory of the test.
func hostFor(t *testing.T, c *testetcd.Cluster, i int) Host {
	t.Helper()
	n := c.Nodes[i]
	var others []string
	for j, o := range c.Nodes {
		if j != i {
			others = append(others, o.ClientURL)
		}
	}
	dir := t.TempDir()
	o := member.Options{ClientURLs: others, DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second, Log: testLog(t)}
	local := o
	local.ClientURLs = nil
	return Host{
		Name: n.Name, PeerURLs: []string{n.PeerURL},
		Layout:    datadir.Layout{DataDir: n.DataDir},
		StateFile: filepath.Join(dir, n.Name+".rejoin-state.json"), KeepBackups: 3,
		EtcdBinary: c.Version.Binary, LocalClientURL: n.ClientURL, LocalEndpoint: n.ClientURL,
		ClusterToken: "testetcd",
		Snapshots:    Schedule{Interval: time.Second, Keep: 2, Dir: filepath.Join(dir, "snapshots"), CommandTimeout: 10 * time.Second},
		Cluster:      o, Local: local,
		StopTimeout: 10 * time.Second, WaitBackoffMax: 2 * time.Second, Log: testLog(t),
	}
}

// opener streams snapshots of the member cli talks to.
func opener(cli *clientv3.Client) func(ctx context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) { return cli.Snapshot(ctx) }
}

// putKeys writes n keys under prefix and returns the last revision.
func putKeys(t *testing.T, cli *clientv3.Client, prefix string, n int) int64 {
	t.Helper()
	var rev int64
	for k := range n {
		resp, err := cli.Put(ctxFor(t), fmt.Sprintf("%s/%03d", prefix, k), fmt.Sprintf("v%d", k))
		if err != nil {
			t.Fatalf("put %s/%03d: %v", prefix, k, err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// countKeys counts the keys under prefix.
func countKeys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(ctxFor(t), prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("count %s: %v", prefix, err)
	}
	return resp.Count
}
