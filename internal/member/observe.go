package member

import (
	"context"
	"crypto/tls"
	"fmt"
	"sort"
	"sync"

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
// formed serves its peer port only), the peers' member list is reported.
func Observe(ctx context.Context, o Options) (plan.Cluster, error) {
	o = o.withDefaults()
	var peers []peerAnswer
	endpoints := o.ClientURLs
	if len(endpoints) == 0 {
		var err error
		if peers, err = askPeers(ctx, o); err != nil {
			return plan.Cluster{}, fmt.Errorf("observe: %w", err)
		}
		endpoints = discovered(peers)
	}
	c, err := observeClients(ctx, o, endpoints)
	if err != nil || c.Reachable {
		return c, err
	}
	if peers == nil {
		if peers, err = askPeers(ctx, o); err != nil {
			return plan.Cluster{}, fmt.Errorf("observe: %w", err)
		}
	}
	return clusterFromPeers(peers, c.Errors), nil
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
		return plan.Cluster{}, fmt.Errorf("observe: %w", err)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return plan.Cluster{}, fmt.Errorf("observe: etcd client for %v: %w", endpoints, err)
	}
	defer func() { _ = cli.Close() }()
	o2 := observer{o: o, cli: cli, tls: cfg.TLS, status: map[string]statusResult{}}
	return o2.observe(ctx, endpoints), nil
}

// observer gathers the Status answers of every endpoint it asked.
type observer struct {
	o      Options
	cli    *clientv3.Client
	tls    *tls.Config
	status map[string]statusResult
}

func (ob *observer) observe(ctx context.Context, endpoints []string) plan.Cluster {
	ob.askStatus(ctx, endpoints)
	answered := ob.answered(endpoints)
	if len(answered) == 0 {
		return plan.Cluster{Errors: ob.errors()}
	}
	ob.cli.SetEndpoints(answered...)
	list, err := ob.memberList(ctx)
	if err != nil {
		ob.status[answered[0]] = statusResult{err: err}
		return plan.Cluster{Errors: ob.errors()}
	}
	c := plan.Cluster{Reachable: true, ClusterID: list.Header.GetClusterId(), Members: fromPB(list.Members)}
	ob.askStatus(ctx, clientURLsOf(c.Members))
	healthy := ob.markHealthy(c.Members)
	c.Quorum = len(healthy) > 0 && ob.quorumRead(ctx, healthy)
	c.Errors = ob.errors()
	return c
}

func (ob *observer) memberList(ctx context.Context) (*clientv3.MemberListResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, ob.o.RequestTimeout)
	defer cancel()
	list, err := ob.cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("member list: %w", err)
	}
	return list, nil
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
// as that member and sees a leader; it returns those URLs.
func (ob *observer) markHealthy(members []plan.Member) []string {
	var healthy []string
	for i := range members {
		for _, ep := range members[i].ClientURLs {
			r := ob.status[ep]
			if r.resp == nil || r.resp.Header.GetMemberId() != members[i].ID || r.resp.Leader == 0 {
				continue
			}
			members[i].Healthy = true
			healthy = append(healthy, ep)
			break
		}
	}
	return healthy
}

// quorumRead does a linearizable Get through the healthy endpoints: it
// succeeds only when a quorum confirms the leader's read index.
func (ob *observer) quorumRead(ctx context.Context, endpoints []string) bool {
	ob.cli.SetEndpoints(endpoints...)
	ctx, cancel := context.WithTimeout(ctx, ob.o.RequestTimeout)
	defer cancel()
	if _, err := ob.cli.Get(ctx, probeKey); err != nil {
		ob.o.Log.Debug("quorum read failed", "endpoints", endpoints, "err", err)
		return false
	}
	return true
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
