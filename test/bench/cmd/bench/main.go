// Command bench runs etcd-rejoin's benchmarks (package bench) and writes
// the report: `make bench` for the full run, `make bench-short` runs a
// small one as a test. With -from-json it only renders a report again from
// the results of an earlier run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/test/bench"
)

// options are the command line.
type options struct {
	cfg      bench.Config
	versions string
	sizes    string
	members  string
	nets     string
	keep     bool
	jsonOut  string
	report   string
	plot     string
	fromJSON string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	res, err := results(ctx, o)
	if err != nil {
		return err
	}
	if err := write(o, res); err != nil {
		return err
	}
	if problems := bench.Problems(res); len(problems) > 0 {
		return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

func parse(args []string) (*options, error) {
	o := &options{}
	c := &o.cfg
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.Rejoin, "rejoin", "build/etcd-rejoin", "the etcd-rejoin binary")
	fs.StringVar(&c.Etcdctl, "etcdctl", bench.DefaultEtcdctl, "etcdctl for the manual procedure")
	fs.StringVar(&o.versions, "versions", "3.4,3.6", "etcd versions (3.4, 3.5, 3.6)")
	fs.StringVar(&o.sizes, "sizes", "0,64,512", "data sizes of the heal cells, MB")
	fs.StringVar(&o.members, "members", "3,5", "member counts of the heal cells")
	fs.IntVar(&c.Rounds, "rounds", 5, "heals per method and cell")
	fs.IntVar(&c.WriterRounds, "writer-rounds", 1, "further heals per method and cell with a writer")
	fs.IntVar(&c.WriterRate, "writer-rate", 100, "the writer's writes per second")
	fs.DurationVar(&c.WriterBaseline, "writer-baseline", 5*time.Second, "writing with no fault before each writer round")
	fs.DurationVar(&c.Settle, "settle", 3*time.Second, "pause after each heal")
	fs.DurationVar(&c.HealTimeout, "heal-timeout", 2*time.Minute, "longest heal (plus 0.5 s per MB)")
	fs.IntVar(&c.DecisionRounds, "decision-rounds", 5, "starts per decision case")
	fs.DurationVar(&c.CostDuration, "cost", 10*time.Minute, "how long the healthy cost is sampled")
	fs.IntVar(&c.SnapshotCount, "snapshot-count", 1000, "every member's --snapshot-count")
	fs.IntVar(&c.ValueSize, "value-size", 4096, "bytes per value of the data set")
	fs.StringVar(&o.nets, "nets", "200-215", "loopback /24s to use: 127.0.X.0, X in this range")
	fs.StringVar(&c.Work, "work", "", "scratch directory (default: a new temporary one, removed unless -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory (data dirs and logs)")
	fs.StringVar(&o.jsonOut, "json", "docs/benchmarks.json", "write the raw results here")
	fs.StringVar(&o.report, "report", "docs/benchmarks.md", "write the report here")
	fs.StringVar(&o.plot, "plot", "docs/benchmarks-heal.png", "write the plot here (the report links it by its base name)")
	fs.StringVar(&o.fromJSON, "from-json", "", "render the report from these results instead of measuring")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.Command = "bench " + strings.Join(args, " ")
	return o, o.resolve()
}

func (o *options) resolve() error {
	var errs []error
	known := bench.KnownVersions()
	for _, name := range splitList(o.versions) {
		v, ok := known[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown etcd version %q", name))
		}
		o.cfg.Versions = append(o.cfg.Versions, v)
	}
	var err error
	if o.cfg.Sizes, err = ints(o.sizes); err != nil {
		errs = append(errs, fmt.Errorf("-sizes: %w", err))
	}
	if o.cfg.Members, err = ints(o.members); err != nil {
		errs = append(errs, fmt.Errorf("-members: %w", err))
	}
	lo, hi, _ := strings.Cut(o.nets, "-")
	if o.cfg.NetFirst, err = strconv.Atoi(lo); err != nil {
		errs = append(errs, fmt.Errorf("-nets: %w", err))
	}
	if o.cfg.NetLast, err = strconv.Atoi(hi); err != nil {
		errs = append(errs, fmt.Errorf("-nets: %w", err))
	}
	if abs, err := filepath.Abs(o.cfg.Rejoin); err == nil {
		o.cfg.Rejoin = abs
	}
	o.cfg.Log = os.Stderr
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// results measures, or reads an earlier run's results.
func results(ctx context.Context, o *options) (*bench.Results, error) {
	if o.fromJSON != "" {
		b, err := os.ReadFile(o.fromJSON)
		if err != nil {
			return nil, err
		}
		var res bench.Results
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("read %s: %w", o.fromJSON, err)
		}
		return &res, nil
	}
	if o.cfg.Work == "" {
		dir, err := os.MkdirTemp("", "etcd-rejoin-bench-")
		if err != nil {
			return nil, err
		}
		o.cfg.Work = dir
	}
	if !o.keep {
		defer os.RemoveAll(o.cfg.Work)
	} else {
		fmt.Fprintln(os.Stderr, "bench: keeping", o.cfg.Work)
	}
	return bench.Run(ctx, &o.cfg)
}

// write writes the raw results, the plot and the report.
func write(o *options, res *bench.Results) error {
	if o.jsonOut != "" && o.fromJSON == "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFile(o.jsonOut, append(b, '\n')); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.jsonOut)
	}
	png, err := bench.Plot(res)
	if err != nil {
		return err
	}
	if err := writeFile(o.plot, png); err != nil {
		return err
	}
	if err := writeFile(o.report, []byte(bench.Report(res, filepath.Base(o.plot)))); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s and %s\n", o.report, o.plot)
	return nil
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return os.Rename(tmp, p)
}
