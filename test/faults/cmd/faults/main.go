// Command faults runs the fault campaign (package test/faults): a cluster of
// etcd members, each under the real etcd-rejoin, through a seeded schedule
// of faults. `make faults` runs it; -list prints the schedule of a seed.
//
// Exit status: 0 the campaign passed, 1 it found a problem, 2 it could not
// run (bad flags, not root, missing binaries).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/test/faults"
)

func main() {
	os.Exit(run())
}

type options struct {
	cfg     faults.Config
	etcd    string
	only    string
	script  string
	skip    string
	list    bool
	summary string
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	fs.Uint64Var(&o.cfg.Seed, "seed", uint64(time.Now().UnixNano()%1e9), "seed of the schedule (default: from the clock, printed)")
	fs.IntVar(&o.cfg.Steps, "steps", 20, "number of faults")
	fs.IntVar(&o.cfg.Members, "members", 3, "cluster size: 3 or 5")
	fs.StringVar(&o.etcd, "etcd", "3.6", "etcd version: 3.4, 3.5 or 3.6")
	fs.StringVar(&o.cfg.EtcdBinary, "etcd-binary", "", "etcd server binary (default: the one of -etcd)")
	fs.StringVar(&o.cfg.Binary, "binary", "", "etcd-rejoin binary (default: built with -tags failpoints)")
	fs.StringVar(&o.cfg.OutDir, "out", "", "log directory (default: build/faults/<seed>-<members>m-etcd<v>-<time>)")
	fs.BoolVar(&o.cfg.Keep, "keep", false, "keep the log directory when the campaign passes")
	fs.IntVar(&o.cfg.Slot, "slot", -1, "network slot 0..9 (10.77.<slot>.0/24); -1: the first free one")
	fs.IntVar(&o.cfg.WalDirMembers, "wal-dir-members", 1, "how many members keep their WAL in a separate wal-dir")
	fs.StringVar(&o.only, "only", "", "comma-separated fault kinds to draw from (default: all)")
	fs.StringVar(&o.skip, "skip", "", "comma-separated fault kinds never drawn")
	fs.StringVar(&o.script, "script", "", "run these steps instead of a drawn schedule: kind[:variant]@mN|leader[/mN][~duration],...")
	fs.DurationVar(&o.cfg.HealTimeout, "heal-timeout", 120*time.Second, "bound on the time to heal after each fault")
	fs.StringVar(&o.cfg.EtcdLogLevel, "etcd-log-level", "warn", "etcd's log level in the member logs")
	fs.StringVar(&o.summary, "summary", "", "also write the summary table as markdown to this file")
	fs.BoolVar(&o.list, "list", false, "print the schedule and the fault kinds, run nothing")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.cfg.EtcdVersion = o.etcd
	o.cfg.Only, o.cfg.Skip = split(o.only), split(o.skip)
	if o.script != "" {
		steps, err := faults.ParseScript(o.script)
		if err != nil {
			return o, err
		}
		o.cfg.Script = steps
	}
	if o.cfg.OutDir == "" {
		o.cfg.OutDir = filepath.Join("build", "faults", fmt.Sprintf("%d-%dm-etcd%s-%s", o.cfg.Seed, o.cfg.Members, o.etcd, time.Now().Format("20060102-150405")))
	}
	if o.cfg.EtcdBinary == "" {
		bin, err := etcdBinary(o.etcd)
		if err != nil {
			return o, err
		}
		o.cfg.EtcdBinary = bin
	}
	return o, nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// etcdBinary finds the server of a version where scripts/deps.sh puts it;
// REJOIN_TEST_ETCD34/35/36 override (as for the other test suites).
func etcdBinary(v string) (string, error) {
	cache := os.Getenv("REJOIN_DEV_CACHE")
	if cache == "" {
		cache = "/var/cache/etcd-rejoin-dev"
	}
	defaults := map[string]string{
		"3.4": "/usr/bin/etcd",
		"3.5": filepath.Join(cache, "etcd-v3.5.35", "etcd"),
		"3.6": filepath.Join(cache, "etcd-v3.6.16", "etcd"),
	}
	def, ok := defaults[v]
	if !ok {
		return "", fmt.Errorf("-etcd %q: want 3.4, 3.5 or 3.6", v)
	}
	if env := os.Getenv("REJOIN_TEST_ETCD" + strings.ReplaceAll(v, ".", "")); env != "" {
		return env, nil
	}
	return def, nil
}

func run() int {
	o, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 2
	}
	if o.list {
		return list(o)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "faults: needs root (network namespaces, tmpfs mounts)")
		return 2
	}
	if o.cfg.Binary == "" {
		if o.cfg.Binary, err = build(o.cfg.OutDir); err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			return 2
		}
	}
	o.cfg.Console = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := faults.Run(ctx, o.cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Print(rep.Table())
	if o.summary != "" {
		if err := rep.WriteMarkdown(o.summary); err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
		}
	}
	if !rep.Passed() {
		fmt.Printf("logs kept in %s\n", rep.OutDir)
		return 1
	}
	if !o.cfg.Keep {
		_ = os.RemoveAll(rep.OutDir)
	}
	return 0
}

// build compiles etcd-rejoin with failpoints into dir.
func build(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(dir, "etcd-rejoin"))
	if err != nil {
		return "", err
	}
	version, _ := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	commit, _ := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	ldflags := fmt.Sprintf("-X main.version=%s -X main.commit=%s", strings.TrimSpace(string(version)), strings.TrimSpace(string(commit)))
	cmd := exec.Command("go", "build", "-tags", "failpoints", "-ldflags", ldflags, "-o", out, "github.com/etcd-rejoin/etcd-rejoin/cmd/etcd-rejoin")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build etcd-rejoin with failpoints: %w", err)
	}
	return out, nil
}

func list(o options) int {
	steps, err := faults.Schedule(o.cfg.Seed, o.cfg.Steps, faults.ScheduleOptions{
		Members: o.cfg.Members, WalDirMembers: o.cfg.WalDirMembers, Failpoints: true, Only: o.cfg.Only, Skip: o.cfg.Skip})
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 2
	}
	fmt.Printf("fault kinds: %s\n", strings.Join(faults.KindNames(), ", "))
	for _, s := range steps {
		fmt.Println(s)
	}
	return 0
}
