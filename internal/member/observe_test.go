package member

import (
	"slices"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

func TestObserve(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.10", 3, t.TempDir()))
		ids, clusterID := truth(t, c)
		o := optionsFor(t, c)

		t.Run("healthy", func(t *testing.T) {
			got := observe(t, o)
			assertCluster(t, got, c, ids, clusterID)
			for _, m := range got.Members {
				if !m.Healthy {
					t.Errorf("member %s not healthy", m.Name)
				}
			}
			if !got.Quorum || len(got.Errors) != 0 {
				t.Errorf("Quorum %t, Errors %q; want quorum and no errors", got.Quorum, got.Errors)
			}
		})
		t.Run("discovery through peers", func(t *testing.T) {
			o := o
			o.ClientURLs = nil
			o.SelfPeerURLs = []string{c.Nodes[0].PeerURL}
			urls, err := DiscoverClientURLs(ctxFor(t), o)
			if err != nil {
				t.Fatalf("DiscoverClientURLs: %v", err)
			}
			slices.Sort(urls)
			if want := testetcd.ClientURLs(c.Nodes); !slices.Equal(urls, want) {
				t.Errorf("discovered %v, want %v", urls, want)
			}
			got := observe(t, o)
			assertCluster(t, got, c, ids, clusterID)
			if !got.Quorum {
				t.Errorf("no quorum through discovered endpoints: %q", got.Errors)
			}
		})
		t.Run("one stopped", func(t *testing.T) {
			c.Stop(t, 2)
			got := observe(t, o)
			assertCluster(t, got, c, ids, clusterID)
			if m := memberNamed(t, got, "n3"); m.Healthy {
				t.Errorf("stopped n3 reported healthy")
			}
			if !memberNamed(t, got, "n1").Healthy || !memberNamed(t, got, "n2").Healthy {
				t.Errorf("n1 or n2 not healthy: %+v", got.Members)
			}
			if !got.Quorum {
				t.Errorf("no quorum with 2 of 3 up: %q", got.Errors)
			}
			assertErrorsName(t, got.Errors, c.Nodes[2].ClientURL)
		})
		t.Run("two stopped", func(t *testing.T) {
			c.Stop(t, 1)
			got := observe(t, o)
			if !got.Reachable || got.Quorum {
				t.Fatalf("Reachable %t Quorum %t, want reachable without quorum", got.Reachable, got.Quorum)
			}
			assertCluster(t, got, c, ids, clusterID)
			if got.Members[0].Healthy && got.Members[1].Healthy {
				t.Errorf("more than one member healthy: %+v", got.Members)
			}
			assertErrorsName(t, got.Errors, c.Nodes[1].ClientURL, c.Nodes[2].ClientURL)
		})
		t.Run("nothing running", func(t *testing.T) {
			c.Stop(t, 0)
			got := observe(t, o)
			if got.Reachable || got.Quorum || len(got.Members) != 0 {
				t.Fatalf("got %+v, want unreachable and empty", got)
			}
			assertErrorsName(t, got.Errors, append(testetcd.ClientURLs(c.Nodes), testetcd.PeerURLs(c.Nodes)...)...)
		})
	})
}

func TestObserveNeverFormed(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.NewCluster(t, v, testetcd.Nodes("127.0.11", 3, t.TempDir()))
		c.Launch(t, 0, "new", "")
		c.WaitPeer(t, 0)
		o := optionsFor(t, c)
		o.SelfPeerURLs = []string{c.Nodes[2].PeerURL}
		got := observe(t, o)
		if !got.Reachable || got.Quorum || got.Formed() {
			t.Fatalf("Reachable %t Quorum %t Formed %t, want reachable, no quorum, not formed; errors %q",
				got.Reachable, got.Quorum, got.Formed(), got.Errors)
		}
		if got.ClusterID == 0 {
			t.Errorf("no cluster ID from the peer answer")
		}
		if len(got.Members) != 3 {
			t.Fatalf("%d members, want 3: %+v", len(got.Members), got.Members)
		}
		for i, n := range c.Nodes {
			m := memberNamed(t, got, n.Name)
			if m.Started() || m.Healthy || !slices.Equal(m.PeerURLs, []string{n.PeerURL}) || m.ID == 0 {
				t.Errorf("member %d = %+v, want unstarted with peer URL %s", i, m, n.PeerURL)
			}
		}
		assertErrorsName(t, got.Errors, testetcd.ClientURLs(c.Nodes)...)
	})
}

func observe(t *testing.T, o Options) plan.Cluster {
	t.Helper()
	got, err := Observe(ctxFor(t), o)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	t.Logf("observed %+v", got)
	return got
}

// assertCluster checks reachability, cluster ID, and each member's ID, name
// and peer URL against the harness's view.
func assertCluster(t *testing.T, got plan.Cluster, c *testetcd.Cluster, ids map[string]uint64, clusterID uint64) {
	t.Helper()
	if !got.Reachable {
		t.Fatalf("not reachable: %q", got.Errors)
	}
	if got.ClusterID != clusterID {
		t.Errorf("ClusterID %x, want %x", got.ClusterID, clusterID)
	}
	if len(got.Members) != len(c.Nodes) {
		t.Fatalf("%d members, want %d: %+v", len(got.Members), len(c.Nodes), got.Members)
	}
	for _, n := range c.Nodes {
		m := memberNamed(t, got, n.Name)
		if m.ID != ids[n.Name] || !slices.Equal(m.PeerURLs, []string{n.PeerURL}) || !slices.Equal(m.ClientURLs, []string{n.ClientURL}) || m.IsLearner {
			t.Errorf("member %s = %+v, want ID %x, peer %s, client %s, voter", n.Name, m, ids[n.Name], n.PeerURL, n.ClientURL)
		}
	}
}
