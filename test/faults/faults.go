package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// faultResult is what a fault reports once it is over: when the cluster
// was left to heal (campaign time), and what happened.
type faultResult struct {
	healedAt time.Duration
	note     string
}

type runner func(ctx context.Context, s Step, r *rand.Rand) (faultResult, error)

func (cp *Campaign) runners() map[string]runner {
	return map[string]runner{
		"kill-etcd":           cp.kill(EtcdProcess),
		"kill-rejoin":         cp.kill(MainProcess),
		"kill-both":           cp.kill(AllProcesses),
		"freeze-etcd":         cp.freeze(EtcdProcess),
		"freeze-member":       cp.freeze(AllProcesses),
		"freeze-rejoin":       cp.freeze(MainProcess),
		"freeze-with-lagging": cp.freezeWithLagging,
		"rejoin-crash":        cp.rejoinCrash,
		"wipe":                cp.whileDown(func(m *Member, _ Step, _ *rand.Rand) (string, error) { return wipe(m) }),
		"truncate-wal":        cp.whileDown(func(m *Member, s Step, r *rand.Rand) (string, error) { return truncateWAL(m, r, s.Variant) }),
		"truncate-db":         cp.whileDown(func(m *Member, _ Step, r *rand.Rand) (string, error) { return truncateDB(m, r) }),
		"bitflip-wal":         cp.whileDown(func(m *Member, s Step, r *rand.Rand) (string, error) { return bitflipWAL(m, r, s.Variant) }),
		"bitflip-db":          cp.whileDown(func(m *Member, _ Step, r *rand.Rand) (string, error) { return bitflipDB(m, r) }),
		"foreign-data":        cp.whileDown(cp.foreignData),
		"other-member-data":   cp.whileDown(cp.otherMemberData),
		"lose-wal-dir":        cp.whileDown(func(m *Member, _ Step, _ *rand.Rand) (string, error) { return loseDir(m, m.WalDir) }),
		"lose-data-dir":       cp.whileDown(func(m *Member, _ Step, _ *rand.Rand) (string, error) { return loseDir(m, m.DataDir) }),
		"cold-restart":        cp.coldRestart,
		"wipe-two":            cp.wipeTwo,
		"wipe-majority":       cp.wipeMajority,
		"partition-isolate":   cp.partition(isolate),
		"partition-blackhole": cp.partition(symmetric),
		"partition-oneway":    cp.partition(oneWay),
		"partition-split":     cp.partition(split),
		"lag-far-behind":      cp.lagFarBehind,
		"disk-full":           cp.diskFull,
		"wipe-and-freeze":     cp.wipeAndFreeze,
		"rejoin-partition":    cp.rejoinPartition,
	}
}

// pick resolves a step's target: the leader when asked and there is one.
func (cp *Campaign) pick(ctx context.Context, s Step) *Member {
	if s.Leader {
		if l := cp.c.Leader(ctx); l >= 0 {
			return cp.c.Members[l]
		}
	}
	return cp.c.Members[s.Target]
}

func (cp *Campaign) now() time.Duration { return cp.c.Clock.Now() }

func (cp *Campaign) kill(t Target) runner {
	return func(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
		m := cp.pick(ctx, s)
		pids := m.Unit.Signal(t, syscall.SIGKILL)
		return faultResult{healedAt: cp.now(), note: fmt.Sprintf("SIGKILL %s of %s %v", t, m.Name, pids)}, nil
	}
}

func (cp *Campaign) freeze(t Target) runner {
	return func(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
		m := cp.pick(ctx, s)
		pids := m.Unit.Signal(t, syscall.SIGSTOP)
		err := cp.sleep(ctx, s.Dur)
		cont(pids)
		m.Unit.Note("SIGCONT to %v", pids)
		return faultResult{healedAt: cp.now(), note: fmt.Sprintf("SIGSTOP %s of %s %v for %s", t, m.Name, pids, s.Dur)}, err
	}
}

func cont(pids []int) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
}

