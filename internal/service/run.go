package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/supervise"
)

// Pauses: the first look again after a wait, and how often a starting member
// is polled until it is ready.
const (
	firstBackoff = time.Second
	readyPoll    = 250 * time.Millisecond
	retrySoon    = 500 * time.Millisecond
)

// Run is the service: it returns nil after a clean stop (ctx cancelled) and
// an error when etcd could not be started or died.
func (s *Service) Run(ctx context.Context) error {
	if err := s.preflight(); err != nil {
		return err
	}
	backoff := firstBackoff
	for {
		why, soon, err := s.attempt(ctx)
		switch {
		case ctx.Err() != nil:
			return s.stopped(ctx)
		case err != nil:
			return err
		}
		pause := backoff
		if soon {
			pause = retrySoon
		} else {
			backoff = min(2*backoff, s.cfg.WaitBackoffMax)
		}
		s.status("waiting: "+why, "retry_in", pause.String())
		if !sleep(ctx, pause) {
			return s.stopped(ctx)
		}
	}
}

// attempt observes, decides, acts and runs etcd. It returns why it must look
// again (and whether soon), or how the service ended.
func (s *Service) attempt(ctx context.Context) (why string, soon bool, err error) {
	l, p, err := s.prepare(ctx)
	if err == nil && p.Action == plan.Wait {
		return p.Reason, false, nil
	}
	if err == nil {
		err = s.runEtcd(ctx, p, l)
	}
	var again *errLookAgain
	if errors.As(err, &again) {
		return again.why, again.soon, nil
	}
	return "", false, err
}

// prepare observes, decides and carries out the membership steps.
func (s *Service) prepare(ctx context.Context) (launch, plan.Plan, error) {
	s.notify.Status("observing the data dir and the cluster")
	obs, p, err := s.Plan(ctx)
	if err != nil {
		return launch{}, p, err
	}
	s.log.Info("decision", "action", string(p.Action), "reason", p.Reason,
		"data", string(obs.Data.Kind), "reachable", obs.Cluster.Reachable, "quorum", obs.Cluster.Quorum)
	if p.Action == plan.Wait {
		return launch{}, p, nil
	}
	s.status(fmt.Sprintf("%s: %s", p.Action, p.Reason))
	l, err := s.act(ctx, obs, p)
	return l, p, err
}

// ErrAborted is the cause a caller cancels Run's context with when the
// process got SIGABRT: systemd sends it when the watchdog timed out. etcd is
// then stopped quickly and Run fails, so that the unit is restarted (Go's own
// SIGABRT exit status, 2, would read as an invalid configuration and prevent
// the restart).
var ErrAborted = errors.New("aborted by SIGABRT (the systemd watchdog timed out?)")

// abortStopTimeout bounds the stop of a (probably frozen) etcd on SIGABRT.
const abortStopTimeout = 2 * time.Second

// stopped tells systemd the service is stopping and reports how it ended
// once ctx is done: nil for a clean stop, ErrAborted after SIGABRT.
func (s *Service) stopped(ctx context.Context) error {
	s.notify.Stopping()
	return endCause(ctx)
}

func endCause(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrAborted) {
		return cause
	}
	return nil
}

// runEtcd starts etcd, waits until it is ready, then supervises it.
func (s *Service) runEtcd(ctx context.Context, p plan.Plan, l launch) error {
	start := s.now()
	proc, err := supervise.Start(supervise.Spec{
		Path:   s.cfg.EtcdBinary,
		Env:    supervise.BuildEnv(s.environ, settings(s.cfg, l)),
		Output: os.Stderr,
	})
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	s.log.Info("etcd started", "pid", proc.Pid(), "state", l.state, "action", string(p.Action))
	h, err := s.awaitReady(ctx, proc, l)
	if err != nil {
		return s.finish(ctx, proc, membershipRace(p, proc, err))
	}
	took := s.now().Sub(start).Round(10 * time.Millisecond)
	msg := fmt.Sprintf("running: member %s of cluster %s, voting and caught up (%s, ready in %s)",
		plan.HexID(h.MemberID), plan.HexID(h.ClusterID), p.Action, took)
	s.notify.ReadyStatus(msg)
	s.log.Info(msg, "member", plan.HexID(h.MemberID), "action", string(p.Action), "ready_after", took.String())
	if err := datadir.SaveMemory(s.cfg.StateFile, plan.Memory{MemberID: h.MemberID, ClusterID: h.ClusterID}); err != nil {
		s.log.Warn("cannot record the member in the state file", "path", s.cfg.StateFile, "err", err)
	}
	return s.finish(ctx, proc, s.watch(ctx, proc, msg))
}

// membershipRace turns etcd's refusal to start as an existing member, because
// the live member list changed between reading it and starting (another
// member joining at the same time), into a reason to look again.
func membershipRace(p plan.Plan, proc *supervise.Process, err error) error {
	if p.Action != plan.Join && p.Action != plan.Rejoin {
		return err
	}
	for _, line := range proc.Tail() {
		if strings.Contains(line, "error validating peerURLs") {
			return &errLookAgain{why: "etcd refused the member list, which changed while it started; looking again", err: err}
		}
	}
	return err
}

