package member

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// peerMembersPath is etcd's peer API that lists the members as JSON; a
// member serves it on its peer port even before the cluster has formed.
const peerMembersPath = "/members"

// peerMember is one entry of GET <peer>/members.
type peerMember struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// peerAnswer is what one peer URL said, or why it did not.
type peerAnswer struct {
	url       string
	clusterID uint64
	members   []plan.Member
	err       error
}

// DiscoverClientURLs asks each peer URL (but this member's own) for its
// member list and returns the client URLs of the started members. It fails
// only when no peer answered.
func DiscoverClientURLs(ctx context.Context, o Options) ([]string, error) {
	o = o.withDefaults()
	answers, err := askPeers(ctx, o)
	if err != nil {
		return nil, err
	}
	var errs []error
	var urls []string
	answered := false
	for _, a := range answers {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		answered = true
		urls = union(urls, clientURLsOf(a.members))
	}
	if !answered {
		return nil, fmt.Errorf("discover client URLs: %w: %w", ErrNoEndpoint, errors.Join(errs...))
	}
	return o.sameScheme(urls), nil
}

// askPeers asks every peer URL but our own, concurrently.
func askPeers(ctx context.Context, o Options) ([]peerAnswer, error) {
	hc, err := o.peerHTTP()
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, u := range o.PeerURLs {
		if !contains(o.SelfPeerURLs, u) && !contains(urls, u) {
			urls = append(urls, u)
		}
	}
	answers := make([]peerAnswer, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() { answers[i] = askPeer(ctx, hc, u) })
	}
	wg.Wait()
	for _, a := range answers {
		if a.err != nil {
			o.Log.Debug("peer did not answer", "peer", a.url, "err", a.err)
		}
	}
	return answers, nil
}

func askPeer(ctx context.Context, hc *http.Client, peerURL string) peerAnswer {
	a := peerAnswer{url: peerURL}
	url := strings.TrimSuffix(peerURL, "/") + peerMembersPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		a.err = fmt.Errorf("peer %s: %w", peerURL, err)
		return a
	}
	resp, err := hc.Do(req)
	if err != nil {
		a.err = fmt.Errorf("peer %s: %w%s", peerURL, err, httpsHint(peerURL, err))
		return a
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		a.err = fmt.Errorf("peer %s: GET %s: %s", peerURL, peerMembersPath, resp.Status)
		return a
	}
	list, err := decodeMembers(resp.Body)
	if err != nil {
		a.err = fmt.Errorf("peer %s: %w", peerURL, err)
		return a
	}
	a.clusterID, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Cluster-ID"), 16, 64)
	a.members = fromPeerMembers(list)
	return a
}

// maxMembersBody bounds a peer's /members answer: a real one is a few KB,
// and a broken or hostile peer must not make etcd-rejoin read without end.
const maxMembersBody = 1 << 20

// decodeMembers reads a /members answer of at most maxMembersBody bytes.
func decodeMembers(r io.Reader) ([]peerMember, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMembersBody+1))
	if err != nil {
		return nil, fmt.Errorf("read member list: %w", err)
	}
	if len(b) > maxMembersBody {
		return nil, fmt.Errorf("member list larger than %d bytes: refused", maxMembersBody)
	}
	var list []peerMember
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("decode member list: %w", err)
	}
	return list, nil
}

func fromPeerMembers(list []peerMember) []plan.Member {
	out := make([]plan.Member, len(list))
	for i, m := range list {
		out[i] = plan.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
	}
	return out
}

func clientURLsOf(members []plan.Member) []string {
	var urls []string
	for _, m := range members {
		urls = union(urls, m.ClientURLs)
	}
	return urls
}

// clusterFromPeers is what the peers alone tell: reachable with a member
// list, never healthy or with quorum (no client endpoint answered). The
// answer listing the most started members wins.
func clusterFromPeers(answers []peerAnswer, errs []string) plan.Cluster {
	c := plan.Cluster{Errors: errs}
	best := -1
	for _, a := range answers {
		if a.err != nil {
			c.Errors = append(c.Errors, a.err.Error())
			continue
		}
		if n := len(clientURLsOf(a.members)); !c.Reachable || n > best {
			c.Reachable, best = true, n
			c.ClusterID, c.Members = a.clusterID, a.members
		}
	}
	return c
}
