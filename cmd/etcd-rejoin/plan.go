package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/lifecycle"
	"github.com/etcd-rejoin/etcd-rejoin/internal/notify"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/service"
)

// planOutput is what `plan --json` prints.
type planOutput struct {
	plan.Plan
	Observation plan.Observation `json:"observation"`
	// Recovery is set on a member of a cluster that has lost its quorum:
	// the command that ends it, and what this host could recover from.
	Recovery *lifecycle.RecoveryHint `json:"recovery,omitempty"`
}

func (a *app) plan(ctx context.Context, args []string) error {
	var asJSON bool
	if err := a.parseArgs("plan", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print one JSON object")
	}); err != nil {
		return err
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	log := a.logger(cfg)
	obs, p, err := service.New(cfg, log, notify.New(func(string) string { return "" }, log), nil).Plan(ctx)
	if err != nil {
		return err
	}
	out := planOutput{Plan: p, Observation: obs}
	if lifecycle.LostQuorum(obs) {
		hint := lifecycle.Hint(ctx, lifecycle.HostFromConfig(cfg, log), obs)
		out.Recovery = &hint
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("write plan: %w", err)
		}
	} else {
		fmt.Fprintf(a.stdout, "action: %s\nreason: %s\n", p.Action, p.Reason)
		if out.Recovery != nil {
			fmt.Fprint(a.stdout, out.Recovery.Text())
		}
	}
	if p.Action == plan.Wait {
		return errWouldWait
	}
	return nil
}
