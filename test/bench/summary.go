package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// methodRounds returns the OK rounds of a method, with or without writer.
func (c Cell) methodRounds(method string, writer bool) []Round {
	var out []Round
	for _, r := range c.Rounds {
		if r.Method == method && r.Writer == writer && r.OK {
			out = append(out, r)
		}
	}
	return out
}

// hasWriter reports whether any round ran a writer.
func (c Cell) hasWriter() bool {
	for _, r := range c.Rounds {
		if r.Writer {
			return true
		}
	}
	return false
}

// totals are the heal times of the OK rounds without writer.
func (c Cell) totals(method string) []time.Duration {
	var out []time.Duration
	for _, r := range c.methodRounds(method, false) {
		out = append(out, r.Total)
	}
	return out
}

// stalled reports whether etcd's publish request came inside the leader's
// snapshot in this round: etcd lost it (and waited its request timeout, or
// hung), or etcd-rejoin restarted etcd for it.
func (r Round) stalled() bool { return r.PublishLost > 0 || r.Restarted > 0 }

// cleanTotals are the heal times of the OK rounds without writer in which
// etcd's publish request did not stall.
func (c Cell) cleanTotals(method string) []time.Duration {
	var out []time.Duration
	for _, r := range c.methodRounds(method, false) {
		if !r.stalled() {
			out = append(out, r.Total)
		}
	}
	return out
}

// refusedByEtcd reports whether a manual heal hung because etcd refused
// its own publish request: a finding about etcd that the report shows, not
// a failure of the bench.
func (r Round) refusedByEtcd() bool {
	return r.Method == MethodManual && strings.Contains(r.Err, errPublishRefused.Error())
}

// never stands for a heal that did not complete: slower than any that did.
const never = time.Duration(math.MaxInt64)

// outcomes are the heal times of all rounds without writer, a failed heal
// as never.
func (c Cell) outcomes(method string) []time.Duration {
	var out []time.Duration
	for _, r := range c.Rounds {
		switch {
		case r.Method != method || r.Writer:
		case r.OK:
			out = append(out, r.Total)
		default:
			out = append(out, never)
		}
	}
	return out
}

// medianOutcome is the median of outcomes: never when a middle value is.
func medianOutcome(ds []time.Duration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if s[n/2] == never || s[(n-1)/2] == never {
		return never, true
	}
	return (s[(n-1)/2] + s[n/2]) / 2, true
}

// cleanRatio is ratio over the rounds in which no publish stalled.
func (c Cell) cleanRatio() (float64, bool) {
	r, ok1 := median(c.cleanTotals(MethodRejoin))
	m, ok2 := median(c.cleanTotals(MethodManual))
	if !ok1 || !ok2 {
		return 0, false
	}
	return ratio(r, m)
}

// failed counts the rounds of a method that did not heal.
func (c Cell) failed(method string) (failed, all int) {
	for _, r := range c.Rounds {
		if r.Method == method {
			all++
			if !r.OK {
				failed++
			}
		}
	}
	return failed, all
}

// markMedian is the median offset of a milestone over the OK rounds
// without writer that reached it.
func (c Cell) markMedian(method, mark string) (time.Duration, bool) {
	var ds []time.Duration
	for _, r := range c.methodRounds(method, false) {
		if d, ok := r.Marks[mark]; ok {
			ds = append(ds, d)
		}
	}
	return median(ds)
}

// Pseudo-milestones for segments: the start of a heal and its end (READY
// for etcd-rejoin, serving for the manual procedure).
const (
	markStart = "start"
	markDone  = "done"
)

// at returns when a round reached a milestone.
func (r Round) at(mark string) (time.Duration, bool) {
	switch mark {
	case markStart:
		return 0, true
	case markDone:
		return r.Total, true
	}
	d, ok := r.Marks[mark]
	return d, ok
}

// segment is the median, over the OK rounds without writer that reached
// both milestones, of the time from one to the other.
func (c Cell) segment(method, from, to string) (time.Duration, bool) {
	var ds []time.Duration
	for _, r := range c.methodRounds(method, false) {
		a, ok1 := r.at(from)
		b, ok2 := r.at(to)
		if ok1 && ok2 {
			ds = append(ds, b-a)
		}
	}
	return median(ds)
}

// ratio is the median heal time of etcd-rejoin over the manual one's, over
// all rounds without writer, a failed heal counting as never done: 0 when
// the manual procedure's median round never healed and etcd-rejoin's did,
// +Inf the other way round, no ratio when neither healed.
func (c Cell) ratio() (float64, bool) {
	r, ok1 := medianOutcome(c.outcomes(MethodRejoin))
	m, ok2 := medianOutcome(c.outcomes(MethodManual))
	switch {
	case !ok1 || !ok2 || (r == never && m == never):
		return 0, false
	case m == never:
		return 0, true
	case r == never:
		return math.Inf(1), true
	}
	return ratio(r, m)
}

func (c Cell) name() string {
	return fmt.Sprintf("etcd %s, %d members, %d MB", c.Version, c.Members, c.SizeMB)
}

// Problems lists what makes a run incomplete: a cell, decision case or cost
// run that failed, a heal that did not complete, a number that is missing.
func Problems(res *Results) []string {
	var out []string
	for _, c := range res.Cells {
		out = append(out, c.problems()...)
	}
	for _, d := range res.Decisions {
		out = append(out, d.problems()...)
	}
	for _, c := range res.Cost {
		out = append(out, c.problems()...)
	}
	return out
}

func (c Cell) problems() []string {
	var out []string
	if c.Err != "" {
		out = append(out, c.name()+": "+c.Err)
	}
	for _, r := range c.Rounds {
		if !r.OK && !r.refusedByEtcd() {
			out = append(out, fmt.Sprintf("%s: a %s heal failed: %s", c.name(), r.Method, r.Err))
		}
	}
	if _, ok := c.ratio(); !ok {
		out = append(out, c.name()+": no heal ratio")
	}
	for _, w := range []string{noFault, MethodRejoin, MethodManual} {
		if c.Writer[w].Writes == 0 && c.Err == "" && c.hasWriter() {
			out = append(out, fmt.Sprintf("%s: no writes in the %q window", c.name(), w))
		}
	}
	return out
}

func (d Decision) problems() []string {
	var out []string
	name := fmt.Sprintf("decision etcd %s, %s", d.Version, d.Case)
	for _, e := range d.Errs {
		out = append(out, name+": "+e)
	}
	if len(d.Decide) == 0 || (d.Want != "wait" && !d.Plan && len(d.Launch) == 0) {
		out = append(out, name+": no time measured")
	}
	for _, a := range d.Actions {
		if a != d.Want {
			out = append(out, fmt.Sprintf("%s: decided %q, not %q", name, a, d.Want))
		}
	}
	return out
}

func (c Cost) problems() []string {
	name := "cost etcd " + c.Version
	switch {
	case c.Err != "":
		return []string{name + ": " + c.Err}
	case c.RSSMedianKiB == 0 || c.CPUPercent < 0:
		return []string{name + ": no memory or CPU figure"}
	case len(c.Requests) == 0:
		return []string{name + ": no health-check requests counted"}
	}
	return nil
}
