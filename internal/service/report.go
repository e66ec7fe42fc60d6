package service

import (
	"context"

	"github.com/etcd-rejoin/etcd-rejoin/internal/metrics"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/status"
)

// SetMetrics makes the service count into m and serve it on
// metrics-address while it runs (nil: no metrics).
func (s *Service) SetMetrics(m *metrics.Metrics) { s.metrics = m }

// startReporting opens the status record (only the running service writes
// it: `plan` must not) and serves the metrics; a bind failure stops the
// service before it touches anything.
func (s *Service) startReporting(ctx context.Context) error {
	s.record = status.NewRecorder(status.RecordPath(s.cfg.StateFile), s.log)
	if s.metrics == nil || s.cfg.MetricsAddress == "" {
		return nil
	}
	_, err := s.metrics.Start(ctx, s.cfg.MetricsAddress)
	return err
}

// decided reports a decision.
func (s *Service) decided(p plan.Plan) {
	s.decidedAt = s.now()
	s.metrics.Decision(string(p.Action))
	s.record.Decision(string(p.Action), p.Reason)
	if p.Action == plan.Wait {
		s.record.State(status.StateWaiting, p.Reason)
	} else {
		s.record.State(status.StateStarting, string(p.Action)+": "+p.Reason)
	}
}

// ready reports a member that became ready after the decision p.
func (s *Service) ready(p plan.Plan, msg string) {
	took := s.now().Sub(s.decidedAt)
	s.metrics.Healed(string(p.Action), took)
	s.metrics.Ready(true)
	s.record.Healed(string(p.Action), took)
	s.record.State(status.StateRunning, msg)
}

// counted counts each membership call of a cluster client.
type counted struct {
	membership
	m *metrics.Metrics
}

func (c counted) Remove(ctx context.Context, id uint64) error {
	err := c.membership.Remove(ctx, id)
	c.m.MembershipCall("remove", err)
	return err
}

func (c counted) Add(ctx context.Context, peerURLs []string, learner bool) (plan.Member, []plan.Member, error) {
	a, l, err := c.membership.Add(ctx, peerURLs, learner)
	c.m.MembershipCall("add", err)
	return a, l, err
}

func (c counted) Update(ctx context.Context, id uint64, peerURLs []string) error {
	err := c.membership.Update(ctx, id, peerURLs)
	c.m.MembershipCall("update", err)
	return err
}

func (c counted) Promote(ctx context.Context, id uint64) error {
	err := c.membership.Promote(ctx, id)
	c.m.MembershipCall("promote", err)
	return err
}
