package testetcd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestNodesAndInitialCluster(t *testing.T) {
	nodes := Nodes("127.0.9", 2, "/d")
	want := "n1=http://127.0.9.1:2380,n2=http://127.0.9.2:2380"
	if got := InitialCluster(nodes); got != want {
		t.Fatalf("InitialCluster = %q, want %q", got, want)
	}
	if nodes[1].ClientURL != "http://127.0.9.2:2379" || nodes[1].DataDir != "/d/n2.etcd" {
		t.Fatalf("node 2 = %+v", nodes[1])
	}
}

func TestLineRingKeepsLastLines(t *testing.T) {
	r := &lineRing{}
	for i := 0; i < 100; i++ {
		_, _ = r.Write([]byte(strings.Repeat("x", i%3) + "line\n"))
	}
	_, _ = r.Write([]byte("tail"))
	got := strings.Split(r.Last(), "\n")
	if len(got) != logLines+1 || got[len(got)-1] != "tail" {
		t.Fatalf("kept %d lines, last %q", len(got), got[len(got)-1])
	}
}

func TestCluster(t *testing.T) {
	for _, v := range Versions(t) {
		t.Run(v.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				opts []Option
			}{{"plain", nil}, {"tls", []Option{TLS()}}} {
				t.Run(tc.name, func(t *testing.T) { testCluster(t, v, tc.opts) })
			}
		})
	}
}

func testCluster(t *testing.T, v Version, opts []Option) {
	c := StartCluster(t, v, Nodes("127.0.9", 3, t.TempDir()), opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli := c.Client(t)
	if _, err := cli.Put(ctx, "k", "v1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	resp, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	if len(resp.Members) != 3 {
		t.Fatalf("%d members, want 3", len(resp.Members))
	}
	for _, m := range resp.Members {
		if len(m.PeerURLs) != 1 || !strings.HasPrefix(m.PeerURLs[0], map[bool]string{true: "https", false: "http:"}[c.CA != nil]) {
			t.Fatalf("member %s peer URLs %v", m.Name, m.PeerURLs)
		}
	}
	c.Stop(t, 2)
	if c.Running(2) {
		t.Fatal("n3 still running after Stop")
	}
	c.Start(t, 2, "existing")
	got, err := c.MemberClient(t, 2).Get(ctx, "k")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v1" {
		t.Fatalf("get k through restarted n3: %v %v", got, err)
	}
	c.Kill(t, 0)
	if c.Running(0) {
		t.Fatal("n1 still running after Kill")
	}
}

func TestWaitPeerOfUnformedCluster(t *testing.T) {
	v := Versions(t)[0]
	c := NewCluster(t, v, Nodes("127.0.9", 3, t.TempDir()))
	c.Launch(t, 0, "new", "")
	c.WaitPeer(t, 0)
	if !c.Running(0) {
		t.Fatal("n1 not running")
	}
}

