package service

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/defrag"
	"github.com/etcd-rejoin/etcd-rejoin/internal/lifecycle"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/status"
)

// defragTimeout bounds one defragmentation of this member: while it runs
// the member answers nothing and the watchdog is fed regardless, so a
// defragmentation that never ends must end the feeding too.
const defragTimeout = 10 * time.Minute

// startTasks starts what runs beside a ready member, in goroutines of their
// own and never in the watchdog's path: periodic snapshots and
// defragmentation. The returned function stops them and waits.
func (s *Service) startTasks(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if s.cfg.Snapshot.Interval > 0 {
		done := lifecycle.RunSnapshots(ctx, lifecycle.HostFromConfig(s.cfg, s.log).Snapshots, s.openSnapshot, s.snapshotted)
		wg.Go(func() { <-done })
	}
	if s.cfg.Defrag.Enabled {
		wg.Go(func() { s.defragLoop(ctx) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// openSnapshot streams a snapshot of this host's own member.
func (s *Service) openSnapshot(ctx context.Context) (io.ReadCloser, error) {
	endpoint, o := member.LocalFor(s.cfg, s.log)
	return member.OpenSnapshot(ctx, endpoint, o)
}

// snapshotted reports one round of periodic snapshots: the journal, the
// metrics, the status record, and STATUS= when it failed. A failed snapshot
// never stops the member.
func (s *Service) snapshotted(r lifecycle.Result) {
	r.Log(s.log)
	if r.Skipped {
		return
	}
	if r.Err != nil {
		s.metrics.SnapshotFailed()
	} else {
		s.metrics.SnapshotTaken(r.Start, r.Info.Size, r.Took)
	}
	s.record.Snapshot(r.Info.Path, r.Info.Size, r.Took, r.Err)
	if r.Failed() {
		s.notify.Status("running; " + r.Summary())
	}
}

// defragLoop checks this member every defrag-check-interval and
// defragments it when that is due and safe (see package defrag).
func (s *Service) defragLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Defrag.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.defragOnce(ctx)
	}
}

func (s *Service) defragOnce(ctx context.Context) {
	local, localOpts := member.LocalFor(s.cfg, s.log)
	d, err := defrag.Dial(ctx, local, localOpts, s.memberOptions())
	if err != nil {
		s.log.Debug("defragmentation check: cannot reach the cluster", "err", err)
		return
	}
	defer func() { _ = d.Close() }()
	res, err := defrag.Run(ctx, marked{d, s}, defrag.Policy{MinFreeRatio: s.cfg.Defrag.MinFreeRatio, MinFreeBytes: s.cfg.Defrag.MinFreeBytes})
	if ctx.Err() != nil {
		return
	}
	s.defragReported(res, err)
}

// defragReported reports a defragmentation run that did something or
// failed: the journal, the metrics and the status record.
func (s *Service) defragReported(res defrag.Result, err error) {
	switch {
	case err != nil:
		s.metrics.DefragFailed()
		s.log.Warn("defragmentation failed", "err", err)
	case res.Outcome == defrag.Defragmented:
		s.metrics.Defragmented(res.Before.Bytes, res.After.Bytes, res.Took)
		s.log.Info("defragmented this member", "before_bytes", res.Before.Bytes, "after_bytes", res.After.Bytes, "took", res.Took.String())
	case res.Outcome == defrag.NotDue:
		return
	default:
		s.log.Info("defragmentation put off", "outcome", res.Outcome, "why", res.Detail)
	}
	s.record.Defrag(status.DefragRecord{Outcome: res.Outcome, Detail: res.Detail,
		BeforeBytes: res.Before.Bytes, BeforeInUse: res.Before.InUse, AfterBytes: res.After.Bytes, AfterInUse: res.After.InUse,
		DurationSeconds: res.Took.Seconds()})
}

// marked tells the watch loop while this member is being defragmented: it
// answers nothing then, by the service's own doing, and the watchdog is fed
// regardless (for at most defragTimeout).
type marked struct {
	*defrag.Live
	s *Service
}

func (m marked) DefragmentLocal(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, defragTimeout)
	defer cancel()
	m.s.defragging.Store(true)
	defer m.s.defragging.Store(false)
	m.s.notify.Status("running; defragmenting this member")
	return m.Live.DefragmentLocal(ctx)
}
