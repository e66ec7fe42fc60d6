package main

import (
	"context"

	"github.com/etcd-rejoin/etcd-rejoin/internal/lifecycle"
)

// leave takes this member out of its cluster for good.
func (a *app) leave(ctx context.Context, args []string) error {
	if err := a.parseArgs("leave", args, nil); err != nil {
		return err
	}
	h, err := a.host()
	if err != nil {
		return err
	}
	return lifecycle.Leave(ctx, h, a.stdout)
}
