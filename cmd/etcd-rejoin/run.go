package main

import (
	"context"
	"os"

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
	return service.New(cfg, log, n, os.Environ()).Run(ctx)
}
