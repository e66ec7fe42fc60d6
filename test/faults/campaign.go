// Package faults is the fault campaign: clusters of 3 or 5 members, each
// under the real etcd-rejoin (run as systemd would run its unit), in
// network namespaces of their own, under continuous client load, put
// through a seeded schedule of faults, with invariants checked during and
// after every step and the client history checked for linearizability.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
	"golang.org/x/sys/unix"
)

// Config is one campaign.
type Config struct {
	Seed          uint64
	Steps         int
	Members       int
	EtcdVersion   string // "3.4", "3.5", "3.6": only a label
	EtcdBinary    string
	Binary        string // etcd-rejoin, built with -tags failpoints for the rejoin crashes
	OutDir        string // logs, history; kept when the campaign fails
	Keep          bool   // keep OutDir when the campaign passes too
	Slot          int    // 0..9: which 10.77.<slot>.0/24 and namespaces; -1: the first free one
	WalDirMembers int    // how many members (the last ones) keep their WAL in a wal-dir
	KeepBackups   int
	DiskSize      string // each member's tmpfs
	Only, Skip    []string
	// Script, when set, is run instead of the schedule drawn from Seed
	// (reproducers: one fault, chosen by hand).
	Script       []Step
	scripted     bool // Script was given (not drawn)
	HealTimeout  time.Duration
	Keys         int
	EtcdLogLevel string
	Console      io.Writer
}

func (cfg *Config) defaults() {
	if cfg.Members == 0 {
		cfg.Members = 3
	}
	if cfg.KeepBackups == 0 {
		cfg.KeepBackups = 3
	}
	if cfg.DiskSize == "" {
		cfg.DiskSize = "640m"
	}
	if cfg.HealTimeout == 0 {
		cfg.HealTimeout = 120 * time.Second
	}
	if cfg.Keys == 0 {
		cfg.Keys = 16
	}
	if cfg.EtcdLogLevel == "" {
		cfg.EtcdLogLevel = "warn"
	}
	if cfg.Console == nil {
		cfg.Console = io.Discard
	}
}

func (cfg *Config) validate() error {
	var errs []error
	if cfg.Members != 3 && cfg.Members != 5 {
		errs = append(errs, fmt.Errorf("members must be 3 or 5, not %d", cfg.Members))
	}
	if cfg.WalDirMembers < 0 || cfg.WalDirMembers > cfg.Members {
		errs = append(errs, fmt.Errorf("wal-dir members must be 0..%d", cfg.Members))
	}
	if cfg.Slot < -1 || cfg.Slot > 9 {
		errs = append(errs, fmt.Errorf("slot must be 0..9 or -1, not %d", cfg.Slot))
	}
	for _, p := range []string{cfg.Binary, cfg.EtcdBinary} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("%q is not an executable", p))
		}
	}
	if cfg.OutDir == "" {
		errs = append(errs, errors.New("no output directory"))
	}
	errs = append(errs, validKinds(cfg.Only), validKinds(cfg.Skip))
	for _, s := range cfg.Script {
		errs = append(errs, validKinds([]string{s.Kind}))
	}
	return errors.Join(errs...)
}

// Campaign is one run.
type Campaign struct {
	cfg        *Config
	c          *Cluster
	w          *Workload
	hist       *History
	log        *logFile
	steps      []Step
	step       int
	foreign    string
	notReached map[string]int
	results    []StepResult
	maxRev     int64 // the highest revision a linearizable read returned after a step

	mu        sync.Mutex
	violation error
	reported  map[string]bool
}

// StepResult is one fault as it went.
type StepResult struct {
	Step Step
	Note string
	Heal time.Duration
}

// violation is a broken invariant: the campaign stops on it.
type violation struct{ what string }

func (v *violation) Error() string { return "invariant violated: " + v.what }

// Report is the outcome of a campaign.
type Report struct {
	Config      Config
	Failpoints  bool
	Product     string // what the etcd-rejoin binary says its version is
	Results     []StepResult
	NotReached  map[string]int
	Verdict     Verdict
	Failure     string // "" when the campaign passed
	FailStep    int
	Duration    time.Duration
	InitialHeal time.Duration
	OutDir      string
}

// Passed reports whether the campaign found nothing wrong.
func (r *Report) Passed() bool { return r.Failure == "" && r.Verdict.OK() }