func TestVersionPaths(t *testing.T) {
	for _, env := range []string{EnvEtcd34, EnvEtcd35, EnvEtcd36} {
		t.Setenv(env, "")
	}
	t.Setenv(EnvCache, "/c")
	got := all()
	want := []Version{
		{Name: "3.4", Binary: "/usr/bin/etcd"},
		{Name: "3.5", Binary: "/c/etcd-v3.5.35/etcd", Etcdutl: "/c/etcd-v3.5.35/etcdutl"},
		{Name: "3.6", Binary: "/c/etcd-v3.6.16/etcd", Etcdutl: "/c/etcd-v3.6.16/etcdutl"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with %s=/c:\n got %+v\nwant %+v", EnvCache, got, want)
	}
	t.Setenv(EnvCache, "")
	t.Setenv(EnvEtcd35, "/opt/etcd35/bin/etcd")
	if got := all()[1]; got.Binary != "/opt/etcd35/bin/etcd" || got.Etcdutl != "/opt/etcd35/bin/etcdutl" {
		t.Fatalf("with %s set: %+v", EnvEtcd35, got)
	}
	if got := all()[2]; got.Binary != DefaultEtcd36 {
		t.Fatalf("without %s: 3.6 is %+v, want %s", EnvCache, got, DefaultEtcd36)
	}
}

func TestVersionCheckNeedsEtcdutl(t *testing.T) {
	dir := t.TempDir()
	etcd := filepath.Join(dir, "etcd")
	if err := os.WriteFile(etcd, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	v := Version{Name: "3.6", Binary: etcd, Etcdutl: filepath.Join(dir, "etcdutl")}
	if err := v.check(); err == nil || !strings.Contains(err.Error(), "etcdutl") {
		t.Fatalf("check without etcdutl = %v, want an etcdutl error", err)
	}
	if err := os.Symlink("etcd", v.Etcdutl); err != nil {
		t.Fatal(err)
	}
	if err := v.check(); err != nil {
		t.Fatalf("check with etcdutl -> etcd: %v", err)
	}
	if err := (Version{Name: "3.4", Binary: etcd}).check(); err != nil {
		t.Fatalf("3.4 needs no etcdutl: %v", err)
	}
}

// Each release's snapshot tool (etcdutl, or etcdctl for 3.4) reports its
// own release, reads a snapshot of a real member, and restores it into a
// data dir that a new member serves every key from.
func TestSnapshotTool(t *testing.T) {
	for _, v := range Versions(t) {
		t.Run(v.Name, func(t *testing.T) { testSnapshotTool(t, v) })
	}
}

func testSnapshotTool(t *testing.T, v Version) {
	tool := v.SnapshotTool(t)
	if v.Etcdutl != "" {
		out := runTool(t, tool, "version")
		if !strings.HasPrefix(out, "etcdutl version: "+v.Name+".") {
			t.Fatalf("%s version printed %q, want etcdutl %s.x", tool, out, v.Name)
		}
	}
	dir := t.TempDir()
	c := StartCluster(t, v, Nodes("127.0.9", 1, dir))
	rev := putKeys(t, c, 10)
	snap := saveSnapshot(t, c, filepath.Join(dir, "snap.db"))
	c.Stop(t, 0)

	var status struct {
		Revision int64 `json:"revision"`
		TotalKey int   `json:"totalKey"`
	}
	out := jsonLine(runTool(t, tool, "snapshot", "status", "-w", "json", snap))
	if err := json.Unmarshal([]byte(out), &status); err != nil || status.Revision != rev || status.TotalKey < 10 {
		t.Fatalf("snapshot status = %q (%v), want revision %d and at least 10 keys", out, err, rev)
	}

	n := NewNode("n1", "127.0.9.1", filepath.Join(dir, "restored"))
	runTool(t, tool, "snapshot", "restore", snap, "--data-dir", n.DataDir, "--name", n.Name,
		"--initial-cluster", InitialCluster([]Node{n}), "--initial-advertise-peer-urls", n.PeerURL,
		"--initial-cluster-token", "restored")
	r := NewCluster(t, v, []Node{n})
	r.Start(t, 0, "new")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := r.Client(t).Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || got.Count != 10 {
		t.Fatalf("keys served from the restored data dir: %v (%v), want 10", got, err)
	}
}

func putKeys(t *testing.T, c *Cluster, n int) (rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		resp, err := c.Client(t).Put(ctx, fmt.Sprintf("k/%02d", i), "v")
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

func saveSnapshot(t *testing.T, c *Cluster, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rc, err := c.Client(t).Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatalf("write snapshot: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func runTool(t *testing.T, tool string, args ...string) string {
	t.Helper()
	r := testcmd.Run(t, time.Minute, "", append(os.Environ(), "ETCDCTL_API=3"), tool, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: exit %d:\n%s", tool, strings.Join(args, " "), r.Code, r.Out)
	}
	return r.Out
}

// jsonLine returns the line of out that holds a JSON object (the tools log
// to stderr, which runTool merges).
func jsonLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") && !strings.Contains(l, `"level"`) {
			return l
		}
	}
	return out
}
