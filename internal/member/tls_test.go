package member

import (
	"strings"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

func TestTLS(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version) {
		c := testetcd.StartCluster(t, v, testetcd.Nodes("127.0.14", 3, t.TempDir()), testetcd.TLS())
		ids, clusterID := truth(t, c)
		o := optionsFor(t, c)

		t.Run("with certificates", func(t *testing.T) {
			got := observe(t, o)
			assertCluster(t, got, c, ids, clusterID)
			if !got.Quorum || len(got.Errors) != 0 {
				t.Errorf("Quorum %t Errors %q, want quorum and no errors", got.Quorum, got.Errors)
			}
			h, err := LocalHealth(ctxFor(t), c.Nodes[0].ClientURL, o)
			if err != nil || h.MemberID != ids["n1"] || !h.Ready() {
				t.Errorf("LocalHealth of n1 = %+v, %v; want member %x ready", h, err, ids["n1"])
			}
		})
		t.Run("discovery through TLS peers", func(t *testing.T) {
			o := o
			o.ClientURLs = nil
			got := observe(t, o)
			assertCluster(t, got, c, ids, clusterID)
			if !got.Quorum {
				t.Errorf("no quorum: %q", got.Errors)
			}
		})
		noCert := o
		noCert.ClientTLS = TLS{TrustedCAFile: c.ClientTLS.CAFile}
		noCert.PeerTLS = noCert.ClientTLS
		for name, bad := range map[string]Options{
			"no TLS settings": {ClientURLs: o.ClientURLs, PeerURLs: o.PeerURLs, DialTimeout: o.DialTimeout, RequestTimeout: o.RequestTimeout, Log: o.Log},
			"no client cert":  noCert,
		} {
			t.Run(name, func(t *testing.T) { assertTLSFailure(t, c, bad) })
		}
	})
}

// assertTLSFailure checks that without a usable certificate nothing is
// reachable and every error names TLS.
func assertTLSFailure(t *testing.T, c *testetcd.Cluster, o Options) {
	got := observe(t, o)
	if got.Reachable || got.Quorum {
		t.Errorf("Reachable %t Quorum %t without certificates", got.Reachable, got.Quorum)
	}
	if len(got.Errors) != 6 {
		t.Errorf("%d errors, want 6 (3 client, 3 peer URLs): %q", len(got.Errors), got.Errors)
	}
	for _, e := range got.Errors {
		if !strings.Contains(e, "TLS") {
			t.Errorf("error does not name TLS: %s", e)
		}
	}
	_, err := LocalHealth(ctxFor(t), c.Nodes[0].ClientURL, o)
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("LocalHealth error %v does not name TLS", err)
	}
	t.Logf("LocalHealth: %v", err)
}
