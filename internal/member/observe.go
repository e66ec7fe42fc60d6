package member

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// probeKey is the harmless key read to prove a quorum (it need not exist).
const probeKey = "/etcd-rejoin/quorum-probe"

// statusResult is one endpoint's Status answer or failure.
type statusResult struct {
	resp *clientv3.StatusResponse
	err  error
}

// Observe reports what the live cluster looks like. It asks o.ClientURLs,
// or the client URLs discovered through the peers when none are given, and
// every client URL the member list names. Nothing answering is no error:
// the result is then unreachable and Errors says why for each endpoint.
// When no client endpoint answers but a peer does (a cluster that never
// formed serves its peer port only), the peers' member list is reported;
// when that list shows no started member, it is asked again after the dial
// timeout first (see below).
//
// The member list comes from a member that has just proven it is current: a
// linearizable read through it alone succeeded, then it listed the members
// (etcd 3.4 serves the list from its applied state, which that read brought
// up to the leader's commit index). Quorum is set only then. Without such a
// member, the list is any answering member's and Quorum is false, so no
// decision that needs a quorum can rest on it.
func Observe(ctx context.Context, o Options) (plan.Cluster, error) {
	o = o.withDefaults()
	c, fromPeers, err := observeOnce(ctx, o)
	if err != nil || !fromPeers || len(o.ClientURLs) > 0 || !c.Reachable || c.Formed() {
		return c, err
	}
	// A peer answered, but no member has started: a first boot, or a
	// cluster whose formed members are still restarting (refusing) beside a
	// fresh one. With peer-client-urls, the fresh member's client port is
	// waited for until the dial timeout; without them there is nothing to
	// wait for, so the same time passes here before the peers are asked
	// again, and a restarting member has as long to show the formed cluster.
	o.Log.Debug("the peers that answered show no started member; looking again", "after", o.DialTimeout)
	t := time.NewTimer(o.DialTimeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return plan.Cluster{}, fmt.Errorf("observe: %w", ctx.Err())
	}
	c, _, err = observeOnce(ctx, o)
	return c, err
}

// observeOnce is one look; fromPeers is set when no client endpoint
// answered and the result is the peers' lists.
func observeOnce(ctx context.Context, o Options) (c plan.Cluster, fromPeers bool, err error) {
	var peers []peerAnswer
	endpoints := o.ClientURLs
	if len(endpoints) == 0 {
		if peers, err = askPeers(ctx, o); err != nil {
			return plan.Cluster{}, false, err
		}
		endpoints = o.sameScheme(discovered(peers))
	}
	c, err = observeClients(ctx, o, endpoints)
	if err != nil || c.Reachable {
		return c, false, err
	}
	if peers == nil {
		if peers, err = askPeers(ctx, o); err != nil {
			return plan.Cluster{}, false, err
		}
	}
	return clusterFromPeers(peers, c.Errors), true, nil
}

func discovered(peers []peerAnswer) []string {
	var urls []string
	for _, a := range peers {
		urls = union(urls, clientURLsOf(a.members))
	}
	return urls
}

// observeClients asks the client endpoints; Reachable is false when none
// answered.
func observeClients(ctx context.Context, o Options, endpoints []string) (plan.Cluster, error) {
	if len(endpoints) == 0 {
		return plan.Cluster{}, nil
	}
	cfg, err := o.clientConfig(endpoints)
	if err != nil {
		return plan.Cluster{}, err
	}
	cli, err := newClient(cfg)
	if errors.Is(err, ErrAuth) {
		return plan.Cluster{Reachable: true, AuthError: fmt.Sprintf("%v: %v", endpoints, err)}, nil
	}
	if err != nil {
		// With a user configured, clientv3 connects and authenticates at
		// once; a failure there is no answer, as a failed Status would be.
		return plan.Cluster{Errors: []string{fmt.Sprintf("etcd client for %v: %v", endpoints, err)}}, nil
	}
	defer func() { _ = cli.Close() }()
	ob := observer{o: o, cli: cli, cfg: cfg, tls: cfg.TLS, status: map[string]statusResult{}}
	return ob.observe(ctx, endpoints), nil
}

