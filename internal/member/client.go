package member

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// Client is a clientv3 client over the endpoints that answered when it was
// dialled, for membership changes.
type Client struct {
	cli *clientv3.Client
	cfg clientv3.Config
	o   Options
}

// Dial asks Status of each endpoint and returns a client over those that
// answered; it fails (wrapping ErrNoEndpoint) when none did.
func Dial(ctx context.Context, endpoints []string, o Options) (*Client, error) {
	o = o.withDefaults()
	if endpoints = o.sameScheme(endpoints); len(endpoints) == 0 {
		return nil, fmt.Errorf("dial: %w: no endpoints given", ErrNoEndpoint)
	}
	cfg, err := o.clientConfig(endpoints)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cli, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", endpoints, err)
	}
	ob := observer{o: o, cli: cli, cfg: cfg, tls: cfg.TLS, status: map[string]statusResult{}}
	ob.askStatus(ctx, endpoints)
	answered := ob.answered(endpoints)
	if len(answered) == 0 {
		_ = cli.Close()
		return nil, fmt.Errorf("dial: %w: %v", ErrNoEndpoint, ob.errors())
	}
	cli.SetEndpoints(answered...)
	cfg.Endpoints = answered
	return &Client{cli: cli, cfg: cfg, o: o}, nil
}

// Close closes the client.
func (c *Client) Close() error { return c.cli.Close() }

// Endpoints returns the endpoints the client uses.
func (c *Client) Endpoints() []string { return c.cli.Endpoints() }

func (c *Client) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.o.RequestTimeout)
}

// Members returns the current member list: read through an endpoint that
// has just served a linearizable read (see currentList), so that it holds
// every change committed before the call. Healthy is not set.
func (c *Client) Members(ctx context.Context) ([]plan.Member, error) {
	list, err := firstCurrentList(ctx, c.cfg, c.o, c.cli.Endpoints())
	if err != nil {
		return nil, err
	}
	return fromPB(list.Members), nil
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
// the member list as the serving member had applied it right after the
// change (so it holds the new member). Errors wrap ErrTooManyLearners,
// ErrPeerURLExists or ErrClusterUnhealthy where etcd says so.
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
		return plan.Member{}, nil, fmt.Errorf("add member %v: no member in the answer", peerURLs)
	}
	added := fromPB([]*etcdserverpb.Member{resp.Member})[0]
	c.o.Log.Info("added member", "id", plan.HexID(added.ID), "peer_urls", peerURLs, "learner", learner)
	return added, fromPB(resp.Members), nil
}

// Update sets the peer URLs of member id.
func (c *Client) Update(ctx context.Context, id uint64, peerURLs []string) error {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	if _, err := c.cli.MemberUpdate(ctx, id, peerURLs); err != nil {
		return wrap(err, "update peer URLs of member %x to %v", id, peerURLs)
	}
	c.o.Log.Info("updated member peer URLs", "id", plan.HexID(id), "peer_urls", peerURLs)
	return nil
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

// DisarmAlarms disarms every alarm raised against member id (one removed
// from the cluster: its alarms, a CORRUPT one above all, would otherwise
// stay and keep the cluster refusing writes). It returns the alarms it
// disarmed by name.
func (c *Client) DisarmAlarms(ctx context.Context, id uint64) ([]string, error) {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	resp, err := c.cli.AlarmList(ctx)
	if err != nil {
		return nil, wrap(err, "list alarms")
	}
	var names []string
	for _, a := range resp.Alarms {
		if a.MemberID != id {
			continue
		}
		if _, err := c.cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: a.MemberID, Alarm: a.Alarm}); err != nil {
			return names, wrap(err, "disarm %s of member %x", alarmName(a.Alarm), id)
		}
		names = append(names, alarmName(a.Alarm))
	}
	return names, nil
}

// lockPrefix is where etcd-rejoin's cluster-wide locks live.
const lockPrefix = "/etcd-rejoin/locks/"

// lockTTL is the lease of a lock: a holder that dies frees it after this.
const lockTTL = 10 * time.Second

// Lock takes the cluster-wide lock name (an etcd lease-backed mutex), so that
// services on several hosts never run a step together. It waits at most the
// request timeout. unlock releases it; a crashed holder's lock expires.
func (c *Client) Lock(ctx context.Context, name string) (unlock func(), err error) {
	sess, err := concurrency.NewSession(c.cli, concurrency.WithTTL(int(lockTTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return nil, wrap(err, "lock %s: open session", name)
	}
	mu := concurrency.NewMutex(sess, lockPrefix+name)
	lctx, cancel := c.timeout(ctx)
	defer cancel()
	if err := mu.Lock(lctx); err != nil {
		_ = sess.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("lock %s: %w", name, ErrLockBusy)
		}
		return nil, wrap(err, "lock %s", name)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), c.o.RequestTimeout)
		defer cancel()
		_ = mu.Unlock(uctx)
		_ = sess.Close()
	}, nil
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
