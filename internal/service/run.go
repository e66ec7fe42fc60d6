package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datafault"
	"github.com/etcd-rejoin/etcd-rejoin/internal/failpoint"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/memtrim"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/publish"
	"github.com/etcd-rejoin/etcd-rejoin/internal/status"
	"github.com/etcd-rejoin/etcd-rejoin/internal/supervise"
)

// Pauses: the first look again after a wait, how often a starting member is
// polled until it is ready, and the short retry after etcd refused a change
// for a few seconds (etcd wants every voter connected for 5 s after a
// change). Short retries last soonWindow, then the normal backoff takes over:
// an unrelated voter that stays down must not cost a full observation twice
// a second for as long as it is down.
const (
	firstBackoff = time.Second
	readyPoll    = 100 * time.Millisecond
	// publishGrace: how long after applying the leader's snapshot a joining
	// etcd may take to publish itself before it counts as stuck. A publish
	// request after the snapshot is applied within milliseconds: 0-60 ms
	// in 36 benchmark heals, while a stuck one waits 7 s.
	publishGrace = 100 * time.Millisecond
	// startCheckTimeout bounds a check of the local member before etcd has
	// said it published itself (it answers nothing before that), so that
	// the loop keeps its pace.
	startCheckTimeout = readyPoll
	retrySoon         = 500 * time.Millisecond
	soonWindow        = 10 * time.Second
)

// Run is the service: it returns nil after a clean stop (ctx cancelled) and
// an error when etcd could not be started or died.
func (s *Service) Run(ctx context.Context) error {
	if err := s.preflight(); err != nil {
		return err
	}
	if err := s.startReporting(ctx); err != nil {
		return err
	}
	p := pacer{backoff: firstBackoff, max: s.cfg.WaitBackoffMax}
	for {
		why, soon, err := s.attempt(ctx)
		switch {
		case ctx.Err() != nil:
			return s.stopped(ctx)
		case err != nil:
			return err
		}
		pause := p.next(soon, s.now())
		s.status("waiting: "+why, "retry_in", pause.String())
		s.record.State(status.StateWaiting, why)
		if !sleep(ctx, pause) {
			return s.stopped(ctx)
		}
	}
}

// pacer picks the pause before the next look: short ones while etcd refuses
// a change for a few seconds, for at most soonWindow in a row; a backoff
// that doubles up to max otherwise.
type pacer struct {
	backoff, max time.Duration
	soonSince    time.Time // start of the current run of short retries
}

func (p *pacer) next(soon bool, now time.Time) time.Duration {
	if soon && p.soonSince.IsZero() {
		p.soonSince = now
	}
	if soon && now.Sub(p.soonSince) < soonWindow {
		return retrySoon
	}
	if !soon {
		p.soonSince = time.Time{}
	}
	pause := p.backoff
	p.backoff = min(2*p.backoff, p.max)
	return pause
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
	s.decided(p)
	s.rememberSeen(obs)
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
// then stopped quickly and Run fails, so that the unit is restarted.
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
	if l.since.IsZero() {
		l.since = s.now()
	}
	watcher := datafault.NewWatcher(os.Stderr)
	pub := publish.NewWatcher(watcher, s.now)
	proc, err := supervise.Start(supervise.Spec{
		Path:   s.cfg.EtcdBinary,
		Env:    supervise.BuildEnv(s.environ, settings(s.cfg, l)),
		Output: pub,
	})
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	s.log.Info("etcd started", "pid", proc.Pid(), "state", l.state, "action", string(p.Action))
	s.record.State(status.StateJoining, fmt.Sprintf("%s: etcd started (pid %d)", p.Action, proc.Pid()))
	if l.joining {
		failpoint.Hit(failpoint.AfterStart)
	}
	checker := s.localChecker()
	defer checker.Close()
	h, err := s.awaitReady(ctx, proc, l, checker, pub)
	if errors.Is(err, errRepublish) {
		l.joining = false
		return s.runEtcd(ctx, p, l)
	}
	if err != nil {
		return s.finish(ctx, proc, s.judgeData(ctx, proc, watcher, l, membershipRefusal(p, proc, err)))
	}
	took := s.now().Sub(l.since).Round(10 * time.Millisecond)
	msg := fmt.Sprintf("running: member %s of cluster %s, voting and caught up (%s, ready in %s)",
		plan.HexID(h.MemberID), plan.HexID(h.ClusterID), p.Action, took)
	s.notify.ReadyStatus(msg)
	s.ready(p, msg)
	s.trimMemory()
	defer s.metrics.Ready(false)
	s.log.Info(msg, "member", plan.HexID(h.MemberID), "action", string(p.Action), "ready_after", took.String())
	s.remember(plan.Memory{MemberID: h.MemberID, ClusterID: h.ClusterID})
	stopTasks := s.startTasks(ctx)
	err = s.watch(ctx, proc, checker, h.MemberID, msg)
	stopTasks()
	if l.memberID == 0 {
		l.memberID = h.MemberID
	}
	return s.finish(ctx, proc, s.judgeData(ctx, proc, watcher, l, s.corrupted(err, h)))
}