// observer gathers the Status answers of every endpoint it asked.
type observer struct {
	o      Options
	cli    *clientv3.Client
	cfg    clientv3.Config
	tls    *tls.Config
	status map[string]statusResult
	lists  *lists
}

func (ob *observer) observe(ctx context.Context, endpoints []string) plan.Cluster {
	// The current member list is asked of every endpoint beside its status
	// (a round trip less); only the answer of an endpoint whose status
	// shows a voter that sees a leader is taken.
	ob.lists = askLists(ctx, ob.cfg, ob.o, endpoints)
	defer ob.lists.close()
	ob.askStatus(ctx, endpoints)
	answered := ob.answered(endpoints)
	if len(answered) == 0 {
		refused := ob.authRefused()
		return plan.Cluster{Reachable: refused != "", AuthError: refused, Errors: ob.errors()}
	}
	c, err := ob.currentCluster(ctx, answered)
	if err != nil {
		ob.o.Log.Debug("no member proved it is current", "err", err)
		refused := ""
		if errors.Is(err, ErrAuth) {
			refused = err.Error()
		}
		if c, err = ob.anyCluster(ctx, answered); err != nil {
			ob.status[answered[0]] = statusResult{err: err}
			return plan.Cluster{Reachable: refused != "", AuthError: refused, Errors: ob.errors()}
		}
		c.AuthError = refused
	}
	ob.askStatus(ctx, ob.o.sameScheme(clientURLsOf(c.Members)))
	ob.markHealthy(c.Members, c.ClusterID)
	if c.Quorum {
		c.Version = ob.clusterVersion(ctx, c.Members)
	}
	c.Conflict = ob.conflict()
	c.Errors = ob.errors()
	return c
}

// currentCluster reads the member list through the first candidate that
// proves it is current; Quorum is set.
func (ob *observer) currentCluster(ctx context.Context, answered []string) (plan.Cluster, error) {
	list, err := ob.lists.first(ob.candidates(answered))
	if err != nil {
		return plan.Cluster{}, err
	}
	return plan.Cluster{Reachable: true, Quorum: true, ClusterID: list.Header.GetClusterId(), Members: fromPB(list.Members)}, nil
}

// anyCluster is the member list as any answering member has it applied
// (serializable): good enough to tell whether a cluster ever formed, never
// to justify a change.
func (ob *observer) anyCluster(ctx context.Context, answered []string) (plan.Cluster, error) {
	ob.cli.SetEndpoints(answered...)
	ctx, cancel := context.WithTimeout(ctx, ob.o.RequestTimeout)
	defer cancel()
	list, err := ob.cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return plan.Cluster{}, fmt.Errorf("member list: %w", err)
	}
	return plan.Cluster{Reachable: true, ClusterID: list.Header.GetClusterId(), Members: fromPB(list.Members)}, nil
}

// candidates are the answering endpoints that may serve a linearizable read:
// voters that see a leader, the leader itself first.
func (ob *observer) candidates(answered []string) []string {
	var leaders, others []string
	for _, ep := range answered {
		r := ob.status[ep].resp
		switch {
		case r.Leader == 0 || r.IsLearner:
		case r.Header.GetMemberId() == r.Leader:
			leaders = append(leaders, ep)
		default:
			others = append(others, ep)
		}
	}
	return append(leaders, others...)
}

// askStatus asks Status of every endpoint not asked yet, concurrently.
func (ob *observer) askStatus(ctx context.Context, endpoints []string) {
	var todo []string
	for _, ep := range endpoints {
		if _, done := ob.status[ep]; !done && !contains(todo, ep) {
			todo = append(todo, ep)
		}
	}
	results := make([]statusResult, len(todo))
	var wg sync.WaitGroup
	for i, ep := range todo {
		wg.Go(func() { results[i] = ob.statusOf(ctx, ep) })
	}
	wg.Wait()
	for i, ep := range todo {
		ob.status[ep] = results[i]
	}
}