// finish stops etcd when the service is stopping, and reports how it ended.
func (s *Service) finish(ctx context.Context, proc *supervise.Process, err error) error {
	if ctx.Err() == nil {
		return err
	}
	timeout := s.cfg.StopTimeout
	if errors.Is(context.Cause(ctx), ErrAborted) {
		timeout = min(timeout, abortStopTimeout)
	}
	s.notify.Stopping()
	s.status("stopping etcd")
	if stopErr := proc.Stop(timeout); stopErr != nil {
		s.log.Info("etcd stopped", "exit", stopErr.Error())
	}
	return endCause(ctx)
}

// awaitReady polls the local member until it is healthy, voting and caught
// up, promoting it when it is a learner.
func (s *Service) awaitReady(ctx context.Context, proc *supervise.Process, l launch) (member.Health, error) {
	tick := time.NewTicker(min(readyPoll, s.cfg.HealthInterval))
	defer tick.Stop()
	last := ""
	answered := false
	stall := time.NewTimer(s.cfg.JoinTimeout)
	defer stall.Stop()
	if !l.joining {
		stall.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return member.Health{}, ctx.Err()
		case <-proc.Done():
			return member.Health{}, fmt.Errorf("etcd exited before it was ready: %w", proc.Err())
		case <-stall.C:
			if !answered {
				return member.Health{}, s.stalled(proc)
			}
			continue
		case <-tick.C:
		}
		h, err := s.localHealth(ctx)
		answered = answered || h.MemberID != 0
		msg := ""
		switch {
		case err != nil:
			msg = "starting: waiting for etcd to answer"
		case h.IsLearner:
			msg = fmt.Sprintf("rejoining: learner %s catching up; promoting once in sync", plan.HexID(h.MemberID))
			if s.promote(ctx, h.MemberID, l.endpoints) {
				continue
			}
		case !h.Voting || !h.CaughtUp:
			msg = fmt.Sprintf("starting: member %s catching up with the leader", plan.HexID(h.MemberID))
		default:
			return h, nil
		}
		if msg != last {
			s.status(msg)
			last = msg
		}
	}
}

// stalled stops a joining etcd that never answered within join-timeout, so
// that the cluster is looked at again (its data, if any, stays: the next
// look restarts it on that data or decides anew).
func (s *Service) stalled(proc *supervise.Process) error {
	why := fmt.Sprintf("etcd joined but did not answer within %s; stopped it, looking again", s.cfg.JoinTimeout)
	s.log.Warn(why)
	if err := proc.Stop(s.cfg.StopTimeout); err != nil {
		s.log.Info("etcd stopped", "exit", err.Error())
	}
	return &errLookAgain{why: why}
}

// promote tries once to promote the learner; it reports whether it did.
func (s *Service) promote(ctx context.Context, id uint64, endpoints []string) bool {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if len(endpoints) == 0 {
		// Nobody answered when this start was decided (a cold start of
		// the whole cluster): ask the configured or discovered members.
		endpoints = s.cfg.PeerClientURLs
		if len(endpoints) == 0 {
			endpoints, _ = member.DiscoverClientURLs(cctx, s.memberOptions())
		}
		endpoints = s.notMine(endpoints)
	}
	cli, err := member.Dial(cctx, endpoints, s.memberOptions())
	if err != nil {
		s.log.Debug("promote: cannot reach the cluster", "err", err)
		return false
	}
	defer cli.Close()
	err = cli.Promote(cctx, id)
	switch {
	case err == nil:
		s.status("rejoining: promoted " + plan.HexID(id) + " to voter")
		return true
	case errors.Is(err, member.ErrLearnerNotReady):
		return false
	default:
		s.log.Warn("promote failed; will retry", "member", plan.HexID(id), "err", err)
		return false
	}
}

// notMine drops this member's own client URLs: a learner serves no
// membership requests.
func (s *Service) notMine(urls []string) []string {
	mine := map[string]bool{s.cfg.LocalClientURL: true}
	for _, u := range strings.Split(s.cfg.Etcd["advertise-client-urls"], ",") {
		mine[strings.TrimSpace(u)] = true
	}
	var out []string
	for _, u := range urls {
		if !mine[u] {
			out = append(out, u)
		}
	}
	return out
}

func (s *Service) localHealth(ctx context.Context) (member.Health, error) {
	timeout := min(s.cfg.RequestTimeout, s.checkInterval())
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return member.LocalHealth(cctx, s.cfg.LocalClientURL, s.memberOptions())
}

// checkInterval is how often the running member is checked: the health
// interval, and at most half the watchdog interval.
func (s *Service) checkInterval() time.Duration {
	iv := s.cfg.HealthInterval
	if wd := s.notify.WatchdogInterval(); wd > 0 && wd/2 < iv {
		iv = wd / 2
	}
	return iv
}

// watch checks the running member; each WATCHDOG=1 follows a check that
// succeeded just before it. It returns when etcd exits or ctx ends.
func (s *Service) watch(ctx context.Context, proc *supervise.Process, readyMsg string) error {
	tick := time.NewTicker(s.checkInterval())
	defer tick.Stop()
	healthy := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-proc.Done():
			return fmt.Errorf("etcd exited: %w", proc.Err())
		case <-tick.C:
		}
		h, err := s.localHealth(ctx)
		ok := err == nil && h.Voting && h.CaughtUp
		if ok {
			s.notify.Watchdog()
		}
		if ok == healthy {
			continue
		}
		healthy = ok
		if ok {
			s.status(readyMsg)
			continue
		}
		why := "not voting or not caught up"
		if err != nil {
			why = err.Error()
		}
		s.notify.Status("degraded: " + why)
		s.log.Warn("member unhealthy; watchdog not fed", "err", why)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