// freezeWithLagging stops the target, lets the others go on, freezes the
// peer, and brings the target back while the peer is frozen: the target
// must catch up from the members that are left, the only up-to-date ones.
func (cp *Campaign) freezeWithLagging(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
	x, y := cp.c.Members[s.Target], cp.c.Members[s.Peer]
	x.Unit.Stop()
	if err := cp.sleep(ctx, 3*time.Second); err != nil {
		return faultResult{}, err
	}
	pids := y.Unit.Signal(AllProcesses, syscall.SIGSTOP)
	x.Unit.Start()
	err := cp.sleep(ctx, s.Dur)
	cont(pids)
	y.Unit.Note("SIGCONT to %v", pids)
	return faultResult{healedAt: cp.now(), note: fmt.Sprintf("%s stopped, %s frozen %v for %s while %s restarted", x.Name, y.Name, pids, s.Dur, x.Name)}, err
}

// whileDown stops the target, changes its disk, and starts it again.
func (cp *Campaign) whileDown(change func(*Member, Step, *rand.Rand) (string, error)) runner {
	return func(ctx context.Context, s Step, r *rand.Rand) (faultResult, error) {
		m := cp.pick(ctx, s)
		m.Unit.Stop()
		what, err := change(m, s, r)
		if err != nil {
			m.Unit.Start()
			return faultResult{}, fmt.Errorf("%s: %w", m.Name, err)
		}
		m.Unit.Note("%s (while stopped)", what)
		m.Unit.Start()
		return faultResult{healedAt: cp.now(), note: m.Name + ": " + what}, nil
	}
}

func (cp *Campaign) foreignData(m *Member, _ Step, _ *rand.Rand) (string, error) {
	return replaceData(m, cp.foreign, "", "a copy of another cluster's data")
}

func (cp *Campaign) otherMemberData(m *Member, s Step, _ *rand.Rand) (string, error) {
	src := cp.c.Members[s.Peer]
	return replaceData(m, src.DataDir, src.WalDir, "a copy of "+src.Name+"'s data, taken while it ran")
}

// rejoinCrash makes the target rejoin (its data deleted, or replaced by
// another cluster's when the crash is to come after the move aside) with
// a failpoint that kills etcd-rejoin at one step; the unit restarts it
// without the failpoint. Without failpoints, etcd-rejoin is SIGKILLed at a
// random moment of the rejoin instead.
func (cp *Campaign) rejoinCrash(ctx context.Context, s Step, r *rand.Rand) (faultResult, error) {
	m := cp.c.Members[s.Target]
	m.Unit.Stop()
	what, err := wipe(m)
	if s.Variant == rejoinSteps[0] || (s.Variant != "random" && r.IntN(3) == 0) {
		what, err = cp.foreignData(m, s, r)
	}
	if err != nil {
		m.Unit.Start()
		return faultResult{}, err
	}
	m.Unit.Note("%s (while stopped)", what)
	if s.Variant == "random" {
		m.Unit.Start()
		if err := cp.sleep(ctx, s.Dur); err != nil {
			return faultResult{}, err
		}
		pids := m.Unit.Signal(MainProcess, syscall.SIGKILL)
		return faultResult{healedAt: cp.now(), note: fmt.Sprintf("%s; SIGKILL etcd-rejoin %v %s into its rejoin", what, pids, s.Dur)}, nil
	}
	before := len(m.Unit.State().Exits)
	m.Unit.StartWith([]string{failpointEnv + "=" + s.Variant + `=return("kill")`})
	hit, err := cp.awaitFailpoint(ctx, m, before)
	note := fmt.Sprintf("%s; crashed after %s", what, s.Variant)
	if !hit {
		note = fmt.Sprintf("%s; failpoint %s not reached", what, s.Variant)
		cp.notReached[s.Variant]++
	}
	return faultResult{healedAt: cp.now(), note: note}, err
}

// failpointEnv is the gofail runtime's variable (internal/failpoint reads it
// when built with the failpoints tag).
const failpointEnv = "GOFAIL_FAILPOINTS"

