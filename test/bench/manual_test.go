package bench

import (
	"fmt"
	"slices"
	"testing"
)

// etcdctl 3.4's `member list`: ID, status, name, peer URLs, client URLs,
// is learner. An entry added but not started has no name and no client URL.
const memberList = `1f2e3d4c5b6a7988, started, n1, http://127.0.200.1:2380, http://127.0.200.1:2379, false
2a2b2c2d2e2f2021, started, n2, http://127.0.200.2:2380, http://127.0.200.2:2379, false
3a3b3c3d3e3f3031, unstarted, , http://127.0.200.3:2380, , true
4a4b4c4d4e4f4041, started, n3, http://127.0.200.33:2380,http://127.0.200.3:2380, http://127.0.200.3:2379, false
`

func TestStaleIDs(t *testing.T) {
	got := staleIDs(memberList, "n3", "http://127.0.200.3:2380")
	want := []string{"3a3b3c3d3e3f3031", "4a4b4c4d4e4f4041"}
	if !slices.Equal(got, want) {
		t.Errorf("staleIDs = %v, want %v", got, want)
	}
	if got := staleIDs(memberList, "n9", "http://127.0.200.9:2380"); len(got) != 0 {
		t.Errorf("staleIDs of a member never listed = %v", got)
	}
}

func TestAddedInitialCluster(t *testing.T) {
	out := `Member 5f6ad020d8096446 added to cluster  a6f067ae8fd77bf

ETCD_NAME="n3"
ETCD_INITIAL_CLUSTER="n1=http://127.0.200.1:2380,n2=http://127.0.200.2:2380,n3=http://127.0.200.3:2380"
ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127.0.200.3:2380"
ETCD_INITIAL_CLUSTER_STATE="existing"
`
	got, err := addedInitialCluster(out)
	if err != nil || got != "n1=http://127.0.200.1:2380,n2=http://127.0.200.2:2380,n3=http://127.0.200.3:2380" {
		t.Errorf("addedInitialCluster = %q, %v", got, err)
	}
	if _, err := addedInitialCluster("Error: etcdserver: unhealthy cluster"); err == nil {
		t.Error("no error for output without ETCD_INITIAL_CLUSTER")
	}
}

// A member add that etcdctl gave up on is looked at and retried; a refusal
// is not.
func TestTimedOut(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want bool
	}{
		{"{\"level\":\"warn\",...} Error: context deadline exceeded", true},
		{"Error: etcdserver: request timed out", true},
		{"Error: etcdserver: unhealthy cluster", false},
		{"Error: etcdserver: Peer URLs already exists", false},
	} {
		err := fmt.Errorf("etcdctl member add n3: exit status 1: %s", tc.out)
		if got := timedOut(err); got != tc.want {
			t.Errorf("timedOut(%q) = %v, want %v", tc.out, got, tc.want)
		}
	}
}
