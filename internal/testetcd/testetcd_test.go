package testetcd

import (
	"context"
	"strings"
	"testing"
	"time"
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
