package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/etcd-rejoin/etcd-rejoin/internal/access"
	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
)

// serviceUser is the user the packaged unit runs the service as.
const serviceUser = "etcd-rejoin"

func (a *app) check(ctx context.Context, args []string) error {
	as := serviceUser
	if err := a.parseArgs("check", args, func(fs *flag.FlagSet) {
		fs.StringVar(&as, "user", serviceUser, "read the files as this user, as the service does (when run as root)")
	}); err != nil {
		return err
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	if err := a.checkReadable(ctx, cfg, as); err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(a.stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(a.stdout, "configuration OK: member %s, data dir %s, %d member(s) in the initial cluster\n",
		cfg.Name, cfg.DataDir, len(cfg.InitialCluster))
	return nil
}

// checkReadable reads every certificate, key and password file as the
// service's user would, inside the packaged unit's sandbox: run as root,
// check itself can read everything, the service cannot.
func (a *app) checkReadable(ctx context.Context, cfg *config.Config, as string) error {
	files := cfg.Files()
	if len(files) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(a.stdout, "note: not root, so the files were not read as user %s, whom the service runs as\n", as)
		return nil
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	problems, err := access.ReadAs(ctx, as, paths)
	if err != nil {
		fmt.Fprintf(a.stdout, "note: files not read as the service's user: %v\n", err)
		return nil
	}
	return unreadable(files, problems, as)
}

// unreadable turns the files the user cannot read into configuration
// problems that say what to change.
func unreadable(files []config.File, problems []access.Problem, as string) error {
	if len(problems) == 0 {
		return nil
	}
	byPath := map[string]config.File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	e := &config.Error{}
	for _, p := range problems {
		f := byPath[p.Path]
		e.Problems = append(e.Problems, &config.Problem{Key: f.Key, Source: f.Source, Msg: fmt.Sprintf(
			"%s cannot be read by user %s, whom the service runs as (%s): give it group %s and mode 0640 "+
				"(chgrp %s FILE; chmod 0640 FILE), add an ACL (setfacl -m u:%s:r FILE), or pass it with LoadCredential= (README: Security)",
			p.Path, as, p.Why, as, as, as)})
	}
	return e
}

func (a *app) help(_ context.Context, args []string) error {
	if err := a.parseArgs("help", args, nil); err != nil {
		return err
	}
	fmt.Fprint(a.stdout, usage())
	return nil
}
