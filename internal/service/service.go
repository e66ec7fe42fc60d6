// Package service is etcd-rejoin's run loop: observe the data dir and the
// live cluster, decide (package plan), act on the membership, supervise etcd
// as a child and keep systemd informed.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/metrics"
	"github.com/etcd-rejoin/etcd-rejoin/internal/notify"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/status"
	"github.com/etcd-rejoin/etcd-rejoin/internal/supervise"
)

// Service owns one etcd member.
type Service struct {
	cfg     *config.Config
	log     *slog.Logger
	notify  *notify.Notifier
	environ []string
	now     func() time.Time
	// dial connects to the live cluster for membership changes; tests
	// replace it with a fake.
	dial func(ctx context.Context, endpoints []string) (membership, error)
	// localVersion is the etcd binary's release, asked once.
	localVersion string

	metrics   *metrics.Metrics // nil: metrics off
	record    *status.Recorder // nil until Run: plan writes none
	decidedAt time.Time
	// defragging is set while this member is being defragmented: it then
	// answers nothing, by the service's own doing.
	defragging atomic.Bool
	// faults counts etcd's consecutive exits on damaged data.
	faults dataFaults
}

// New returns a service for the configuration. environ is the process
// environment the etcd child's environment is built from.
func New(cfg *config.Config, log *slog.Logger, n *notify.Notifier, environ []string) *Service {
	s := &Service{cfg: cfg, log: log, notify: n, environ: environ, now: time.Now}
	s.dial = func(ctx context.Context, endpoints []string) (membership, error) {
		cli, err := member.Dial(ctx, endpoints, s.memberOptions())
		if err != nil {
			return nil, err
		}
		return counted{cli, s.metrics}, nil
	}
	return s
}

// memberOptions are the settings for talking to the live cluster.
func (s *Service) memberOptions() member.Options { return member.OptionsFor(s.cfg, s.log) }

// layout is where this member's data lives.
func (s *Service) layout() datadir.Layout {
	return datadir.Layout{DataDir: s.cfg.DataDir, WALDir: s.cfg.WALDir}
}

// Observe gathers the facts the decision needs. An error means the local
// state could not be read (permission, I/O): nothing may be acted on then.
func (s *Service) Observe(ctx context.Context) (plan.Observation, error) {
	// Asking the etcd binary its version takes about as long as the rest
	// of the observation (an exec of a large binary): it runs beside it.
	var version string
	var asked sync.WaitGroup
	asked.Go(func() { version = s.etcdVersion(ctx) })
	defer asked.Wait() // on an early return too: never two at once
	data, err := datadir.Inspect(s.layout())
	if err != nil {
		return plan.Observation{}, fmt.Errorf("inspect data dir %s: %w", s.cfg.DataDir, err)
	}
	mem, err := datadir.LoadMemory(s.cfg.StateFile)
	if err != nil {
		return plan.Observation{}, err
	}
	cluster, err := member.Observe(ctx, s.memberOptions())
	if err != nil {
		return plan.Observation{}, fmt.Errorf("observe the cluster: %w", err)
	}
	obs := plan.Observation{
		Self:    plan.Self{Name: s.cfg.Name, PeerURLs: s.cfg.PeerURLs},
		Data:    data,
		Memory:  mem,
		Cluster: cluster,
		Learner: s.cfg.Learner,
		Aliases: resolveAliases(ctx, s.cfg.PeerURLs, cluster),
	}
	asked.Wait()
	obs.LocalVersion = version
	return obs, nil
}

// etcdVersion is the local etcd binary's release, asked once and
// remembered beside the state file for the next start; "" when it cannot
// tell (no version check is made then: etcd itself refuses what it cannot
// run).
func (s *Service) etcdVersion(ctx context.Context) string {
	if s.localVersion == "" {
		v, cached, cacheErr, err := supervise.CachedEtcdVersion(ctx, s.cfg.EtcdBinary, s.versionCache())
		if cacheErr != nil {
			s.log.Debug("etcd version cache not used", "err", cacheErr)
		}
		if err != nil {
			s.log.Warn("cannot tell the local etcd's version", "err", err)
			return ""
		}
		s.log.Debug("local etcd version", "version", v, "remembered", cached)
		s.localVersion = v.String()
	}
	return s.localVersion
}

// versionCache is where the etcd binary's release is remembered: beside
// the state file, "" without one.
func (s *Service) versionCache() string {
	if s.cfg.StateFile == "" {
		return ""
	}
	return datadir.BesideState(s.cfg.StateFile, "etcd-version")
}

// Plan observes and decides, changing nothing.
func (s *Service) Plan(ctx context.Context) (plan.Observation, plan.Plan, error) {
	obs, err := s.Observe(ctx)
	if err != nil {
		return obs, plan.Plan{}, err
	}
	return obs, plan.Decide(obs), nil
}

// status sends a STATUS= line to systemd and logs it.
func (s *Service) status(msg string, attrs ...any) {
	s.notify.Status(msg)
	s.log.Info(msg, attrs...)
}