// Run runs a campaign. The error is about the campaign itself (it could
// not run); what it found is in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	unlock, err := lockSlot(&cfg)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cp, err := newCampaign(&cfg)
	if err != nil {
		return nil, err
	}
	defer cp.log.Close()
	rep := &Report{Config: cfg, Failpoints: hasFailpoints(cfg.Binary), OutDir: cfg.OutDir, Product: productVersion(cfg.Binary)}
	start := time.Now()
	cp.run(ctx, rep)
	rep.Duration = time.Since(start).Round(time.Second)
	rep.Results, rep.NotReached = cp.results, cp.notReached
	cp.teardown(rep)
	return rep, nil
}

// newCampaign prepares the slot, the log directory and the schedule, and
// lays out the cluster.
func newCampaign(cfg *Config) (*Campaign, error) {
	base := fmt.Sprintf("/tmp/etcd-rejoin-faults-slot%d", cfg.Slot)
	if err := clearSlot(cfg.Slot, base); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	if err := becomeSubreaper(); err != nil {
		return nil, err
	}
	steps, err := cfg.schedule()
	if err != nil {
		return nil, err
	}
	clock := NewClock()
	c, err := newCluster(cfg, clock, base)
	if err != nil {
		return nil, err
	}
	lf, err := openLog(filepath.Join(cfg.OutDir, "campaign.log"), clock)
	if err != nil {
		return nil, err
	}
	hist := &History{}
	w := &Workload{History: hist, Clock: clock, Keys: cfg.Keys, Timeout: 2 * time.Second, Pause: 20 * time.Millisecond, dial: c.Net.Dial}
	return &Campaign{cfg: cfg, c: c, hist: hist, log: lf, steps: steps, w: w,
		notReached: map[string]int{}, reported: map[string]bool{}}, nil
}

// schedule returns the script, or the steps drawn from the seed.
func (cfg *Config) schedule() ([]Step, error) {
	cfg.scripted = cfg.Script != nil
	steps := cfg.Script
	if steps == nil {
		var err error
		steps, err = Schedule(cfg.Seed, cfg.Steps, ScheduleOptions{Members: cfg.Members, WalDirMembers: cfg.WalDirMembers,
			Failpoints: hasFailpoints(cfg.Binary), Only: cfg.Only, Skip: cfg.Skip})
		if err != nil {
			return nil, fmt.Errorf("faults: %w", err)
		}
	}
	cfg.Steps = len(steps)
	return steps, nil
}

// teardown keeps the disks of a failed campaign, removes everything it
// made, and writes the history.
func (cp *Campaign) teardown(rep *Report) {
	if !rep.Passed() {
		cp.preserve()
	}
	if err := cp.c.Down(); err != nil {
		cp.printf("teardown: %v", err)
	}
	_ = os.RemoveAll(cp.c.base)
	if err := cp.hist.WriteJSON(filepath.Join(cp.cfg.OutDir, "history.jsonl")); err != nil {
		cp.printf("%v", err)
	}
}

// printf writes to the console and the campaign log.
func (cp *Campaign) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(cp.cfg.Console, msg)
	cp.log.Line("", msg)
}

func (cp *Campaign) logf(format string, args ...any) { cp.log.Printf("", format, args...) }

func (cp *Campaign) run(ctx context.Context, rep *Report) {
	cfg := cp.cfg
	cp.printf("faults: seed %d, %d steps, %d members, etcd %s (%s), %s, failpoints %t, wal-dir members %d, logs in %s",
		cfg.Seed, cfg.Steps, cfg.Members, cfg.EtcdVersion, cfg.EtcdBinary, rep.Product, rep.Failpoints, cfg.WalDirMembers, cfg.OutDir)
	for _, s := range cp.steps {
		cp.logf("schedule: %s", s)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := cp.c.Up(ctx, cfg.OutDir); err != nil {
		cp.fail(rep, 0, fmt.Errorf("bring the cluster up: %w", err))
		return
	}
	go cp.monitor(ctx)
	heal, err := cp.awaitConverged(ctx, 0, 2*cfg.HealTimeout)
	if err != nil {
		cp.fail(rep, 0, fmt.Errorf("first boot: %w", err))
		return
	}
	rep.InitialHeal = heal
	cp.printf("cluster formed in %s", heal.Round(10*time.Millisecond))
	if err := cp.makeForeign(ctx); err != nil {
		cp.fail(rep, 0, err)
		return
	}
	wctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = cp.w.Run(wctx, cp.c.ClientURLs(), cfg.Seed)
	}()
	failed := cp.runSteps(ctx, rep)
	stopLoad()
	wg.Wait()
	if failed {
		rep.Verdict = Check(cp.hist.Ops(), time.Minute)
		return
	}
	cp.finish(ctx, rep)
}

