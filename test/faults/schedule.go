package faults

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/failpoint"
)

// Step is one fault of the schedule, with every random choice made from
// the seed: the same seed gives the same steps. Choices that depend on the
// running cluster (who leads, how large a file is) are made at run time and
// logged; Seed drives the fault's own random choices (orders, offsets).
type Step struct {
	N       int
	Kind    string
	Target  int           // member index
	Leader  bool          // aim at whoever leads when the fault starts (Target if nobody does)
	Peer    int           // a second member, where the fault needs one
	Dur     time.Duration // how long the fault lasts, where it lasts
	Variant string
	Seed    uint64
}

func (s Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d: %s", s.N, s.Kind)
	if s.Variant != "" {
		fmt.Fprintf(&b, ":%s", s.Variant)
	}
	if s.Leader {
		fmt.Fprintf(&b, " target=leader(else m%d)", s.Target+1)
	} else {
		fmt.Fprintf(&b, " target=m%d", s.Target+1)
	}
	if s.Peer >= 0 {
		fmt.Fprintf(&b, " peer=m%d", s.Peer+1)
	}
	if s.Dur > 0 {
		fmt.Fprintf(&b, " for %s", s.Dur)
	}
	return b.String()
}

// ScheduleOptions are what the schedule depends on besides the seed.
type ScheduleOptions struct {
	Members       int
	WalDirMembers int
	Failpoints    bool     // the binary has failpoints
	Only          []string // kinds to draw from (empty: all that apply)
	Skip          []string // kinds never drawn
}

// kindSpec is one fault kind: its weight in the draw, whether it applies
// to a campaign, and how its parameters are drawn.
type kindSpec struct {
	name   string
	weight int
	fits   func(o ScheduleOptions) bool
	draw   func(r *rand.Rand, o ScheduleOptions, s *Step)
}

func always(ScheduleOptions) bool { return true }

func withWalDir(o ScheduleOptions) bool { return o.WalDirMembers > 0 }

func fiveOrMore(o ScheduleOptions) bool { return o.Members >= 5 }

// drawTarget picks any member, or the leader half of the time.
func drawTarget(leaderToo bool) func(*rand.Rand, ScheduleOptions, *Step) {
	return func(r *rand.Rand, o ScheduleOptions, s *Step) {
		s.Target = r.IntN(o.Members)
		s.Leader = leaderToo && r.IntN(2) == 0
	}
}

func drawDur(lo, hi time.Duration) func(*rand.Rand, ScheduleOptions, *Step) {
	return func(r *rand.Rand, o ScheduleOptions, s *Step) {
		s.Target = r.IntN(o.Members)
		s.Leader = r.IntN(2) == 0
		s.Dur = lo + time.Duration(r.Int64N(int64(hi-lo)))/time.Millisecond*time.Millisecond
	}
}

// kinds lists every fault kind. The order matters for replay: append new
// kinds at the end.
var kinds = []kindSpec{
	{"kill-etcd", 3, always, drawTarget(true)},
	{"kill-rejoin", 3, always, drawTarget(true)},
	{"kill-both", 3, always, drawTarget(true)},
	{"freeze-etcd", 2, always, drawDur(2*time.Second, 14*time.Second)},
	{"freeze-member", 2, always, drawDur(2*time.Second, 14*time.Second)},
	{"freeze-rejoin", 1, always, drawDur(2*time.Second, 14*time.Second)},
	{"freeze-with-lagging", 2, always, drawFreezeWithLagging},
	{"rejoin-crash", 6, always, drawRejoinCrash},
	{"wipe", 2, always, drawTarget(true)},
	{"truncate-wal", 1, always, drawVariant("tail", "head")},
	{"truncate-db", 1, always, drawTarget(false)},
	{"bitflip-wal", 1, always, drawVariant("record", "head", "late")},
	{"bitflip-db", 1, always, drawTarget(false)},
	{"foreign-data", 1, always, drawTarget(false)},
	{"other-member-data", 1, always, drawPeer},
	{"lose-wal-dir", 1, withWalDir, drawWalDirMember},
	{"lose-data-dir", 1, withWalDir, drawWalDirMember},
	{"cold-restart", 1, always, drawVariant("graceful", "kill")},
	{"wipe-two", 1, fiveOrMore, drawPeer},
	{"wipe-majority", 2, always, drawVariant("keep-state", "lose-state", "keep-state+reboot", "lose-state+reboot")},
	{"partition-isolate", 2, always, drawDur(3*time.Second, 20*time.Second)},
	{"partition-blackhole", 2, always, drawDur(3*time.Second, 20*time.Second)},
	{"partition-oneway", 1, always, drawDur(3*time.Second, 20*time.Second)},
	{"partition-split", 1, fiveOrMore, drawDur(3*time.Second, 20*time.Second)},
	{"lag-far-behind", 1, always, drawTarget(false)},
	{"disk-full", 1, always, drawDur(4*time.Second, 15*time.Second)},
	{"wipe-and-freeze", 2, always, drawWipeAndFreeze},
	{"rejoin-partition", 2, always, drawRejoinPartition},
}

// KindNames lists every fault kind.
func KindNames() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.name
	}
	return out
}

func drawVariant(variants ...string) func(*rand.Rand, ScheduleOptions, *Step) {
	return func(r *rand.Rand, o ScheduleOptions, s *Step) {
		s.Target = r.IntN(o.Members)
		s.Variant = variants[r.IntN(len(variants))]
	}
}

