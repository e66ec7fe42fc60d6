package member

import (
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Without a quorum, no member can prove its list is current: Members fails
// instead of returning what one member happens to have applied (etcd 3.4
// would serve that), and Observe reports no quorum.
func TestMembersNeedsAProvenCurrentMember(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.15", 3, t.TempDir()))
		o := optionsFor(t, c)
		o.RequestTimeout = time.Second
		ctx := ctxFor(t)
		cli, err := Dial(ctx, o.ClientURLs[:1], o)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer func() { _ = cli.Close() }()
		if ms, err := cli.Members(ctx); err != nil || len(ms) != 3 {
			t.Fatalf("Members with quorum = %+v, %v; want 3 members", ms, err)
		}
		c.Stop(t, 1)
		c.Stop(t, 2)
		if ms, err := cli.Members(ctx); err == nil {
			t.Fatalf("Members without quorum = %+v; want an error (no linearizable read)", ms)
		} else if !strings.Contains(err.Error(), "linearizable read") {
			t.Errorf("error %q does not say the linearizable read failed", err)
		}
		got := observe(t, o)
		if got.Quorum || !got.Reachable || len(got.Members) != 3 {
			t.Errorf("Observe = reachable %t quorum %t with %d members; want reachable, no quorum, the list for information",
				got.Reachable, got.Quorum, len(got.Members))
		}
	})
}

// Members of two clusters answering with a leader is a conflict; a member of
// another cluster never counts as healthy in this one.
func TestObserveTwoClusters(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		dir := t.TempDir()
		a := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.16", 3, dir))
		b := testetcd.StartCluster(t, v, []testetcd.Node{testetcd.NewNode("n1", "127.0.16.9", t.TempDir())})
		_, clusterA := truth(t, a)
		_, clusterB := truth(t, b)
		o := optionsFor(t, a)
		o.ClientURLs = append(o.ClientURLs, b.Nodes[0].ClientURL)
		got := observe(t, o)
		for _, want := range []string{plan.HexID(clusterA), plan.HexID(clusterB), b.Nodes[0].ClientURL} {
			if !strings.Contains(got.Conflict, want) {
				t.Errorf("Conflict %q does not name %s", got.Conflict, want)
			}
		}
		if p := plan.Decide(plan.Observation{Self: plan.Self{Name: "x", PeerURLs: []string{"http://127.0.16.7:2380"}},
			Data: plan.LocalData{Kind: plan.DataNone}, Cluster: got, Learner: true}); p.Action != plan.Wait {
			t.Errorf("decision with two clusters answering = %s (%s), want wait", p.Action, p.Reason)
		}
	})
}

// Update rewrites a member's peer URLs; Lock is exclusive across clients
// and freed by its release.
func TestUpdateAndLock(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.17", 3, t.TempDir()))
		ids, _ := truth(t, c)
		o := optionsFor(t, c)
		ctx := ctxFor(t)
		cli, err := Dial(ctx, o.ClientURLs[:2], o)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer func() { _ = cli.Close() }()

		c.Stop(t, 2)
		moved := []string{"http://127.0.17.7:2380"}
		if err := cli.Update(ctx, ids["n3"], moved); err != nil {
			t.Fatalf("Update: %v", err)
		}
		ms, err := cli.Members(ctx)
		if m, ok := memberWithPeer(ms, moved[0]); err != nil || !ok || m.ID != ids["n3"] {
			t.Errorf("after Update: %+v, %v; want n3 (%x) at %s", ms, err, ids["n3"], moved[0])
		}

		o.RequestTimeout = 2 * time.Second
		other, err := Dial(ctx, o.ClientURLs[1:2], o)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer func() { _ = other.Close() }()
		unlock, err := cli.Lock(ctx, "test")
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if _, err := other.Lock(ctx, "test"); !errors.Is(err, ErrLockBusy) {
			t.Errorf("second Lock while held: %v, want ErrLockBusy", err)
		}
		unlock()
		unlock2, err := other.Lock(ctx, "test")
		if err != nil {
			t.Fatalf("Lock after release: %v", err)
		}
		unlock2()
	})
}