// runSteps runs the schedule; it reports whether a step failed.
func (cp *Campaign) runSteps(ctx context.Context, rep *Report) bool {
	runners := cp.runners()
	for _, s := range cp.steps {
		if ctx.Err() != nil {
			cp.fail(rep, s.N, ctx.Err())
			return true
		}
		cp.step = s.N
		cp.w.SetStep(s.N)
		cp.logf("=== %s", s)
		res, err := runners[s.Kind](ctx, s, rand.New(rand.NewPCG(s.Seed, 0)))
		if err == nil {
			err = cp.violated()
		}
		if err != nil {
			cp.fail(rep, s.N, fmt.Errorf("%s: %w", s, err))
			return true
		}
		cp.logf("fault over: %s", res.note)
		heal, err := cp.awaitConverged(ctx, res.healedAt, cp.cfg.HealTimeout)
		if err == nil {
			err = cp.afterStep(ctx)
		}
		if err != nil {
			cp.fail(rep, s.N, fmt.Errorf("%s (%s): %w", s, res.note, err))
			return true
		}
		cp.results = append(cp.results, StepResult{Step: s, Note: res.note, Heal: heal})
		cp.printf("%s: %s; healed in %s", s, res.note, heal.Round(10*time.Millisecond))
	}
	return false
}

// finish checks the whole history once the load stopped.
func (cp *Campaign) finish(ctx context.Context, rep *Report) {
	if err := cp.afterStep(ctx); err != nil {
		cp.fail(rep, cp.step, fmt.Errorf("after the last step: %w", err))
		return
	}
	rep.Verdict = Check(cp.hist.Ops(), 10*time.Minute)
	if !rep.Verdict.OK() {
		cp.fail(rep, cp.step, &violation{what: strings.Join(rep.Verdict.Problems(), "; ")})
	}
}

// fail records the first failure with its seed and step and how to replay.
func (cp *Campaign) fail(rep *Report, step int, err error) {
	if rep.Failure != "" {
		return
	}
	rep.Failure, rep.FailStep = err.Error(), step
	cp.printf("FAIL seed=%d step=%d: %v", cp.cfg.Seed, step, err)
	for _, m := range cp.c.Members {
		if m.Unit == nil {
			continue
		}
		st := m.Unit.State()
		cp.printf("  %s: running %t ready %t status %q exits %v copies %v", m.Name, st.Running, st.Ready, st.Status, st.Exits, m.Ledger.Copies())
	}
}

// monitor checks the invariants that must hold at every moment, once a
// second, until ctx ends.
func (cp *Campaign) monitor(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		probs := cp.c.identityProblems(ctx)
		for _, m := range cp.c.Members {
			st := m.Unit.State()
			probs = append(probs, m.Ledger.Check(st.Healthy())...)
			probs = append(probs, st.Problems...)
			if st.Failed != "" {
				probs = append(probs, m.Name+": "+st.Failed)
			}
		}
		for _, p := range probs {
			cp.report(p)
		}
	}
}

// report records a violation once; the first one stops the campaign.
func (cp *Campaign) report(what string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.reported[what] {
		return
	}
	cp.reported[what] = true
	cp.log.Line("VIOLATION", what)
	if cp.violation == nil {
		cp.violation = &violation{what: what}
	}
}

// violated returns the first violation seen, if any.
func (cp *Campaign) violated() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.violation
}

// sleep waits d, or less when an invariant breaks meanwhile.
func (cp *Campaign) sleep(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := cp.violated(); err != nil {
			return err
		}
		if !sleepCtx(ctx, min(100*time.Millisecond, time.Until(end))) {
			return ctx.Err()
		}
	}
	return cp.violated()
}

// awaitConverged waits until the cluster converged and returns the time
// since from (campaign time).
func (cp *Campaign) awaitConverged(ctx context.Context, from time.Duration, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		if err := cp.violated(); err != nil {
			return 0, err
		}
		why := cp.c.convergence(ctx)
		if why == "" {
			return cp.now() - from, nil
		}
		if why != last {
			cp.logf("converging: %s", why)
			last = why
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("did not converge within %s: %s", timeout, why)
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return 0, ctx.Err()
		}
	}
}

