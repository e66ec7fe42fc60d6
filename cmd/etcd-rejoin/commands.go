package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/notify"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/service"
)

type app struct {
	configPath     string
	stdout, stderr io.Writer
}

// load reads and validates the configuration.
func (a *app) load() (*config.Config, error) {
	path, _ := config.ResolvePath(a.configPath, os.Getenv, fileExists)
	return config.Load(config.Input{Path: path, Environ: os.Environ(), ReadFile: os.ReadFile, Stat: os.Stat})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (a *app) logger(cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if os.Getenv("JOURNAL_STREAM") != "" {
		// The journal stamps every line itself.
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	var h slog.Handler = slog.NewTextHandler(a.stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(a.stderr, opts)
	}
	log := slog.New(h)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	return log
}

// overridden lists the keys not at their default, with where they came
// from; never their values, which may name secrets.
func overridden(cfg *config.Config) string {
	var out []string
	for key, src := range cfg.Sources {
		if src != "default" && src != "derived" {
			out = append(out, key+" ("+src+")")
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// parseArgs parses a command's own arguments: --config, plus any flags the
// command adds; no positional arguments.
func (a *app) parseArgs(cmd string, args []string, extra func(*flag.FlagSet)) error {
	fs := a.flags(cmd)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if err := usageError(cmd, err); errors.Is(err, errHelp) {
			fmt.Fprint(a.stdout, usage())
			return err
		}
		return usageError(cmd, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, cmd, strings.Join(fs.Args(), " "))
	}
	return nil
}

func (a *app) run(ctx context.Context, args []string) error {
	if err := a.parseArgs("run", args, nil); err != nil {
		return err
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	log := a.logger(cfg)
	n := notify.New(os.Getenv, log)
	log.Info("etcd-rejoin starting", "version", version, "member", cfg.Name, "data_dir", cfg.DataDir,
		"notify", n.Enabled(), "watchdog", n.WatchdogInterval().String(), "configured", overridden(cfg))
	return service.New(cfg, log, n, os.Environ()).Run(ctx)
}

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
