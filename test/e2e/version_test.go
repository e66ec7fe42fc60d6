package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// netUpgrade is the loopback /24 of the rolling upgrade.
const netUpgrade = 110

// A rolling 3.4 -> 3.5 upgrade of a three-member cluster with the service
// running throughout: each host restarts on the new binary keeping its
// member ID and data. Before it, a 3.6 binary (two minors ahead) is refused;
// after it, a 3.4 binary (below the cluster version) is refused.
func TestRollingUpgrade(t *testing.T) {
	bins := map[string]string{}
	for _, v := range testetcd.Versions(t) {
		bins[v.Name] = v.Binary
	}
	v34 := testetcd.Version{Name: "3.4", Binary: bins["3.4"]}
	l := newLab(t, v34, "127.0."+itoa(netUpgrade), 3)
	l.startAll()
	l.put(20, "k")
	ids := map[int]uint64{}
	for i := range l.nodes {
		ids[i] = l.memberID(i, l.members())
	}

	l.hosts[0].stop(20 * time.Second)
	l.extra = []string{"ETCD_REJOIN_ETCD_BINARY=" + bins["3.6"]}
	if p, code := l.plan(0); p["action"] != "wait" || code != 3 || !strings.Contains(p["reason"].(string), "one minor release at a time") {
		t.Errorf("plan with etcd 3.6 on a 3.4 cluster = %v (exit %d), want a wait", p, code)
	}
	l.extra = []string{"ETCD_REJOIN_ETCD_BINARY=" + bins["3.5"]}
	for i := range l.nodes {
		if i > 0 {
			l.hosts[i].stop(20 * time.Second)
		}
		h := l.start(i)
		h.waitReady(t)
		if !strings.Contains(h.out.String(), "action=restart") {
			t.Errorf("%s did not restart on its data:\n%s", l.nodes[i].Name, h.tail(10))
		}
		if got := l.memberID(i, l.members()); got != ids[i] {
			t.Errorf("%s is member %x after the upgrade, want %x", l.nodes[i].Name, got, ids[i])
		}
	}
	waitClusterVersion(t, l.nodes[0].ClientURL, "3.5.0")
	for i := range l.nodes {
		if n := l.count(i, "k"); n != 20 {
			t.Errorf("%s: %d keys, want 20", l.nodes[i].Name, n)
		}
	}
	l.hosts[0].stop(20 * time.Second)
	l.extra = []string{"ETCD_REJOIN_ETCD_BINARY=" + bins["3.4"]}
	if p, code := l.plan(0); p["action"] != "wait" || code != 3 || !strings.Contains(p["reason"].(string), "below the cluster version") {
		t.Errorf("plan with etcd 3.4 on a 3.5 cluster = %v (exit %d), want a wait", p, code)
	}
}

// waitClusterVersion waits until the member's /version says want.
func waitClusterVersion(t *testing.T, clientURL, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/version", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var v struct {
				Cluster string `json:"etcdcluster"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if got = v.Cluster; got == want {
				cancel()
				return
			}
		}
		cancel()
		time.Sleep(time.Second)
	}
	t.Fatalf("cluster version %q, want %q", got, want)
}

// netLateMember is the loopback base of the late first-boot member test.
const netLateMember = 125

// A member that first starts after the other two formed the cluster: etcd
// keeps the cluster version at its placeholder 3.0 until the leader has
// heard every member, so the late member must not read it as a cluster
// two minor releases behind and wait for ever (found by the fault
// campaign's first boot). It joins under the entry of the initial cluster.
func TestLateFirstBootMemberJoins(t *testing.T) {
	forEachVersion(t, netLateMember, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.start(0)
		l.start(1)
		l.hosts[0].waitReady(t)
		l.hosts[1].waitReady(t)
		l.put(5, "k", 0, 1)
		h := l.start(2)
		h.waitReady(t)
		if out := h.out.String(); strings.Contains(out, "upgrades one minor release at a time") {
			t.Errorf("n3 waited on the placeholder cluster version:\n%s", h.tail(20))
		}
		startedVoters(t, l.members(), 3)
		if n := l.count(2, "k"); n != 5 {
			t.Errorf("%d keys through n3, want 5", n)
		}
	})
}