// afterStep checks what must hold once the cluster converged: the members
// hold the same data, and the history so far passes every check.
func (cp *Campaign) afterStep(ctx context.Context) error {
	if err := cp.sleep(ctx, time.Second); err != nil {
		return err
	}
	if n := cp.w.Checkpoint(ctx, cp.c.all); n > 0 {
		cp.logf("checkpoint: %d of %d reads failed", n, cp.cfg.Keys)
	}
	rev, err := cp.c.agree(ctx)
	if err != nil {
		return err
	}
	if rev < cp.maxRev {
		return &violation{what: fmt.Sprintf("the cluster's revision went back from %d to %d: a second history", cp.maxRev, rev)}
	}
	cp.maxRev = rev
	v := Check(cp.hist.Ops(), time.Minute)
	cp.logf("history: %d operations (%d acknowledged, %d failed, %d unknown), linearizable %s, checked in %s",
		v.Ops, v.Acked, v.Failed, v.Unknown, v.Linearizable, v.CheckTook.Round(time.Millisecond))
	if v.Linearizable == porcupine.Illegal {
		cp.visualize(v)
	}
	if !v.OK() && v.Linearizable != porcupine.Unknown {
		return &violation{what: strings.Join(v.Problems(), "; ")}
	}
	return nil
}

// visualize writes porcupine's HTML view of a history that failed.
func (cp *Campaign) visualize(v Verdict) {
	path := filepath.Join(cp.cfg.OutDir, "linearizability.html")
	if err := porcupine.VisualizePath(kvModel, v.Info, path); err != nil {
		cp.logf("visualize: %v", err)
		return
	}
	cp.printf("linearizability view: %s", path)
}

// preserve copies the members' disks into the log directory.
func (cp *Campaign) preserve() {
	for _, m := range cp.c.Members {
		dst := filepath.Join(cp.cfg.OutDir, "disks", m.Name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			cp.logf("preserve: %v", err)
			return
		}
		_ = m.Disk.Unfill()
		if err := copyTree(m.Disk.Dir, dst); err != nil {
			cp.logf("preserve %s: %v", m.Name, err)
		}
	}
}

// makeForeign creates another cluster's data dir, once, for the faults
// that put foreign data in place: a one-member etcd in the hub namespace
// on its loopback.
func (cp *Campaign) makeForeign(ctx context.Context) error {
	dir := filepath.Join(cp.c.base, "foreign")
	cmd := cp.c.Net.HubCommand(cp.cfg.EtcdBinary,
		"--name=foreign", "--data-dir="+dir,
		"--listen-client-urls=http://127.0.0.1:12379", "--advertise-client-urls=http://127.0.0.1:12379",
		"--listen-peer-urls=http://127.0.0.1:12380", "--initial-advertise-peer-urls=http://127.0.0.1:12380",
		"--initial-cluster=foreign=http://127.0.0.1:12380", "--initial-cluster-token=foreign", "--log-level=error")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(cp.cfg.OutDir, "foreign-etcd.log"))
	if err != nil {
		return fmt.Errorf("foreign cluster: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("foreign cluster: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	cli, err := newClient([]string{"http://127.0.0.1:12379"}, cp.c.Net.Dial)
	if err != nil {
		return fmt.Errorf("foreign cluster: %w", err)
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = cli.Put(cctx, "foreign", "data")
		cancel()
		if err == nil {
			cp.foreign = dir
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("foreign cluster did not answer: %w", err)
}

// productVersion is the first line of `etcd-rejoin version`.
func productVersion(bin string) string {
	out, _ := exec.Command(bin, "version").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// hasFailpoints reports whether bin was built with the failpoint runtime.
func hasFailpoints(bin string) bool {
	out, err := exec.Command("go", "version", "-m", bin).Output()
	return err == nil && strings.Contains(string(out), "go.etcd.io/gofail")
}

// lockSlot takes the slot's lock (the first free slot when Slot is -1), so
// that two campaigns never share namespaces or addresses.
func lockSlot(cfg *Config) (func(), error) {
	first, last := cfg.Slot, cfg.Slot
	if cfg.Slot < 0 {
		first, last = 0, 9
	}
	for s := first; s <= last; s++ {
		f, err := os.OpenFile(fmt.Sprintf("/tmp/etcd-rejoin-faults-slot%d.lock", s), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("faults: lock slot: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		cfg.Slot = s
		return func() { f.Close() }, nil
	}
	return nil, fmt.Errorf("faults: slot %d..%d busy (another campaign runs)", first, last)
}

// clearSlot removes what a crashed earlier campaign of this slot left:
// processes, namespaces, mounts and files.
func clearSlot(slot int, base string) error {
	if err := NewNet(slot, 0).Destroy(); err != nil {
		return fmt.Errorf("faults: clear slot %d: %w", slot, err)
	}
	if err := unmountUnder(base); err != nil {
		return fmt.Errorf("faults: clear slot %d: %w", slot, err)
	}
	if err := os.RemoveAll(base); err != nil {
		return fmt.Errorf("faults: clear slot %d: %w", slot, err)
	}
	return os.MkdirAll(base, 0o755)
}
