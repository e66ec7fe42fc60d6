package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/lifecycle"
)

// snapshot takes a verified snapshot now: into snapshot-dir, pruned and
// handed to snapshot-command like a periodic one, or to exactly --output.
func (a *app) snapshot(ctx context.Context, args []string) error {
	var output string
	if err := a.parseArgs("snapshot", args, func(fs *flag.FlagSet) {
		fs.StringVar(&output, "output", "", "write the snapshot to this file (which must not exist) instead of snapshot-dir")
	}); err != nil {
		return err
	}
	h, err := a.host()
	if err != nil {
		return err
	}
	r, err := lifecycle.SnapshotNow(ctx, h, output, a.stdout)
	if i := r.Info; i.Path != "" {
		fmt.Fprintf(a.stdout, "snapshot %s: %d bytes, revision %d, %d keys, hash %08x, sha256 verified, in %s\n",
			abs(i.Path), i.Size, i.Revision, i.TotalKeys, i.Hash, r.Took.Round(time.Millisecond))
	}
	for _, p := range r.Pruned {
		fmt.Fprintf(a.stdout, "pruned %s (snapshot-keep %d)\n", abs(p), h.Snapshots.Keep)
	}
	if r.Hook != nil && r.HookErr == nil {
		fmt.Fprintf(a.stdout, "snapshot-command: exit 0 in %s\n", r.Hook.Duration.Round(time.Millisecond))
	}
	if r.Hook != nil && r.HookErr != nil && r.Hook.Output != "" {
		fmt.Fprintf(a.stderr, "snapshot-command output:\n%s\n", r.Hook.Output)
	}
	return err
}

// host loads the configuration and describes this host's member for the
// lifecycle commands. Relative paths in the configuration are resolved
// against the current directory, which for the service is its
// WorkingDirectory: the command says so when it matters.
func (a *app) host() (lifecycle.Host, error) {
	cfg, err := a.load()
	if err != nil {
		return lifecycle.Host{}, err
	}
	a.noteRelative(cfg)
	return lifecycle.HostFromConfig(cfg, a.logger(cfg)), nil
}

// noteRelative tells the operator where relative data paths lead.
func (a *app) noteRelative(cfg *config.Config) {
	if filepath.IsAbs(cfg.DataDir) && filepath.IsAbs(cfg.StateFile) && filepath.IsAbs(cfg.Snapshot.Dir) {
		return
	}
	wd, _ := os.Getwd()
	fmt.Fprintf(a.stderr, "note: relative paths are taken from the current directory %s: data dir %s, state file %s, snapshot dir %s "+
		"(the packaged service runs in /var/lib/etcd-rejoin: run this command there)\n",
		wd, abs(cfg.DataDir), abs(cfg.StateFile), abs(cfg.Snapshot.Dir))
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
