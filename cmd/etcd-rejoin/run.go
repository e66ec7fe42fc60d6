package main

import (
	"context"
	"os"
	"runtime"

	"github.com/etcd-rejoin/etcd-rejoin/internal/metrics"
	"github.com/etcd-rejoin/etcd-rejoin/internal/notify"
	"github.com/etcd-rejoin/etcd-rejoin/internal/service"
)

func (a *app) run(ctx context.Context, args []string) error {
	if err := a.parseArgs("run", args, nil); err != nil {
		return err
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	log := a.logger(cfg)
	n := notify.New(os.Getenv, log)
	log.Info("etcd-rejoin starting", "version", version, "member", cfg.Name, "data_dir", cfg.DataDir,
		"notify", n.Enabled(), "watchdog", n.WatchdogInterval().String(), "configured", overridden(cfg))
	svc := service.New(cfg, log, n, os.Environ())
	if cfg.MetricsAddress != "" {
		svc.SetMetrics(metrics.New(metrics.BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}))
	}
	return svc.Run(ctx)
}
