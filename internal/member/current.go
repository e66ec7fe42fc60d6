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
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("current member list: %w: no member answered as a voter that sees a leader", ErrNoEndpoint)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		list *clientv3.MemberListResponse
		err  error
	}
	answers := make(chan answer, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			list, err := currentList(ctx, cfg, o, ep)
			answers <- answer{list, err}
		}()
	}
	var errs []error
	for range endpoints {
		a := <-answers
		if a.err == nil {
			return a.list, nil
		}
		errs = append(errs, a.err)
	}
	return nil, fmt.Errorf("current member list: %w", errors.Join(errs...))
}

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