// trimMemory hands back the pages of etcd-rejoin's binary that starting
// touched (see memtrim); a kernel without MADV_PAGEOUT keeps them.
func (s *Service) trimMemory() {
	n, err := memtrim.Executable()
	s.log.Debug("paged out the executable's start-up pages", "mapped_bytes", n, "err", err)
}

// refusals are the lines etcd logs when it refuses to start as an existing
// member for a membership reason: its initial cluster does not match the
// live list (etcd's ValidateClusterAndAssignIDs: "member count is unequal",
// or no peer URL match), its name is not in the initial cluster it was given
// (etcd's ServerConfig.hasLocalMember), or it could not fetch the live list
// from any peer (etcd's GetClusterFromRemotePeers). The list changed while it
// started (another member joining), or a peer was briefly away: the service
// looks again instead of exiting.
var refusals = []string{
	"error validating peerURLs",
	"member count is unequal",
	"couldn't find local name",
	"cannot fetch cluster info",
}

// membershipRefusal turns etcd's refusal to start as an existing member, for
// one of those reasons, into a reason to look again.
func membershipRefusal(p plan.Plan, proc *supervise.Process, err error) error {
	if p.Action != plan.Join && p.Action != plan.Rejoin {
		return err
	}
	if r := refusal(proc.Tail()); r != "" {
		return &errLookAgain{why: "etcd refused to start as an existing member (" + r + "); looking again", err: err}
	}
	return err
}

// refusal returns the membership refusal the lines report, or "".
func refusal(lines []string) string {
	for _, line := range lines {
		for _, r := range refusals {
			if strings.Contains(line, r) {
				return r
			}
		}
	}
	return ""
}

// finish stops etcd when the service is stopping, and reports how it ended.
func (s *Service) finish(ctx context.Context, proc *supervise.Process, err error) error {
	if ctx.Err() == nil {
		if err != nil {
			s.stopChild(proc, s.cfg.StopTimeout)
		}
		return err
	}
	timeout := s.cfg.StopTimeout
	if errors.Is(context.Cause(ctx), ErrAborted) {
		timeout = min(timeout, abortStopTimeout)
	}
	s.notify.Stopping()
	s.status("stopping etcd")
	s.record.State(status.StateStopping, "stopping etcd")
	s.stopChild(proc, timeout)
	return endCause(ctx)
}

// stopChild stops etcd if it still runs.
func (s *Service) stopChild(proc *supervise.Process, timeout time.Duration) {
	if stopErr := proc.Stop(timeout); stopErr != nil {
		s.log.Info("etcd stopped", "exit", stopErr.Error())
	}
}

// exited describes how etcd ended.
func exited(proc *supervise.Process) error {
	if err := proc.Err(); err != nil {
		return fmt.Errorf("etcd exited: %w", err)
	}
	return errors.New("etcd exited with status 0")
}

// errWrongMember: the local endpoint answers as another member than the one
// etcd was started as.
var errWrongMember = errors.New("the local client URL answers as another member")

// checkMemberID fails when the local endpoint answers as a member other than
// the one launched (want 0: not known before the start).
func checkMemberID(h member.Health, want uint64) error {
	if want == 0 || h.MemberID == 0 || h.MemberID == want {
		return nil
	}
	return fmt.Errorf("%w: %s, but etcd was started as member %s (another etcd on this address?)",
		errWrongMember, plan.HexID(h.MemberID), plan.HexID(want))
}