// awaitFailpoint waits until the incarnation started with the failpoint
// ends (hit: it was SIGKILLed) or becomes ready (the failpoint was not on
// its way).
func (cp *Campaign) awaitFailpoint(ctx context.Context, m *Member, exitsBefore int) (bool, error) {
	deadline := time.Now().Add(cp.cfg.HealTimeout)
	for time.Now().Before(deadline) {
		st := m.Unit.State()
		for _, ex := range st.Exits[min(exitsBefore, len(st.Exits)):] {
			if len(ex.Extra) > 0 {
				return ex.Signal == unix.SignalName(syscall.SIGKILL), nil
			}
		}
		if st.Ready && st.Running {
			return false, nil
		}
		if err := cp.sleep(ctx, 100*time.Millisecond); err != nil {
			return false, err
		}
	}
	return false, fmt.Errorf("%s neither crashed at the failpoint nor became ready within %s", m.Name, cp.cfg.HealTimeout)
}

// coldRestart stops every member (gracefully, or all killed at once like a
// power cut) and starts them again in a random order with random delays.
func (cp *Campaign) coldRestart(ctx context.Context, s Step, r *rand.Rand) (faultResult, error) {
	var wg sync.WaitGroup
	for _, m := range cp.c.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Variant == "kill" {
				m.Unit.Kill()
			} else {
				m.Unit.Stop()
			}
		}()
	}
	wg.Wait()
	order := r.Perm(len(cp.c.Members))
	var names []string
	for _, i := range order {
		d := time.Duration(r.IntN(3000)) * time.Millisecond
		if err := cp.sleep(ctx, d); err != nil {
			return faultResult{}, err
		}
		cp.c.Members[i].Unit.Start()
		names = append(names, fmt.Sprintf("%s after %s", cp.c.Members[i].Name, d))
	}
	return faultResult{healedAt: cp.now(), note: "all " + s.Variant + "; started " + strings.Join(names, ", ")}, nil
}

// wipeTwo deletes the data of two members at once; both rejoin together.
func (cp *Campaign) wipeTwo(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
	pair := []*Member{cp.c.Members[s.Target], cp.c.Members[s.Peer]}
	for _, m := range pair {
		m.Unit.Stop()
		if _, err := wipe(m); err != nil {
			return faultResult{}, err
		}
		m.Unit.Note("deleted the data dir (while stopped)")
	}
	for _, m := range pair {
		m.Unit.Start()
	}
	return faultResult{healedAt: cp.now(), note: fmt.Sprintf("wiped %s and %s", pair[0].Name, pair[1].Name)}, nil
}

// majorityWait is how long wiped majority members are watched for waiting.
const majorityWait = 15 * time.Second

// wipeMajority takes the data of a majority away (kept aside by the
// campaign) and starts those members: the cluster has lost quorum, so
// nothing destructive may happen and each wiped member must say why it
// waits. Then the disks "come back" and the cluster must heal.
func (cp *Campaign) wipeMajority(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
	n := len(cp.c.Members)
	var wiped []*Member
	var names []string
	for k := 0; k < n/2+1; k++ {
		m := cp.c.Members[(s.Target+k)%n]
		wiped, names = append(wiped, m), append(names, m.Name)
	}
	ids := cp.c.memberIDs(ctx)
	moves := cp.moveCounts()
	if err := cp.takeDisks(wiped, strings.HasPrefix(s.Variant, "lose-state")); err != nil {
		return faultResult{}, err
	}
	start := time.Now()
	if strings.HasSuffix(s.Variant, "+reboot") {
		if err := cp.rebootSurvivors(ctx, wiped); err != nil {
			return faultResult{}, err
		}
	}
	if err := cp.sleep(ctx, majorityWait-time.Since(start)); err != nil {
		return faultResult{}, err
	}
	if err := cp.checkNothingDestroyed(ctx, wiped, ids, moves); err != nil {
		return faultResult{}, err
	}
	if err := cp.giveDisksBack(wiped); err != nil {
		return faultResult{}, err
	}
	return faultResult{healedAt: cp.now(), note: fmt.Sprintf("wiped %s (%s), all waited; data given back", strings.Join(names, ","), s.Variant)}, nil
}

// takeDisks stops members, takes their data away (and their state files
// when state is true) and starts them again.
func (cp *Campaign) takeDisks(ms []*Member, state bool) error {
	for _, m := range ms {
		m.Unit.Stop()
		if err := cp.stash(m, state); err != nil {
			return err
		}
	}
	for _, m := range ms {
		m.Unit.Start()
	}
	return nil
}

