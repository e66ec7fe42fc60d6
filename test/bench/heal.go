package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Methods of healing a wiped member.
const (
	MethodRejoin = "etcd-rejoin"
	MethodManual = "manual"
)

// Round is one heal of the wiped member.
type Round struct {
	Method string `json:"method"`
	// Writer: a client wrote at a fixed rate during this round.
	Writer bool   `json:"writer"`
	OK     bool   `json:"ok"`
	Err    string `json:"err,omitempty"`
	// Total is the time from the start (etcd-rejoin launched; the first
	// etcdctl command launched) to READY=1 (etcd-rejoin) or to the bench
	// seeing a started voter serve a linearizable read (manual).
	Total time.Duration `json:"total"`
	// Marks are the milestones reached, as offsets from the start.
	Marks map[string]time.Duration `json:"marks"`
	// Waiting counts etcd-rejoin's looks again after a refusal.
	Waiting int `json:"waiting,omitempty"`
	// PublishLost counts the times etcd's request to publish itself timed
	// out (etcd retries it after its request timeout, about 7 s).
	PublishLost int `json:"publish_lost,omitempty"`
	// Restarted counts the times etcd-rejoin restarted etcd that waited
	// for a publish request its snapshot already held.
	Restarted int `json:"restarted,omitempty"`
	// Tail is the last output of a failed round.
	Tail []string `json:"tail,omitempty"`
}

// healed is what a method leaves for the bench to wait on.
type healed struct {
	start time.Time
	host  *host
	marks map[string]time.Duration
}

// errHealTimeout: a heal did not complete in time.
var errHealTimeout = errors.New("heal did not complete in time")

// errPublishRefused: the member's etcd refuses its own publish request.
var errPublishRefused = errors.New("etcd refuses its own publish request (too many requests) and serves nothing until another entry is applied")

// publishRefused matches etcd's line saying so.
func publishRefused(line string) bool {
	return strings.Contains(line, "failed to publish local member") && strings.Contains(line, "too many requests")
}

// pollEvery is how often the bench looks whether the healed member serves.
const pollEvery = 20 * time.Millisecond

// healRound stops node victim, wipes its data and heals it with method.
// Only a failure of the bench itself (the healthy members stop serving) is
// returned as an error; a heal that fails is a Round that is not OK.
func (r *cellRun) healRound(ctx context.Context, method string, withWriter bool) (Round, error) {
	c, victim := r.c, r.victim
	round := Round{Method: method, Writer: withWriter}
	if err := r.before(ctx); err != nil {
		return round, err
	}
	var w *writer
	var baseFrom, baseTo time.Time
	if withWriter {
		var err error
		if w, err = startWriter(ctx, c.clientURLs(c.others(victim)), r.cfg.WriterRate); err != nil {
			return round, err
		}
		baseFrom = time.Now()
		sleepCtx(ctx, r.cfg.WriterBaseline)
		baseTo = time.Now()
	}
	faultFrom := time.Now()
	c.stopHost(victim)
	if err := c.wipe(victim); err != nil {
		return round, err
	}
	if err := c.waitServing(ctx, time.Minute, c.others(victim)...); err != nil {
		return round, err
	}
	r.heal(ctx, method, &round)
	if w != nil {
		sleepCtx(ctx, time.Second)
		samples := w.stop()
		r.samples[noFault] = append(r.samples[noFault], window(samples, baseFrom, baseTo)...)
		r.samples[method] = append(r.samples[method], window(samples, faultFrom, time.Now())...)
	}
	if !round.OK {
		c.stopHost(victim)
	}
	sleepCtx(ctx, r.cfg.Settle)
	return round, nil
}

// before waits until the healthy members serve and the victim is no leader.
func (r *cellRun) before(ctx context.Context) error {
	c := r.c
	if err := c.waitServing(ctx, time.Minute, c.others(r.victim)...); err != nil {
		return fmt.Errorf("before a round: %w", err)
	}
	if h := c.hosts[r.victim]; h != nil && !h.proc.exited() {
		if err := c.moveLeaderOff(ctx, r.victim); err != nil {
			return err
		}
	}
	return nil
}

