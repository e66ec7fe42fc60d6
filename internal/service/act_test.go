package service

import (
	"reflect"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

func TestInitialClusterFromLiveMembers(t *testing.T) {
	members := []plan.Member{
		{ID: 0x2, Name: "n2", PeerURLs: []string{"http://127.0.0.2:2380"}, ClientURLs: []string{"http://127.0.0.2:2379"}},
		{ID: 0xa, PeerURLs: []string{"http://127.0.0.1:2380"}, IsLearner: true}, // this member, just added, no name yet
		{ID: 0xb, PeerURLs: []string{"http://127.0.0.4:2380", "http://10.0.0.4:2380"}, IsLearner: true},
		{ID: 0x3, Name: "n3", PeerURLs: []string{"http://127.0.0.3:2380"}},
	}
	got := InitialCluster(members, 0xa, "n1")
	want := "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380," +
		"unstarted-b=http://10.0.0.4:2380,unstarted-b=http://127.0.0.4:2380"
	if got != want {
		t.Errorf("InitialCluster =\n %s\nwant\n %s", got, want)
	}
}

func TestSettingsDecideStateAndCluster(t *testing.T) {
	cfg, err := config.Load(config.Input{Environ: []string{
		"ETCD_NAME=n1", "ETCD_INITIAL_CLUSTER=n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380", "ETCD_INITIAL_CLUSTER_STATE=new",
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := settings(cfg, launch{state: "existing", initialCluster: "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,unstarted-b=http://x:2380"})
	if got["ETCD_INITIAL_CLUSTER_STATE"] != "existing" {
		t.Errorf("state = %q, want existing (decided by etcd-rejoin, not the environment)", got["ETCD_INITIAL_CLUSTER_STATE"])
	}
	if got["ETCD_INITIAL_CLUSTER"] != "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,unstarted-b=http://x:2380" {
		t.Errorf("initial cluster not rebuilt: %q", got["ETCD_INITIAL_CLUSTER"])
	}
	if got["ETCD_NAME"] != "n1" || got["ETCD_DATA_DIR"] != "n1.etcd" {
		t.Errorf("name %q data dir %q", got["ETCD_NAME"], got["ETCD_DATA_DIR"])
	}
	kept := settings(cfg, launch{state: "new"})
	if kept["ETCD_INITIAL_CLUSTER"] != "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380" || kept["ETCD_INITIAL_CLUSTER_STATE"] != "new" {
		t.Errorf("bootstrap settings = %v", kept)
	}
}

func TestHealthyEndpointsSkipSelfAndUnhealthy(t *testing.T) {
	c := plan.Cluster{Members: []plan.Member{
		{ID: 1, PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}, Healthy: true},
		{ID: 2, PeerURLs: []string{"http://127.0.0.2:2380"}, ClientURLs: []string{"http://127.0.0.2:2379"}, Healthy: true},
		{ID: 3, PeerURLs: []string{"http://127.0.0.3:2380"}, ClientURLs: []string{"http://127.0.0.3:2379"}},
	}}
	got := healthyEndpoints(c, []string{"http://127.0.0.1:2380"})
	if want := []string{"http://127.0.0.2:2379"}; !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
}
