package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/status"
)

// errUnhealthy is returned by status when this member is not healthy: exit 1.
var errUnhealthy = errors.New("this member is not healthy")

// status prints this member and its cluster at a glance; it fails (exit 1)
// unless the member is healthy, so that scripts and monitoring can call it.
func (a *app) status(ctx context.Context, args []string) error {
	var asJSON bool
	if err := a.parseArgs("status", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print one JSON object (documented in the README)")
	}); err != nil {
		return err
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	r := status.Gather(ctx, statusSource(cfg, a))
	write := status.WriteText
	if asJSON {
		write = status.WriteJSON
	}
	if err := write(a.stdout, r); err != nil {
		return err
	}
	if !r.Healthy {
		return fmt.Errorf("%w: %s", errUnhealthy, strings.Join(r.Problems, "; "))
	}
	return nil
}

// statusSource says where status finds its facts, from the configuration.
func statusSource(cfg *config.Config, a *app) status.Source {
	log := a.logger(cfg)
	local, lo := member.LocalFor(cfg, log)
	return status.Source{
		Name: cfg.Name, PeerURLs: cfg.PeerURLs,
		Local: local, LocalOptions: lo, Cluster: member.OptionsFor(cfg, log),
		QuotaBytes:  quotaBytes(cfg),
		RecordPath:  status.RecordPath(cfg.StateFile),
		SnapshotDir: cfg.Snapshot.Dir,
		DataDir:     cfg.DataDir, BackupDir: cfg.BackupDir,
	}
}

// quotaBytes is etcd's quota-backend-bytes as configured; 0 (etcd's
// default) when unset or not a number.
func quotaBytes(cfg *config.Config) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(cfg.Etcd["quota-backend-bytes"]), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
