package member

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// firstCurrentList asks the endpoints concurrently for a current member list
// (see currentList) and returns the first one that came, or every failure.
func firstCurrentList(ctx context.Context, cfg clientv3.Config, o Options, endpoints []string) (*clientv3.MemberListResponse, error) {
	l := askLists(ctx, cfg, o, endpoints)
	defer l.close()
	return l.first(endpoints)
}

// lists asks endpoints for a current member list as soon as it is made, so
// that an observation can ask beside the endpoints' status and then take an
// answer only from those the status shows fit.
type lists struct {
	ctx     context.Context
	cancel  context.CancelFunc
	cfg     clientv3.Config
	o       Options
	answers chan listAnswer // every asked endpoint answers once, until close
	asked   map[string]bool
	got     map[string]listAnswer
}

type listAnswer struct {
	endpoint string
	list     *clientv3.MemberListResponse
	err      error
}

// askLists starts asking every endpoint; close stops what is still asked.
func askLists(ctx context.Context, cfg clientv3.Config, o Options, endpoints []string) *lists {
	ctx, cancel := context.WithCancel(ctx)
	l := &lists{ctx: ctx, cancel: cancel, cfg: cfg, o: o, answers: make(chan listAnswer),
		asked: map[string]bool{}, got: map[string]listAnswer{}}
	for _, ep := range endpoints {
		l.ask(ep)
	}
	return l
}

// ask starts asking ep unless it was asked already. An answer waits
// until first takes it or close is called.
func (l *lists) ask(ep string) {
	if l.asked[ep] {
		return
	}
	l.asked[ep] = true
	go func() {
		list, err := currentList(l.ctx, l.cfg, l.o, ep)
		select {
		case l.answers <- listAnswer{ep, list, err}:
		case <-l.ctx.Done():
		}
	}()
}

// first returns the first current list among the answers of endpoints, or
// every failure when none of them gave one.
func (l *lists) first(endpoints []string) (*clientv3.MemberListResponse, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("current member list: %w: no member answered as a voter that sees a leader", ErrNoEndpoint)
	}
	pending := map[string]bool{}
	for _, ep := range endpoints {
		l.ask(ep)
		pending[ep] = true
	}
	var errs []error
	take := func(a listAnswer) *clientv3.MemberListResponse {
		if !pending[a.endpoint] {
			return nil
		}
		delete(pending, a.endpoint)
		if a.err != nil {
			errs = append(errs, a.err)
			return nil
		}
		return a.list
	}
	for _, ep := range endpoints {
		if a, ok := l.got[ep]; ok {
			if list := take(a); list != nil {
				return list, nil
			}
		}
	}
	for len(pending) > 0 {
		a := <-l.answers
		l.got[a.endpoint] = a
		if list := take(a); list != nil {
			return list, nil
		}
	}
	return nil, fmt.Errorf("current member list: %w", errors.Join(errs...))
}

// close stops asking.
func (l *lists) close() { l.cancel() }

// currentList reads the member list through endpoint alone, right after a
// linearizable read through it succeeded: the answer is then at least as
// new as the leader's commit index at the time of the read. (etcd 3.4 serves
// MemberList from the answering member's applied state; 3.5 and later
// honour the request's linearizable flag, which clientv3 sets.)
func currentList(ctx context.Context, cfg clientv3.Config, o Options, endpoint string) (*clientv3.MemberListResponse, error) {
	cfg.Endpoints = []string{endpoint}
	cli, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	read, err := cli.Get(ctx, probeKey)
	if err != nil {
		return nil, fmt.Errorf("%s: linearizable read: %w", endpoint, authWrap(err))
	}
	list, err := cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: member list: %w", endpoint, authWrap(err))
	}
	if got, want := list.Header.GetClusterId(), read.Header.GetClusterId(); got != want {
		return nil, fmt.Errorf("%s: member list of cluster %x after a read in cluster %x", endpoint, got, want)
	}
	return list, nil
}