func drawPeer(r *rand.Rand, o ScheduleOptions, s *Step) {
	s.Target = r.IntN(o.Members)
	s.Peer = (s.Target + 1 + r.IntN(o.Members-1)) % o.Members
}

func drawWalDirMember(r *rand.Rand, o ScheduleOptions, s *Step) {
	s.Target = o.Members - 1 - r.IntN(o.WalDirMembers)
}

func drawFreezeWithLagging(r *rand.Rand, o ScheduleOptions, s *Step) {
	drawPeer(r, o, s)
	s.Dur = 4*time.Second + time.Duration(r.IntN(8000))*time.Millisecond
}

func drawWipeAndFreeze(r *rand.Rand, o ScheduleOptions, s *Step) {
	drawPeer(r, o, s)
	s.Dur = 3*time.Second + time.Duration(r.IntN(9000))*time.Millisecond
}

func drawRejoinPartition(r *rand.Rand, o ScheduleOptions, s *Step) {
	s.Target = r.IntN(o.Members)
	s.Variant = []string{"self", "leader"}[r.IntN(2)]
	s.Dur = 3*time.Second + time.Duration(r.IntN(9000))*time.Millisecond
}

// rejoinSteps are the failpoints a rejoin passes, in order.
var rejoinSteps = []string{failpoint.AfterMoveAside, failpoint.AfterRemove, failpoint.AfterAdd, failpoint.AfterStart, failpoint.BeforePromote}

func drawRejoinCrash(r *rand.Rand, o ScheduleOptions, s *Step) {
	s.Target = r.IntN(o.Members)
	if o.Failpoints {
		s.Variant = rejoinSteps[r.IntN(len(rejoinSteps))]
		return
	}
	s.Variant = "random"
	s.Dur = time.Duration(r.IntN(4000)) * time.Millisecond
}

// Schedule draws steps 1..n from seed. Step i depends only on (seed, i)
// and the options, so a shorter run is a prefix of a longer one.
func Schedule(seed uint64, n int, o ScheduleOptions) ([]Step, error) {
	var pool []kindSpec
	total := 0
	for _, k := range kinds {
		if !k.fits(o) || slices.Contains(o.Skip, k.name) || (len(o.Only) > 0 && !slices.Contains(o.Only, k.name)) {
			continue
		}
		pool = append(pool, k)
		total += k.weight
	}
	if total == 0 {
		return nil, fmt.Errorf("no fault kind left to draw from (only %v, skip %v)", o.Only, o.Skip)
	}
	steps := make([]Step, n)
	for i := range steps {
		r := rand.New(rand.NewPCG(seed, uint64(i+1)))
		s, err := drawStep(r, i+1, pool, total, o)
		if err != nil {
			return nil, err
		}
		steps[i] = s
	}
	return steps, nil
}

// drawStep draws one step; a step whose kind:variant is skipped is drawn
// again (from the same generator, so still deterministic).
func drawStep(r *rand.Rand, n int, pool []kindSpec, total int, o ScheduleOptions) (Step, error) {
	for try := 0; try < 100; try++ {
		s := Step{N: n, Peer: -1, Seed: r.Uint64()}
		x := r.IntN(total)
		for _, k := range pool {
			if x < k.weight {
				s.Kind = k.name
				k.draw(r, o, &s)
				break
			}
			x -= k.weight
		}
		if s.Variant == "" || !slices.Contains(o.Skip, s.Kind+":"+s.Variant) {
			return s, nil
		}
	}
	return Step{}, fmt.Errorf("step %d: every draw was skipped (skip %v)", n, o.Skip)
}

// validKinds checks names (kind, or kind:variant) against the known kinds.
func validKinds(names []string) error {
	for _, n := range names {
		if kind, _, _ := strings.Cut(n, ":"); !slices.Contains(KindNames(), kind) {
			return fmt.Errorf("unknown fault kind %q (known: %s)", n, strings.Join(KindNames(), ", "))
		}
	}
	return nil
}

// ParseScript reads a hand-written schedule: comma-separated steps
// kind[:variant]@target[/peer][~duration], where target is mN or leader
// (then m1 when nobody leads), for example
// "other-member-data@m5/m4,freeze-etcd@leader~8s,truncate-wal:tail@m1".
func ParseScript(s string) ([]Step, error) {
	var steps []Step
	for i, item := range strings.Split(s, ",") {
		st, err := parseStep(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("script step %d %q: %w", i+1, item, err)
		}
		st.N, st.Seed = i+1, uint64(i+1)
		steps = append(steps, st)
	}
	return steps, nil
}

func parseStep(item string) (Step, error) {
	st := Step{Peer: -1}
	rest, dur, hasDur := strings.Cut(item, "~")
	if hasDur {
		d, err := time.ParseDuration(dur)
		if err != nil {
			return st, err
		}
		st.Dur = d
	}
	kind, where, ok := strings.Cut(rest, "@")
	if !ok {
		return st, fmt.Errorf("no @target")
	}
	st.Kind, st.Variant, _ = strings.Cut(kind, ":")
	if err := validKinds([]string{st.Kind}); err != nil {
		return st, err
	}
	target, peer, hasPeer := strings.Cut(where, "/")
	var err error
	if target == "leader" {
		st.Leader = true
	} else if st.Target, err = memberIndex(target); err != nil {
		return st, err
	}
	if hasPeer {
		if st.Peer, err = memberIndex(peer); err != nil {
			return st, err
		}
	}
	return st, nil
}

func memberIndex(name string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(name, "m%d", &n); err != nil || n < 1 {
		return 0, fmt.Errorf("member %q: want m1, m2 and so on", name)
	}
	return n - 1, nil
}