// The local member under TLS is named by its advertised URL and reached at
// its listen address.
func TestLocalFor(t *testing.T) {
	cfg, err := config.Load(config.Input{Environ: []string{
		"ETCD_NAME=n1", "ETCD_INITIAL_CLUSTER=n1=https://10.0.0.1:2380", "ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.1:2380",
		"ETCD_LISTEN_PEER_URLS=https://10.0.0.1:2380", "ETCD_PEER_CERT_FILE=/c", "ETCD_PEER_KEY_FILE=/k",
		"ETCD_LISTEN_CLIENT_URLS=https://0.0.0.0:2379", "ETCD_ADVERTISE_CLIENT_URLS=https://etcd1.example:2379,https://10.0.0.1:2379",
		"ETCD_CERT_FILE=/c", "ETCD_KEY_FILE=/k"}})
	if err != nil {
		t.Fatal(err)
	}
	endpoint, o := LocalFor(cfg, nil)
	if endpoint != "https://etcd1.example:2379" || o.DialAddress != "127.0.0.1:2379" {
		t.Errorf("LocalFor = %s via %q, want https://etcd1.example:2379 via 127.0.0.1:2379", endpoint, o.DialAddress)
	}
	cfg.LocalAdvertisedURL = ""
	if endpoint, o := LocalFor(cfg, nil); endpoint != "https://127.0.0.1:2379" || o.DialAddress != "" {
		t.Errorf("without TLS naming: %s via %q", endpoint, o.DialAddress)
	}
}

// An observation asks every endpoint for its list beside its status, but
// takes only the list of an endpoint it then names: an answer that came
// first from another cluster's member waits and is not taken for this one.
func TestListsTakeOnlyNamedEndpoints(t *testing.T) {
	v := testetcd.Versions(t)[0]
	dir := t.TempDir()
	a := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.18", 3, dir))
	b := testetcd.StartCluster(t, v, []testetcd.Node{testetcd.NewNode("n1", "127.0.18.9", t.TempDir())})
	_, clusterA := truth(t, a)
	_, clusterB := truth(t, b)
	o := optionsFor(t, a).withDefaults()
	epA, epB := a.Nodes[0].ClientURL, b.Nodes[0].ClientURL
	cfg, err := o.clientConfig([]string{epA, epB})
	if err != nil {
		t.Fatal(err)
	}
	l := askLists(ctxFor(t), cfg, o, []string{epB})
	defer l.close()
	time.Sleep(500 * time.Millisecond) // b's answer is in and waits
	clusterOf := func(list *clientv3.MemberListResponse) uint64 {
		if list == nil {
			return 0
		}
		return list.Header.GetClusterId()
	}
	list, err := l.first([]string{epA}) // asked only now
	if err != nil || clusterOf(list) != clusterA {
		t.Fatalf("first(a) = cluster %x, %v; want a's list (cluster %x), not b's (%x)", clusterOf(list), err, clusterA, clusterB)
	}
	if list, err := l.first([]string{epB}); err != nil || clusterOf(list) != clusterB {
		t.Fatalf("first(b) = cluster %x, %v; want b's list kept from before (cluster %x)", clusterOf(list), err, clusterB)
	}
	if _, err := l.first(nil); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("first() of no endpoint = %v, want ErrNoEndpoint", err)
	}
	a.Stop(t, 1)
	a.Stop(t, 2)
	o.RequestTimeout = time.Second
	l2 := askLists(ctxFor(t), cfg, o, []string{epA})
	defer l2.close()
	if list, err := l2.first([]string{epA}); err == nil || !strings.Contains(err.Error(), "linearizable read") {
		t.Errorf("first(a) without quorum = %v, %v; want the failed linearizable read", list, err)
	}
}
