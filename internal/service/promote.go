package service

import (
	"context"
	"errors"

	"github.com/etcd-rejoin/etcd-rejoin/internal/failpoint"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// promoter promotes a learner once etcd accepts it. It keeps one connection
// to the cluster for the life of a start, as it asks every readyPoll.
//
// It does not wait for the learner to answer: a learner that received the
// leader's snapshot can be in sync and still not serve, because etcd serves
// clients only once the member has published itself, and on etcd 3.5 and
// 3.6 that publish is refused ("too many requests") until the member
// applies one more entry after the snapshot. The promotion is such an
// entry, so promoting early both saves the wait and unblocks the publish on
// an idle cluster.
type promoter struct {
	s         *Service
	endpoints []string
	cli       membership
}

func (s *Service) newPromoter(endpoints []string) *promoter {
	return &promoter{s: s, endpoints: endpoints}
}

// try asks once to promote learner id; it reports whether it was promoted.
// A refusal because the learner is not in sync yet is expected and quiet.
func (p *promoter) try(ctx context.Context, id uint64) bool {
	s := p.s
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if !p.connect(cctx) {
		return false
	}
	failpoint.Hit(failpoint.BeforePromote)
	err := p.cli.Promote(cctx, id)
	switch {
	case err == nil:
		s.status("rejoining: promoted " + plan.HexID(id) + " to voter")
		return true
	case errors.Is(err, member.ErrLearnerNotReady):
		return false
	case errors.Is(err, member.ErrMemberNotLearner):
		// Promoted already: by an earlier try whose answer was lost, or
		// before etcd was restarted on its data.
		s.log.Info("member " + plan.HexID(id) + " is a voter already")
		return true
	default:
		s.log.Warn("promote failed; will retry", "member", plan.HexID(id), "err", err)
		p.close() // dial again: the endpoint that answered may be gone
		return false
	}
}

// connect dials the cluster unless connected; it reports whether it is.
func (p *promoter) connect(ctx context.Context) bool {
	if p.cli != nil {
		return true
	}
	cli, err := p.s.dial(ctx, p.clusterEndpoints(ctx))
	if err != nil {
		p.s.log.Debug("promote: cannot reach the cluster", "err", err)
		return false
	}
	p.cli = cli
	return true
}

// published reports whether the cluster lists member id as published: named
// (etcd names an entry when it applies the member's publish request).
func (p *promoter) published(ctx context.Context, id uint64) bool {
	cctx, cancel := context.WithTimeout(ctx, p.s.cfg.RequestTimeout)
	defer cancel()
	if !p.connect(cctx) {
		return false
	}
	members, err := p.cli.Members(cctx)
	if err != nil {
		p.close()
		return false
	}
	for _, m := range members {
		if m.ID == id {
			return m.Name != ""
		}
	}
	return false
}

// clusterEndpoints are the voters this start was decided with; when nobody
// answered then (a cold start of the whole cluster), the configured or
// discovered members other than this one.
func (p *promoter) clusterEndpoints(ctx context.Context) []string {
	if len(p.endpoints) > 0 {
		return p.endpoints
	}
	s := p.s
	endpoints := s.cfg.PeerClientURLs
	if len(endpoints) == 0 {
		endpoints, _ = member.DiscoverClientURLs(ctx, s.memberOptions())
	}
	return s.notMine(endpoints)
}

func (p *promoter) close() {
	if p.cli != nil {
		_ = p.cli.Close()
		p.cli = nil
	}
}