// heal runs one method to its end and fills in the round.
func (r *cellRun) heal(ctx context.Context, method string, round *Round) {
	ctx, cancel := context.WithTimeoutCause(ctx, r.healTimeout(), errHealTimeout)
	defer cancel()
	var h healed
	var err error
	if method == MethodRejoin {
		h, err = r.startRejoin()
	} else {
		h, err = manual{c: r.c, victim: r.victim}.heal(ctx)
	}
	if err == nil {
		err = r.await(ctx, method, &h)
	}
	round.Marks = h.marks
	if round.Marks == nil {
		round.Marks = map[string]time.Duration{}
	}
	if h.host != nil {
		tl := newTimeline(h.start, h.host.out.all())
		for m, d := range tl.marks {
			if _, ok := round.Marks[m]; !ok {
				round.Marks[m] = d
			}
		}
		round.Waiting, round.PublishLost, round.Restarted = tl.waiting, tl.publishLost, tl.restarted
	}
	if err != nil {
		round.Err = err.Error()
		if h.host != nil {
			round.Tail = h.host.out.tail(30)
		}
		return
	}
	end := markServing
	if method == MethodRejoin {
		end = markReady
	}
	round.Total, round.OK = round.Marks[end], true
}

func (r *cellRun) startRejoin() (healed, error) {
	h, err := r.c.startRejoin(r.victim)
	if err != nil {
		return healed{start: time.Now()}, err
	}
	return healed{start: h.proc.start, host: h, marks: map[string]time.Duration{}}, nil
}

// await waits for the end of a heal: READY=1 for etcd-rejoin, and for both
// the bench's poll seeing a started voter serve linearizable reads.
func (r *cellRun) await(ctx context.Context, method string, h *healed) error {
	if method == MethodManual && h.host != nil {
		// etcd 3.6 refuses a member's publish retry while its applied
		// index lags its commit index by over 5000, which stays so after
		// the leader's snapshot until another entry is applied (3.6 does
		// not count the snapshot as applied): on a cluster with no writes,
		// that is for ever. Fail at once.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			if _, err := h.host.proc.waitLine(ctx, 0, publishRefused); err == nil {
				cancel(errPublishRefused)
			}
		}()
	}
	polled := make(chan error, 1)
	go func() {
		at, err := r.pollServing(ctx)
		if err == nil {
			h.marks[markServing] = at.Sub(h.start)
		}
		polled <- err
	}()
	if method == MethodRejoin {
		if _, err := h.host.proc.waitLine(ctx, 0, hasMark(markReady)); err != nil {
			<-polled
			return fmt.Errorf("waiting for READY=1: %w", err)
		}
	}
	if err := <-polled; err != nil {
		return fmt.Errorf("waiting for a serving voter: %w", err)
	}
	return nil
}

// pollServing returns when node victim is a started voter that serves a
// linearizable read through itself alone.
func (r *cellRun) pollServing(ctx context.Context) (time.Time, error) {
	c, n := r.c, r.c.nodes[r.victim]
	cli, err := c.client(c.others(r.victim)...)
	if err != nil {
		return time.Time{}, err
	}
	defer func() { _ = cli.Close() }()
	for {
		err := c.serves(ctx, r.victim)
		if err == nil {
			err = startedVoter(ctx, cli, n.peerURL)
		}
		if err == nil {
			return time.Now(), nil
		}
		if !sleepCtx(ctx, pollEvery) {
			return time.Time{}, fmt.Errorf("%w (last: %v)", context.Cause(ctx), err)
		}
	}
}

// healTimeout grows with the data: a 512 MB snapshot takes a while to send
// and apply on a loaded machine.
func (r *cellRun) healTimeout() time.Duration {
	return r.cfg.HealTimeout + time.Duration(r.sizeMB)*time.Second/2
}
