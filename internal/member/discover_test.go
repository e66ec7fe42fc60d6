package member

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestObserveLooksAgainBesideUnformedPeer: without peer-client-urls, a peer
// whose list shows no started member is asked again after the dial timeout
// before the cluster counts as never formed. The fake peer answers "never
// formed" first and lists a started member (a formed cluster whose members
// were still restarting) the second time; Observe must report the formed
// cluster. A fake peer is used because a real etcd's answer cannot be made
// to change at a chosen request.
func TestObserveLooksAgainBesideUnformedPeer(t *testing.T) {
	const peer, self = "http://127.0.186.1:2380", "http://127.0.186.3:2380"
	var asked atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != peerMembersPath {
			http.NotFound(w, r)
			return
		}
		list := []peerMember{
			{ID: 0xa1, Name: "n1", PeerURLs: []string{peer}},
			{ID: 0xa3, Name: "n3", PeerURLs: []string{self}},
		}
		if asked.Add(1) > 1 {
			list[0].ClientURLs = []string{"http://127.0.186.1:2379"}
		}
		w.Header().Set("X-Etcd-Cluster-ID", "c1")
		_ = json.NewEncoder(w).Encode(list)
	}))
	l, err := net.Listen("tcp", "127.0.186.1:2380")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)

	o := Options{PeerURLs: []string{peer, self}, SelfPeerURLs: []string{self},
		DialTimeout: 200 * time.Millisecond, RequestTimeout: time.Second, Log: testLogger(t)}
	got := observe(t, o)
	if n := asked.Load(); n != 2 {
		t.Errorf("the peer was asked %d times, want 2", n)
	}
	if !got.Reachable || !got.Formed() || got.Quorum || got.ClusterID != 0xc1 {
		t.Fatalf("Reachable %t Formed %t Quorum %t cluster %x, want the formed cluster of the second answer (no quorum)",
			got.Reachable, got.Formed(), got.Quorum, got.ClusterID)
	}
	assertErrorsName(t, got.Errors, "http://127.0.186.1:2379")
}