// statusOf asks one endpoint for its status. A member that cannot answer this
// light request within the dial timeout counts as not answering: waiting the
// whole request timeout for every dead endpoint only slows each look.
func (ob *observer) statusOf(ctx context.Context, endpoint string) statusResult {
	sctx, cancel := context.WithTimeout(ctx, min(ob.o.DialTimeout, ob.o.RequestTimeout))
	defer cancel()
	// A refused connection is known at once; gRPC would only report it
	// when the timeout ends.
	if err := refused(sctx, endpoint); err != nil {
		ob.o.Log.Debug("endpoint did not answer", "endpoint", endpoint, "err", err)
		return statusResult{err: fmt.Errorf("status: %w", err)}
	}
	resp, err := ob.cli.Status(sctx, endpoint)
	if isAuth(err) {
		return statusResult{err: fmt.Errorf("status: %w", authWrap(err))}
	}
	if err != nil {
		err = explain(ctx, endpoint, ob.tls, ob.o.DialTimeout, err)
		ob.o.Log.Debug("endpoint did not answer", "endpoint", endpoint, "err", err)
		return statusResult{err: fmt.Errorf("status: %w", err)}
	}
	return statusResult{resp: resp}
}

func (ob *observer) answered(endpoints []string) []string {
	var out []string
	for _, ep := range endpoints {
		if r := ob.status[ep]; r.resp != nil && !contains(out, ep) {
			out = append(out, ep)
		}
	}
	return out
}

// markHealthy sets Healthy on each member one of whose client URLs answered
// as that member of that cluster and sees a leader.
func (ob *observer) markHealthy(members []plan.Member, clusterID uint64) {
	for i := range members {
		for _, ep := range members[i].ClientURLs {
			r := ob.status[ep]
			if r.resp == nil || r.resp.Header.GetMemberId() != members[i].ID ||
				r.resp.Header.GetClusterId() != clusterID || r.resp.Leader == 0 {
				continue
			}
			members[i].Healthy = true
			break
		}
	}
}

// clusterVersion asks the healthy members, in turn, for the cluster
// version; "" when none says.
func (ob *observer) clusterVersion(ctx context.Context, members []plan.Member) string {
	for _, m := range members {
		if !m.Healthy {
			continue
		}
		for _, ep := range ob.o.sameScheme(m.ClientURLs) {
			v, err := clusterVersion(ctx, ep, ob.o)
			if err == nil && v != "" {
				return v
			}
			ob.o.Log.Debug("no cluster version", "endpoint", ep, "err", err)
		}
	}
	return ""
}

// conflict names the clusters when members of more than one answered with a
// leader, and is "" otherwise.
func (ob *observer) conflict() string {
	byCluster := map[uint64][]string{}
	for ep, r := range ob.status {
		if r.resp != nil && r.resp.Leader != 0 {
			id := r.resp.Header.GetClusterId()
			byCluster[id] = append(byCluster[id], ep)
		}
	}
	if len(byCluster) < 2 {
		return ""
	}
	var parts []string
	for id, eps := range byCluster {
		sort.Strings(eps)
		parts = append(parts, fmt.Sprintf("cluster %s at %s", plan.HexID(id), strings.Join(eps, ",")))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// authRefused is the first endpoint's refusal of the credentials, or "".
func (ob *observer) authRefused() string {
	for _, line := range ob.errorsIs(ErrAuth) {
		return line
	}
	return ""
}

// errorsIs lists the endpoints' failures that are target, sorted.
func (ob *observer) errorsIs(target error) []string {
	var out []string
	for ep, r := range ob.status {
		if errors.Is(r.err, target) {
			out = append(out, describe(ep, r.err))
		}
	}
	sort.Strings(out)
	return out
}

func (ob *observer) errors() []string {
	var out []string
	for ep, r := range ob.status {
		if r.err != nil {
			out = append(out, describe(ep, r.err))
		}
	}
	sort.Strings(out)
	return out
}
