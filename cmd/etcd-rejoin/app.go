package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
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
