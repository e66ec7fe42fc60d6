package main

import (
	"context"
	"fmt"
)

func (a *app) check(_ context.Context, args []string) error {
	if err := a.parseArgs("check", args, nil); err != nil {
		return err
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(a.stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(a.stdout, "configuration OK: member %s, data dir %s, %d member(s) in the initial cluster\n",
		cfg.Name, cfg.DataDir, len(cfg.InitialCluster))
	return nil
}

func (a *app) help(_ context.Context, args []string) error {
	if err := a.parseArgs("help", args, nil); err != nil {
		return err
	}
	fmt.Fprint(a.stdout, usage())
	return nil
}
