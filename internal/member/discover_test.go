package member

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

func TestProvesUnformed(t *testing.T) {
	const a, b = "http://10.0.0.1:2380", "http://10.0.0.2:2380"
	unstarted := []plan.Member{{ID: 1, Name: "a", PeerURLs: []string{a}}, {ID: 2, Name: "b", PeerURLs: []string{b}}}
	started := []plan.Member{{ID: 1, Name: "a", PeerURLs: []string{a}, ClientURLs: []string{"http://10.0.0.1:2379"}},
		{ID: 2, Name: "b", PeerURLs: []string{b}}}
	refusedErr := fmt.Errorf("peer %s: %w", b, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	timedOut := fmt.Errorf("peer %s: %w", b, os.ErrDeadlineExceeded)
	for _, tc := range []struct {
		name    string
		answers []peerAnswer
		want    bool
	}{
		{"every peer answers, none started", []peerAnswer{{url: a, members: unstarted}, {url: b, members: unstarted}}, true},
		{"one answers, the other refuses", []peerAnswer{{url: a, members: unstarted}, {url: b, err: refusedErr}}, true},
		{"trailing slash on the asked URL", []peerAnswer{{url: a + "/", members: unstarted}}, true},
		{"no peer to ask", nil, false},
		{"every peer refuses", []peerAnswer{{url: a, err: refusedErr}, {url: b, err: refusedErr}}, false},
		{"a member has started", []peerAnswer{{url: a, members: started}, {url: b, members: unstarted}}, false},
		{"a peer timed out", []peerAnswer{{url: a, members: unstarted}, {url: b, err: timedOut}}, false},
		{"a peer failed otherwise", []peerAnswer{{url: a, members: unstarted}, {url: b, err: errors.New("decode member list: EOF")}}, false},
		{"an empty list (log not replayed yet)", []peerAnswer{{url: a, members: nil}}, false},
		{"a list without the answering member", []peerAnswer{{url: b, members: unstarted[:1]}}, false},
	} {
		if got := provesUnformed(tc.answers); got != tc.want {
			t.Errorf("%s: provesUnformed = %t, want %t", tc.name, got, tc.want)
		}
	}
}
