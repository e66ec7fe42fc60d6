package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/lifecycle"
)

// recoverCmd makes this host a new one-member cluster after a lost quorum.
func (a *app) recoverCmd(ctx context.Context, args []string) error {
	var opt lifecycle.RecoverOptions
	if err := a.parseArgs("recover", args, func(fs *flag.FlagSet) {
		fs.StringVar(&opt.Snapshot, "from-snapshot", "", "recover from this snapshot file")
		fs.BoolVar(&opt.LocalData, "from-local-data", false, "recover from this host's own data dir")
		fs.BoolVar(&opt.DryRun, "dry-run", false, "check and print every step; change nothing")
	}); err != nil {
		return err
	}
	if opt.LocalData == (opt.Snapshot != "") {
		return fmt.Errorf("%w: recover: give exactly one of --from-snapshot FILE and --from-local-data", errUsage)
	}
	h, err := a.host()
	if err != nil {
		return err
	}
	opt.Out = a.stdout
	_, err = lifecycle.Recover(ctx, h, opt)
	return err
}
