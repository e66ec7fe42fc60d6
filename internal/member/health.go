package member

import (
	"context"
	"crypto/tls"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Health is what one member says about itself through its own client URL.
type Health struct {
	MemberID, ClusterID, Leader uint64
	IsLearner                   bool
	RaftIndex, AppliedIndex     uint64
	// Voting is true for a member that is not a learner.
	Voting bool
	// CaughtUp is true when a linearizable read through this member alone
	// succeeded: it had applied up to the leader's read index. Never set for
	// a learner (learners serve no linearizable reads).
	CaughtUp bool
}

// Ready reports whether the member sees a leader, votes and is caught up.
func (h Health) Ready() bool { return h.Leader != 0 && h.Voting && h.CaughtUp }

// LocalHealth checks one member through endpoint alone. It fails when the
// member does not answer Status, wraps ErrNoLeader when it sees no leader,
// and ErrNotCaughtUp when a voter's linearizable read fails; the Health
// holds what was learnt in each case.
func LocalHealth(ctx context.Context, endpoint string, o Options) (Health, error) {
	o = o.withDefaults()
	cfg, err := o.clientConfig([]string{endpoint})
	if err != nil {
		return Health{}, fmt.Errorf("local health: %w", err)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return Health{}, fmt.Errorf("local health of %s: %w", endpoint, err)
	}
	defer func() { _ = cli.Close() }()
	h, err := localStatus(ctx, cli, endpoint, cfg.TLS, o)
	if err != nil || !h.Voting {
		return h, err
	}
	if err := readThrough(ctx, cli, o); err != nil {
		return h, fmt.Errorf("local health of %s: %w: %w", endpoint, ErrNotCaughtUp, err)
	}
	h.CaughtUp = true
	return h, nil
}

func localStatus(ctx context.Context, cli *clientv3.Client, endpoint string, cfg *tls.Config, o Options) (Health, error) {
	sctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	st, err := cli.Status(sctx, endpoint)
	if isAuth(err) {
		return Health{}, fmt.Errorf("local health of %s: status: %w", endpoint, authWrap(err))
	}
	if err != nil {
		err = explainVia(ctx, endpoint, o.DialAddress, cfg, o.DialTimeout, err)
		return Health{}, fmt.Errorf("local health of %s: status: %w", endpoint, err)
	}
	h := Health{
		MemberID:     st.Header.GetMemberId(),
		ClusterID:    st.Header.GetClusterId(),
		Leader:       st.Leader,
		IsLearner:    st.IsLearner,
		RaftIndex:    st.RaftIndex,
		AppliedIndex: st.RaftAppliedIndex,
		Voting:       !st.IsLearner,
	}
	if h.Leader == 0 {
		return h, fmt.Errorf("local health of %s: %w", endpoint, ErrNoLeader)
	}
	return h, nil
}

func readThrough(ctx context.Context, cli *clientv3.Client, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, probeKey); err != nil {
		return fmt.Errorf("linearizable read: %w", authWrap(err))
	}
	return nil
}