// awaitReady polls the local member until it is healthy, voting and caught
// up, promoting it when it is a learner.
func (s *Service) awaitReady(ctx context.Context, proc *supervise.Process, l launch, checker *member.Checker, pub *publish.Watcher) (member.Health, error) {
	launched := s.now() // etcd was just started
	tick := time.NewTicker(min(readyPoll, s.cfg.HealthInterval))
	defer tick.Stop()
	last := ""
	answered := false
	progress := s.startCatchUp()
	stall := time.NewTimer(s.cfg.JoinTimeout)
	defer stall.Stop()
	pr := s.newPromoter(l.endpoints)
	defer pr.close()
	promoted := false
	var learnerID uint64 // the learner to promote, once known
	if l.learner {
		learnerID = l.memberID
	}
	if !l.joining {
		stall.Stop()
	}
	// stuck fires publishGrace after etcd applied a snapshot: a joining
	// etcd that has not published by then may be waiting for a publish
	// request the snapshot holds (package publish); its own promotion
	// applied after the snapshot tells at once. Whether the cluster lists
	// the member as published is asked as soon as the snapshot is applied,
	// so that a stuck etcd is restarted without delay.
	stuck := time.NewTimer(time.Hour)
	stuck.Stop()
	defer stuck.Stop()
	listed := false
	policy := publish.Policy{Started: launched, Timeout: s.publishTimeout(), Grace: publishGrace, Member: plan.HexID(l.memberID)}
	for {
		select {
		case <-ctx.Done():
			return member.Health{}, ctx.Err()
		case <-proc.Done():
			return member.Health{}, fmt.Errorf("before it was ready: %w", exited(proc))
		case <-stall.C:
			if !answered {
				return member.Health{}, s.stalled(proc)
			}
			continue
		case <-pub.Events():
			if pub.Published() {
				// etcd serves clients from now on: check at once
				// rather than at the next tick (up to readyPoll
				// later, which a heal of a second would feel).
				break
			}
			if !l.joining || l.memberID == 0 {
				continue
			}
			stuck.Reset(publishGrace)
			listed = listed || pr.published(ctx, l.memberID)
		case <-stuck.C:
		case <-tick.C:
		}
		if l.joining && l.memberID != 0 && pub.Stuck(s.now(), policy) &&
			(listed || pr.published(ctx, l.memberID)) {
			return member.Health{}, s.republish(proc, l.memberID)
		}
		if learnerID != 0 && !promoted {
			// Promote before the member answers: etcd accepts a learner
			// in sync with the leader even before it has published
			// itself (which can wait for an applied entry, see
			// promoter).
			promoted = pr.try(ctx, learnerID)
		}
		timeout := s.cfg.RequestTimeout
		if !pub.Published() {
			// etcd serves clients only once published: do not let a
			// check that cannot succeed yet hold up the loop.
			timeout = startCheckTimeout
		}
		h, err := s.localHealth(ctx, checker, timeout)
		if err != nil {
			s.log.Debug("local member not ready", "err", err)
		}
		answered = answered || h.MemberID != 0
		if err := checkMemberID(h, l.memberID); err != nil {
			return h, err
		}
		if note := s.catchingUp(ctx, &progress, h, l); note != "" {
			s.status(note)
		}
		if errors.Is(err, member.ErrLearner) && l.memberID != 0 {
			// With etcd auth on, a learner does not even authenticate a
			// client: its state is known only from the cluster.
			h = member.Health{MemberID: l.memberID, IsLearner: true}
			err = nil
		}
		msg := ""
		switch {
		case errors.Is(err, member.ErrAuth):
			msg = "starting: etcd refuses etcd-rejoin's credentials (check client-auth or the client certificate's CN): " + err.Error()
		case err != nil:
			msg = "starting: waiting for etcd to answer"
		case h.IsLearner && promoted:
			msg = fmt.Sprintf("rejoining: member %s promoted; waiting for it to apply its promotion", plan.HexID(h.MemberID))
		case h.IsLearner:
			msg = fmt.Sprintf("rejoining: learner %s catching up; promoting once in sync", plan.HexID(h.MemberID))
			if learnerID == 0 {
				// A learner started on its data (an interrupted rejoin).
				learnerID = h.MemberID
				if promoted = pr.try(ctx, learnerID); promoted {
					continue
				}
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

// errRepublish: etcd applied the leader's snapshot, the cluster lists the
// member as published, and etcd still waits for its publish request to be
// applied (it came inside the snapshot, see package publish). runEtcd
// starts etcd again on the data it just received.
var errRepublish = errors.New("etcd waits for a publish request its snapshot already holds")

// publishTimeout is how long etcd waits for its publish request to be
// applied before it tries again: its request timeout, 5 s plus two election
// timeouts.
func (s *Service) publishTimeout() time.Duration {
	election := time.Second
	if v, ok := s.cfg.Etcd["election-timeout"]; ok {
		if ms, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && ms > 0 {
			election = time.Duration(ms) * time.Millisecond
		}
	}
	return 5*time.Second + 2*election
}

// republish stops etcd so that it can be started again on its data.
func (s *Service) republish(proc *supervise.Process, id uint64) error {
	s.status(fmt.Sprintf("rejoining: member %s is in the cluster and has the leader's snapshot, but etcd waits for "+
		"its publish request that the snapshot already holds; restarting etcd on that data", plan.HexID(id)))
	s.stopChild(proc, s.cfg.StopTimeout)
	return errRepublish
}

// stalled stops a joining etcd that never answered within join-timeout, so
// that the cluster is looked at again (its data, if any, stays: the next
// look restarts it on that data or decides anew).
func (s *Service) stalled(proc *supervise.Process) error {
	why := fmt.Sprintf("etcd joined but did not answer within %s; stopped it, looking again", s.cfg.JoinTimeout)
	s.log.Warn(why)
	s.stopChild(proc, s.cfg.StopTimeout)
	return &errLookAgain{why: why}
}

// notMine drops this member's own client URLs: a learner serves no
// membership requests.
func (s *Service) notMine(urls []string) []string {
	mine := append([]string{s.cfg.LocalClientURL}, s.cfg.AdvertiseClientURLs...)
	var out []string
	for _, u := range urls {
		if !contains(mine, u) {
			out = append(out, u)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// localChecker checks this host's own member for the life of one etcd
// process.
func (s *Service) localChecker() *member.Checker {
	return member.NewChecker(member.LocalFor(s.cfg, s.log))
}

func (s *Service) localHealth(ctx context.Context, c *member.Checker, timeout time.Duration) (member.Health, error) {
	timeout = min(timeout, s.checkInterval())
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Health(cctx)
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
// succeeded just before it (or falls while the service itself defragments
// the member, which then answers nothing). It returns when etcd exits, when
// the local endpoint answers as another member, when etcd raised CORRUPT
// against this member, or when ctx ends.
func (s *Service) watch(ctx context.Context, proc *supervise.Process, checker *member.Checker, id uint64, readyMsg string) error {
	tick := time.NewTicker(s.checkInterval())
	defer tick.Stop()
	last := readyMsg
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-proc.Done():
			return exited(proc)
		case <-tick.C:
		}
		h, err := s.localHealth(ctx, checker, s.cfg.RequestTimeout)
		if err := checkMemberID(h, id); err != nil {
			return err
		}
		if a, ok := h.Alarm("CORRUPT"); ok && a.MemberID == id {
			return &errCorrupt{id: id}
		}
		ok := err == nil && h.Voting && h.CaughtUp
		s.metrics.HealthCheck(ok)
		if ok || s.defragging.Load() {
			s.notify.Watchdog()
			s.metrics.WatchdogPing()
		}
		msg := s.runningStatus(h, err, ok, readyMsg)
		if msg == last {
			continue
		}
		last = msg
		s.notify.Status(msg)
		if ok {
			s.record.State(status.StateRunning, msg)
			s.log.Info(msg)
		} else {
			s.record.State(status.StateDegraded, msg)
			s.log.Warn("member unhealthy; watchdog not fed", "err", msg)
		}
	}
}

// runningStatus is the STATUS= line of a running member.
func (s *Service) runningStatus(h member.Health, err error, ok bool, readyMsg string) string {
	switch {
	case s.defragging.Load():
		return "running; defragmenting this member (it answers nothing meanwhile)"
	case !ok && err != nil:
		return "degraded: " + err.Error()
	case !ok:
		return "degraded: not voting or not caught up"
	}
	if _, nospace := h.Alarm("NOSPACE"); nospace {
		return fmt.Sprintf("running, but etcd raised NOSPACE: the database (%s) reached its quota (%s) and every write is refused; "+
			"free space and disarm: etcd-rejoin etcdctl compact <revision>, etcd-rejoin etcdctl defrag, etcd-rejoin etcdctl alarm disarm",
			bytesText(h.DBSize), bytesText(s.quota()))
	}
	return readyMsg
}

// quota is etcd's quota-backend-bytes: configured, or etcd's default 2 GiB.
func (s *Service) quota() int64 {
	if q, err := strconv.ParseInt(strings.TrimSpace(s.cfg.Etcd["quota-backend-bytes"]), 10, 64); err == nil && q > 0 {
		return q
	}
	return 2 << 30
}

func bytesText(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// errCorrupt: etcd raised its CORRUPT alarm against this member.
type errCorrupt struct{ id uint64 }

func (e *errCorrupt) Error() string {
	return fmt.Sprintf("etcd raised its CORRUPT alarm against this member %s", plan.HexID(e.id))
}

// corrupted turns etcd's CORRUPT alarm against this member into a look
// again: etcd is stopped, the alarm is recorded in the state file, and the
// next decision moves the data aside and rejoins when a quorum of healthy
// voters remains (or waits and says why).
func (s *Service) corrupted(err error, h member.Health) error {
	var c *errCorrupt
	if !errors.As(err, &c) {
		return err
	}
	s.log.Warn(c.Error() + "; stopping etcd, its data will be moved aside")
	s.remember(plan.Memory{MemberID: h.MemberID, ClusterID: h.ClusterID, Corrupt: &plan.Corrupt{At: s.now(), MemberID: c.id}})
	return &errLookAgain{why: c.Error() + "; etcd stopped", err: err, soon: true}
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
