package main

import (
	"context"

	"github.com/etcd-rejoin/etcd-rejoin/internal/lifecycle"
)

// join clears a recorded leave: the service adds this member back.
func (a *app) join(_ context.Context, args []string) error {
	if err := a.parseArgs("join", args, nil); err != nil {
		return err
	}
	h, err := a.host()
	if err != nil {
		return err
	}
	return lifecycle.Join(h, a.stdout)
}