// giveDisksBack stops members, puts their data back and starts them.
func (cp *Campaign) giveDisksBack(ms []*Member) error {
	for _, m := range ms {
		m.Unit.Stop()
		if err := cp.unstash(m); err != nil {
			return err
		}
		m.Unit.Start()
	}
	return nil
}

// rebootSurvivors waits until every wiped member says it waits, then stops
// the members that kept their data for a few seconds and starts them again:
// nobody answers meanwhile, although the cluster exists.
func (cp *Campaign) rebootSurvivors(ctx context.Context, wiped []*Member) error {
	deadline := time.Now().Add(majorityWait)
	for _, m := range wiped {
		for m.Unit.State().Waiting == "" && time.Now().Before(deadline) {
			if err := cp.sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	var survivors []*Member
	for _, m := range cp.c.Members {
		if !slices.Contains(wiped, m) {
			survivors = append(survivors, m)
			m.Unit.Stop()
		}
	}
	if err := cp.sleep(ctx, 4*time.Second); err != nil {
		return err
	}
	for _, m := range survivors {
		m.Unit.Start()
	}
	return nil
}

func (cp *Campaign) moveCounts() []int {
	var out []int
	for _, m := range cp.c.Members {
		out = append(out, m.Ledger.Moves())
	}
	return out
}

// checkNothingDestroyed checks the quorum-loss invariants: no data moved
// aside anywhere, the membership as before, and every wiped member waiting
// (not ready) with a reason in its status.
func (cp *Campaign) checkNothingDestroyed(ctx context.Context, wiped []*Member, ids []uint64, moves []int) error {
	var problems []string
	if now := cp.moveCounts(); !slices.Equal(now, moves) {
		problems = append(problems, fmt.Sprintf("data moved aside without quorum: moves per member %v, before %v", now, moves))
	}
	if now := cp.c.memberIDs(ctx); now != nil && !slices.Equal(now, ids) {
		problems = append(problems, fmt.Sprintf("membership changed without quorum: %x, before %x", now, ids))
	}
	for _, m := range wiped {
		st := m.Unit.State()
		if st.Ready || st.Waiting == "" {
			problems = append(problems, fmt.Sprintf("%s without data and without quorum: ready %t, last status %q, no waiting reason given", m.Name, st.Ready, st.Status))
		}
	}
	if len(problems) > 0 {
		return &violation{what: strings.Join(problems, "; ")}
	}
	return nil
}

// stashDir is where the campaign keeps data it took away, on the member's
// own disk (a rename) but out of the ledger's sight.
func stashDir(m *Member) string { return filepath.Join(m.Disk.Dir, ".campaign", "stash") }

// stashed are the paths the campaign moves away and back.
func stashed(m *Member, state bool) []string {
	paths := []string{m.DataDir}
	if m.WalDir != "" {
		paths = append(paths, m.WalDir)
	}
	if state {
		paths = append(paths, m.StateFile)
	}
	return paths
}

func (cp *Campaign) stash(m *Member, state bool) error {
	dir := stashDir(m)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("stash: %w", err)
	}
	for _, p := range stashed(m, state) {
		m.Ledger.Release(p)
		if err := os.Rename(p, filepath.Join(dir, filepath.Base(p))); err != nil {
			return fmt.Errorf("stash %s: %w", p, err)
		}
	}
	m.Unit.Note("took the data away (stash), state file too: %t", state)
	return nil
}

// unstash puts the stashed paths back; whatever the member created there
// meanwhile is moved to .campaign/trash (kept for the logs).
func (cp *Campaign) unstash(m *Member) error {
	entries, err := os.ReadDir(stashDir(m))
	if err != nil {
		return fmt.Errorf("unstash: %w", err)
	}
	trash := filepath.Join(m.Disk.Dir, ".campaign", fmt.Sprintf("trash-%d", cp.step))
	for _, e := range entries {
		dst := filepath.Join(m.Disk.Dir, e.Name())
		if _, err := os.Lstat(dst); err == nil {
			m.Ledger.Release(dst)
			if err := os.MkdirAll(trash, 0o700); err != nil {
				return fmt.Errorf("unstash: %w", err)
			}
			if err := os.Rename(dst, filepath.Join(trash, e.Name())); err != nil {
				return fmt.Errorf("unstash: %w", err)
			}
		}
		if err := os.Rename(filepath.Join(stashDir(m), e.Name()), dst); err != nil {
			return fmt.Errorf("unstash %s: %w", dst, err)
		}
	}
	m.Unit.Note("gave the data back")
	return nil
}

// Partition shapes: which (from, to) pairs are blocked.
type shape int

const (
	isolate   shape = iota // the target's link is down
	symmetric              // routes drop traffic between the target and every peer, both ways
	oneWay                 // routes in the target's namespace only
	split                  // the target and its peer against the rest, both ways
)

func (cp *Campaign) partition(sh shape) runner {
	return func(ctx context.Context, s Step, r *rand.Rand) (faultResult, error) {
		m := cp.pick(ctx, s)
		desc, err := cp.cut(m, sh, r)
		if err != nil {
			return faultResult{}, err
		}
		m.Unit.Note("partition: %s", desc)
		err = cp.sleep(ctx, s.Dur)
		if herr := cp.c.Net.HealAll(); herr != nil {
			return faultResult{}, herr
		}
		m.Unit.Note("partition healed")
		return faultResult{healedAt: cp.now(), note: fmt.Sprintf("%s for %s", desc, s.Dur)}, err
	}
}

func (cp *Campaign) cut(m *Member, sh shape, r *rand.Rand) (string, error) {
	net := cp.c.Net
	n := len(cp.c.Members)
	switch sh {
	case isolate:
		return m.Name + " link down", net.LinkDown(m.Index)
	case oneWay:
		kind := []string{"blackhole", "prohibit"}[r.IntN(2)]
		for o := 0; o < n; o++ {
			if o != m.Index {
				if err := net.Block(m.Index, o, kind); err != nil {
					return "", err
				}
			}
		}
		return fmt.Sprintf("%s routes to every peer, in %s only", kind, m.Name), nil
	}
	group := []int{m.Index}
	if sh == split {
		group = append(group, (m.Index+1)%n)
	}
	for _, a := range group {
		for b := 0; b < n; b++ {
			if slices.Contains(group, b) {
				continue
			}
			if err := net.Block(a, b, "blackhole"); err != nil {
				return "", err
			}
			if err := net.Block(b, a, "blackhole"); err != nil {
				return "", err
			}
		}
	}
	var names []string
	for _, a := range group {
		names = append(names, cp.c.Members[a].Name)
	}
	return fmt.Sprintf("blackhole both ways between {%s} and the rest", strings.Join(names, ",")), nil
}

// Burst of the lag fault: enough entries past etcd's snapshot count (2000)
// and its catch-up window (5000 entries kept after a snapshot) that the
// member comes back behind a snapshot.
const (
	burstPuts    = 8000
	burstKeys    = 500
	burstWriters = 8
	burstValue   = 256
	// diskFullPuts make the backend of a member with a full disk grow.
	diskFullPuts = 3000
)

// lagFarBehind cuts the target off, writes a burst through the others,
// and lets it back: it must catch up from a snapshot.
func (cp *Campaign) lagFarBehind(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
	m := cp.c.Members[s.Target]
	if err := cp.c.Net.LinkDown(m.Index); err != nil {
		return faultResult{}, err
	}
	m.Unit.Note("partition: link down for a write burst")
	acked, err := cp.burst(ctx, m, burstPuts)
	if herr := cp.c.Net.HealAll(); herr != nil {
		return faultResult{}, herr
	}
	m.Unit.Note("partition healed")
	return faultResult{healedAt: cp.now(), note: fmt.Sprintf("%s cut off during %d acknowledged puts (of %d)", m.Name, acked, burstPuts)}, err
}

// burst writes n puts through every member but skip (nil: through all).
func (cp *Campaign) burst(ctx context.Context, skip *Member, n int) (int, error) {
	var eps []string
	for _, o := range cp.c.Members {
		if o != skip {
			eps = append(eps, o.ClientURL)
		}
	}
	cli, err := newClient(eps, cp.c.Net.Dial)
	if err != nil {
		return 0, fmt.Errorf("burst client: %w", err)
	}
	defer cli.Close()
	var mu sync.Mutex
	acked := 0
	var wg sync.WaitGroup
	pad := strings.Repeat("x", burstValue)
	for w := 0; w < burstWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n && ctx.Err() == nil; i += burstWriters {
				op := cp.w.put(ctx, cli, burstClient, "burst", fmt.Sprintf("lag/%04d", i%burstKeys), fmt.Sprintf("b%d-%d-%s", cp.step, i, pad))
				if op.Outcome == OK {
					mu.Lock()
					acked++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return acked, cp.violated()
}

// diskFull fills the target's file system while it runs: nothing may be
// moved aside and the membership may not change; then space comes back.
func (cp *Campaign) diskFull(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
	m := cp.pick(ctx, s)
	ids := cp.c.memberIDs(ctx)
	moves := m.Ledger.Moves()
	if err := m.Disk.Fill(); err != nil {
		_ = m.Disk.Unfill()
		return faultResult{}, err
	}
	m.Unit.Note("disk full")
	acked, err := cp.burst(ctx, nil, diskFullPuts)
	if err == nil {
		err = cp.sleep(ctx, s.Dur)
	}
	if err == nil && m.Ledger.Moves() != moves {
		err = &violation{what: m.Name + ": data moved aside while its disk was full"}
	}
	if now := cp.c.memberIDs(ctx); err == nil && now != nil && !slices.Equal(now, ids) {
		err = &violation{what: fmt.Sprintf("membership changed while %s's disk was full: %x, before %x", m.Name, now, ids)}
	}
	if uerr := m.Disk.Unfill(); uerr != nil {
		return faultResult{}, uerr
	}
	m.Unit.Note("disk space back")
	return faultResult{healedAt: cp.now(), note: fmt.Sprintf("%s disk full during %d acknowledged puts and %s more", m.Name, acked, s.Dur)}, err
}

// wipeAndFreeze wipes the target and freezes the peer while the target
// rejoins: with five members the cluster keeps its quorum but has a voter
// that does not answer (etcd 3.4 refuses member changes then); with three
// it has no quorum until the peer thaws.
func (cp *Campaign) wipeAndFreeze(ctx context.Context, s Step, _ *rand.Rand) (faultResult, error) {
	x, y := cp.c.Members[s.Target], cp.c.Members[s.Peer]
	x.Unit.Stop()
	if _, err := wipe(x); err != nil {
		return faultResult{}, err
	}
	x.Unit.Note("deleted the data dir (while stopped)")
	pids := y.Unit.Signal(AllProcesses, syscall.SIGSTOP)
	x.Unit.Start()
	err := cp.sleep(ctx, s.Dur)
	cont(pids)
	y.Unit.Note("SIGCONT to %v", pids)
	return faultResult{healedAt: cp.now(), note: fmt.Sprintf("%s wiped while %s was frozen %v for %s", x.Name, y.Name, pids, s.Dur)}, err
}

// rejoinPartition wipes the target, lets it start its rejoin, and cuts
// off, at a random moment of it, the target itself or the leader.
func (cp *Campaign) rejoinPartition(ctx context.Context, s Step, r *rand.Rand) (faultResult, error) {
	x := cp.c.Members[s.Target]
	x.Unit.Stop()
	if _, err := wipe(x); err != nil {
		return faultResult{}, err
	}
	x.Unit.Note("deleted the data dir (while stopped)")
	x.Unit.Start()
	delay := time.Duration(r.IntN(5000)) * time.Millisecond
	if err := cp.sleep(ctx, delay); err != nil {
		return faultResult{}, err
	}
	victim := x
	if s.Variant == "leader" {
		if l := cp.c.Leader(ctx); l >= 0 {
			victim = cp.c.Members[l]
		}
	}
	if err := cp.c.Net.LinkDown(victim.Index); err != nil {
		return faultResult{}, err
	}
	victim.Unit.Note("partition: link down")
	err := cp.sleep(ctx, s.Dur)
	if herr := cp.c.Net.HealAll(); herr != nil {
		return faultResult{}, herr
	}
	victim.Unit.Note("partition healed")
	return faultResult{healedAt: cp.now(), note: fmt.Sprintf("%s wiped; %s into its rejoin, %s cut off for %s", x.Name, delay, victim.Name, s.Dur)}, err
}
