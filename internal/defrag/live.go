package defrag

import (
	"context"
	"errors"
	"fmt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// Live is the real Cluster: this member asked at Local with LocalOptions
// (also for the member list and the lock), the others at their client URLs
// with Options.
type Live struct {
	Local        string
	LocalOptions member.Options
	Options      member.Options
	cli          *member.Client
}

var _ Cluster = (*Live)(nil)

// Dial connects to the local member for the list and the lock. Close the
// Live when done.
func Dial(ctx context.Context, local string, localOptions, options member.Options) (*Live, error) {
	cli, err := member.Dial(ctx, []string{local}, localOptions)
	if err != nil {
		return nil, fmt.Errorf("defragment: %w", err)
	}
	return &Live{Local: local, LocalOptions: localOptions, Options: options, cli: cli}, nil
}

// Close closes the client.
func (l *Live) Close() error { return l.cli.Close() }

// LocalStatus implements Cluster.
func (l *Live) LocalStatus(ctx context.Context) (member.Status, error) {
	return member.EndpointStatus(ctx, l.Local, l.LocalOptions)
}

// Members implements Cluster.
func (l *Live) Members(ctx context.Context) ([]plan.Member, error) { return l.cli.Members(ctx) }

// MemberStatus implements Cluster: the first of the member's client URLs
// that answers.
func (l *Live) MemberStatus(ctx context.Context, m plan.Member) (member.Status, error) {
	var errs []error
	for _, u := range m.ClientURLs {
		st, err := member.EndpointStatus(ctx, u, l.Options)
		if err == nil {
			return st, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return member.Status{}, fmt.Errorf("member %s has no client URL (never started)", plan.HexID(m.ID))
	}
	return member.Status{}, errors.Join(errs...)
}

// Alarms implements Cluster.
func (l *Live) Alarms(ctx context.Context) ([]member.Alarm, error) {
	return member.Alarms(ctx, []string{l.Local}, l.LocalOptions)
}

// DefragmentLocal implements Cluster.
func (l *Live) DefragmentLocal(ctx context.Context) error {
	return member.Defragment(ctx, l.Local, l.LocalOptions)
}

// Lock implements Cluster.
func (l *Live) Lock(ctx context.Context, name string) (func(), error) { return l.cli.Lock(ctx, name) }
