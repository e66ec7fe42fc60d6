// Package bench measures etcd-rejoin against the real thing: the binary
// built from ./cmd/etcd-rejoin owning real etcd members on loopback, next to
// the manual procedure scripted with etcdctl. It times the heal of a wiped
// member (with a breakdown read from what the binary logs and notifies),
// watches a client writing during heals, times decisions, and measures the
// service's cost while healthy; then it renders a report and a plot.
// cmd/bench runs it (make bench, make bench-short).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Version is one etcd server release.
type Version struct {
	Name   string `json:"name"`
	Binary string `json:"binary"`
}

// Config says what to measure and how.
type Config struct {
	Rejoin  string // the etcd-rejoin binary
	Etcdctl string // etcdctl for the manual procedure
	// Versions are the etcd releases of the heal cells, the decisions and
	// the cost runs.
	Versions []Version
	Sizes    []int // data sizes of the heal cells, MB
	Members  []int // member counts of the heal cells
	// Rounds heals per method and cell without a writer; WriterRounds with
	// one writing WriterRate times a second, after WriterBaseline of
	// writing with no fault.
	Rounds, WriterRounds, WriterRate int
	WriterBaseline                   time.Duration
	Settle                           time.Duration // pause after each heal
	HealTimeout                      time.Duration // plus 0.5 s per MB
	DecisionRounds                   int
	CostDuration                     time.Duration
	// SnapshotCount is every member's --snapshot-count; ValueSize the size
	// of each key's value in the data set.
	SnapshotCount, ValueSize int
	// NetFirst..NetLast are the loopback /24s (127.0.X.0) the bench may use.
	NetFirst, NetLast int
	Work              string    // scratch directory; data dirs and logs
	Log               io.Writer // progress
	Command           string    // how the bench was invoked, for the report

	nextNet int
}

func (cfg *Config) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, format+"\n", args...)
	}
}

// net hands out the next loopback /24.
func (cfg *Config) net() (string, error) {
	n := cfg.NetFirst + cfg.nextNet
	if n > cfg.NetLast {
		return "", fmt.Errorf("out of loopback /24s (127.0.%d-%d.0): fewer cells, or a wider range", cfg.NetFirst, cfg.NetLast)
	}
	cfg.nextNet++
	return fmt.Sprintf("127.0.%d", n), nil
}

// Results is everything one run measured.
type Results struct {
	Meta      Meta       `json:"meta"`
	Cells     []Cell     `json:"cells"`
	Decisions []Decision `json:"decisions"`
	Cost      []Cost     `json:"cost"`
}

// Run runs every part of the benchmark in turn.
func Run(ctx context.Context, cfg *Config) (*Results, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	res := &Results{Meta: describe(ctx, cfg)}
	// The cost runs sample idle processes for minutes: they run beside the
	// heals, on their own /24s, rather than after them.
	costs, err := startCosts(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, v := range cfg.Versions {
		for _, m := range cfg.Members {
			for _, s := range cfg.Sizes {
				prefix, err := cfg.net()
				if err != nil {
					return nil, err
				}
				cfg.logf("heal: etcd %s, %d members, %d MB (%s.0/24)", v.Name, m, s, prefix)
				cell := runCell(ctx, cfg, v, m, s, prefix, cfg.Work)
				if cell.Err != "" {
					cfg.logf("  failed: %s", cell.Err)
				}
				res.Cells = append(res.Cells, cell)
			}
		}
	}
	for _, v := range cfg.Versions {
		prefix, err := cfg.net()
		if err != nil {
			return nil, err
		}
		cfg.logf("decisions: etcd %s (%s.0/24)", v.Name, prefix)
		res.Decisions = append(res.Decisions, runDecisions(ctx, cfg, v, prefix)...)
	}
	res.Cost = costs()
	res.Meta.LoadAfter = loadAvg()
	res.Meta.Finished = time.Now().UTC()
	return res, nil
}

func (cfg *Config) check() error {
	var errs []error
	for _, p := range []string{cfg.Rejoin, cfg.Etcdctl} {
		if err := executable(p); err != nil {
			errs = append(errs, err)
		}
	}
	for _, v := range cfg.Versions {
		if err := executable(v.Binary); err != nil {
			errs = append(errs, fmt.Errorf("etcd %s: %w", v.Name, err))
		}
	}
	if cfg.Rounds < 1 || cfg.WriterRate < 1 || cfg.DecisionRounds < 1 {
		errs = append(errs, errors.New("rounds, writer rate and decision rounds must be at least 1"))
	}
	if err := os.MkdirAll(cfg.Work, 0o700); err != nil {
		errs = append(errs, fmt.Errorf("work dir: %w", err))
	}
	return errors.Join(errs...)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// Default paths of the etcd builds scripts/deps.sh caches (REJOIN_DEV_CACHE
// moves them), and Debian's etcd and etcdctl.
const (
	defaultCache   = "/var/cache/etcd-rejoin-dev"
	DefaultEtcdctl = "/usr/bin/etcdctl"
)

// KnownVersions are the etcd releases the project installs, by name.
func KnownVersions() map[string]Version {
	cache := os.Getenv("REJOIN_DEV_CACHE")
	if cache == "" {
		cache = defaultCache
	}
	return map[string]Version{
		"3.4": {Name: "3.4", Binary: "/usr/bin/etcd"},
		"3.5": {Name: "3.5", Binary: filepath.Join(cache, "etcd-v3.5.35", "etcd")},
		"3.6": {Name: "3.6", Binary: filepath.Join(cache, "etcd-v3.6.16", "etcd")},
	}
}
