package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
)

func (a *app) version(_ context.Context, args []string) error {
	if err := a.parseArgs("version", args, nil); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "etcd-rejoin %s (commit %s, %s)\n", version, commit, runtime.Version())
	binary := "etcd"
	if cfg, err := a.load(); err == nil {
		binary = cfg.EtcdBinary
	}
	fmt.Fprintf(a.stdout, "etcd: %s\n", etcdVersion(binary))
	return nil
}

// etcdVersion asks the etcd binary for its version.
func etcdVersion(binary string) string {
	out, err := exec.Command(binary, "--version").Output()
	if err != nil {
		return fmt.Sprintf("not found (%s: %v)", binary, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "etcd Version: "); ok {
			return strings.TrimSpace(v) + " (" + binary + ")"
		}
	}
	return strings.TrimSpace(string(out))
}
