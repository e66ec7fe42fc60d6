package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/notify"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/service"
)

// planOutput is what `plan --json` prints.
type planOutput struct {
	plan.Plan
	Observation plan.Observation `json:"observation"`
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
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(planOutput{Plan: p, Observation: obs}); err != nil {
			return fmt.Errorf("write plan: %w", err)
		}
	} else {
		fmt.Fprintf(a.stdout, "action: %s\nreason: %s\n", p.Action, p.Reason)
	}
	if p.Action == plan.Wait {
		return errWouldWait
	}
	return nil
}
