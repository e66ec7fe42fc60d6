package member

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// Client is a clientv3 client over the endpoints that answered when it was
// dialled, for membership changes.
type Client struct {
	cli *clientv3.Client
	o   Options
}

// Dial asks Status of each endpoint and returns a client over those that
// answered; it fails (wrapping ErrNoEndpoint) when none did.
func Dial(ctx context.Context, endpoints []string, o Options) (*Client, error) {
	o = o.withDefaults()
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("dial: %w: no endpoints given", ErrNoEndpoint)
	}
	cfg, err := o.clientConfig(endpoints)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", endpoints, err)
	}
	ob := observer{o: o, cli: cli, tls: cfg.TLS, status: map[string]statusResult{}}
	ob.askStatus(ctx, endpoints)
	answered := ob.answered(endpoints)
	if len(answered) == 0 {
		_ = cli.Close()
		return nil, fmt.Errorf("dial: %w: %v", ErrNoEndpoint, ob.errors())
	}
	cli.SetEndpoints(answered...)
	return &Client{cli: cli, o: o}, nil
}

// Close closes the client.
func (c *Client) Close() error { return c.cli.Close() }

// Endpoints returns the endpoints the client uses.
func (c *Client) Endpoints() []string { return c.cli.Endpoints() }

func (c *Client) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.o.RequestTimeout)
}

// Members returns the live member list (linearizable: it needs a quorum).
// Healthy is not set.
func (c *Client) Members(ctx context.Context) ([]plan.Member, error) {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	resp, err := c.cli.MemberList(ctx)
	if err != nil {
		return nil, wrap(err, "list members")
	}
	return fromPB(resp.Members), nil
}

// Remove removes member id. An id that is not in the cluster gives an error
// wrapping ErrMemberNotFound.
func (c *Client) Remove(ctx context.Context, id uint64) error {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	if _, err := c.cli.MemberRemove(ctx, id); err != nil {
		return wrap(err, "remove member %x", id)
	}
	c.o.Log.Info("removed member", "id", plan.HexID(id))
	return nil
}

// Add adds a member with peerURLs, as a learner if asked, and returns it and
// the member list after the change. Errors wrap ErrTooManyLearners or
// ErrPeerURLExists where etcd says so.
func (c *Client) Add(ctx context.Context, peerURLs []string, learner bool) (plan.Member, []plan.Member, error) {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	add := c.cli.MemberAdd
	if learner {
		add = c.cli.MemberAddAsLearner
	}
	resp, err := add(ctx, peerURLs)
	if err != nil {
		return plan.Member{}, nil, wrap(err, "add member %v (learner %t)", peerURLs, learner)
	}
	if resp.Member == nil {
		return plan.Member{}, nil, fmt.Errorf("add member %v: %w", peerURLs, errors.New("no member in the answer"))
	}
	added := fromPB([]*etcdserverpb.Member{resp.Member})[0]
	c.o.Log.Info("added member", "id", plan.HexID(added.ID), "peer_urls", peerURLs, "learner", learner)
	return added, fromPB(resp.Members), nil
}

// Promote makes learner id a voter. A learner that is not in sync yet gives
// an error wrapping ErrLearnerNotReady; a voter one wrapping
// ErrMemberNotLearner.
func (c *Client) Promote(ctx context.Context, id uint64) error {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	if _, err := c.cli.MemberPromote(ctx, id); err != nil {
		return wrap(err, "promote member %x", id)
	}
	c.o.Log.Info("promoted member", "id", plan.HexID(id))
	return nil
}

// ServerVersion returns the etcd version of the first endpoint that answers.
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	var errs []error
	for _, ep := range c.cli.Endpoints() {
		v, err := c.versionOf(ctx, ep)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("server version: %w: %w", ErrNoEndpoint, errors.Join(errs...))
}

func (c *Client) versionOf(ctx context.Context, endpoint string) (string, error) {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	resp, err := c.cli.Status(ctx, endpoint)
	if err != nil {
		return "", fmt.Errorf("status of %s: %w%s", endpoint, err, tlsHint(err))
	}
	return resp.Version, nil
}

// ServerVersion returns the etcd version of any reachable member: it asks
// o.ClientURLs, or those discovered through the peers when none are given.
func ServerVersion(ctx context.Context, o Options) (string, error) {
	o = o.withDefaults()
	endpoints := o.ClientURLs
	if len(endpoints) == 0 {
		found, err := DiscoverClientURLs(ctx, o)
		if err != nil {
			return "", fmt.Errorf("server version: %w", err)
		}
		endpoints = found
	}
	c, err := Dial(ctx, endpoints, o)
	if err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	defer func() { _ = c.Close() }()
	return c.ServerVersion(ctx)
}

func fromPB(members []*etcdserverpb.Member) []plan.Member {
	out := make([]plan.Member, 0, len(members))
	for _, m := range members {
		out = append(out, plan.Member{
			ID:         m.ID,
			Name:       m.Name,
			PeerURLs:   m.PeerURLs,
			ClientURLs: m.ClientURLs,
			IsLearner:  m.IsLearner,
		})
	}
	return out
}
