package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// Decision is one start case timed over several rounds: from the launch of
// etcd-rejoin to its "decision" line, and to its "etcd started" line.
type Decision struct {
	Version string `json:"version"`
	Case    string `json:"case"`
	Want    string `json:"want"` // the action expected
	// Actions are the actions logged, one per round.
	Actions []string        `json:"actions"`
	Decide  []time.Duration `json:"decide"`
	Launch  []time.Duration `json:"launch,omitempty"`
	Errs    []string        `json:"errs,omitempty"`
	// Plan: the case times `etcd-rejoin plan --json`, which starts no etcd.
	Plan bool `json:"plan,omitempty"`
}

// decisionTimeout bounds one start until etcd runs (or it decided to wait).
const decisionTimeout = time.Minute

// decider runs the start cases on one three-node cluster of etcd-rejoin
// hosts; node 0 is the one timed.
type decider struct {
	cfg *Config
	c   *cluster
	out []Decision
}

// runDecisions times each start case in turn; a case that cannot be set up
// records why and the next one still runs.
func runDecisions(ctx context.Context, cfg *Config, v Version, prefix string) []Decision {
	c, err := newCluster(cfg, v, prefix, 3, filepath.Join(cfg.Work, "decisions-etcd"+v.Name))
	if err != nil {
		return []Decision{{Version: v.Name, Case: "set-up", Errs: []string{err.Error()}}}
	}
	defer c.stopAll()
	d := &decider{cfg: cfg, c: c}
	d.bootstrapAlone(ctx)
	d.bootstrapUnformed(ctx)
	if err := d.form(ctx); err != nil {
		d.out = append(d.out, Decision{Version: v.Name, Case: "cluster start under etcd-rejoin", Errs: []string{err.Error()}})
		return d.out
	}
	d.restartHealthy(ctx)
	d.rejoinHealthy(ctx)
	c.stopHost(0)
	d.plan(ctx)
	c.stopAll()
	d.restartAlone(ctx)
	d.wipedAlone(ctx)
	return d.out
}

// timed starts etcd-rejoin on node 0 and times it to its decision and, but
// for a wait, to etcd's launch; the process is left running.
func (d *decider) timed(ctx context.Context, dec *Decision) (*host, error) {
	ctx, cancel := context.WithTimeout(ctx, decisionTimeout)
	defer cancel()
	h, err := d.c.startRejoin(0)
	if err != nil {
		return nil, err
	}
	line, err := h.proc.waitLine(ctx, 0, hasMark(markDecision))
	if err != nil {
		return h, fmt.Errorf("no decision: %w", err)
	}
	action := decisionAction(line.text)
	dec.Actions = append(dec.Actions, action)
	dec.Decide = append(dec.Decide, line.at.Sub(h.proc.start))
	if dec.Want == "wait" {
		return h, nil
	}
	started, err := h.proc.waitLine(ctx, 0, hasMark(markEtcdStarted))
	if err != nil {
		return h, fmt.Errorf("decided %s but etcd did not start: %w", action, err)
	}
	dec.Launch = append(dec.Launch, started.at.Sub(h.proc.start))
	return h, nil
}

// repeat runs a case's rounds: prepare, the timed start, then after.
func (d *decider) repeat(ctx context.Context, name, want string, prepare func() error, after func(*host) error) {
	dec := Decision{Version: d.c.v.Name, Case: name, Want: want}
	for range d.cfg.DecisionRounds {
		err := prepare()
		var h *host
		if err == nil {
			h, err = d.timed(ctx, &dec)
		}
		if err == nil {
			err = after(h)
		}
		if err != nil {
			dec.Errs = append(dec.Errs, err.Error())
			if h != nil {
				h.stop()
			}
		}
	}
	d.cfg.logf("  %-45s %s", name, describeDecision(dec))
	d.out = append(d.out, dec)
}

func describeDecision(dec Decision) string {
	m, _ := median(dec.Decide)
	l, _ := median(dec.Launch)
	return fmt.Sprintf("decide %s, etcd started %s, actions %v, %d errors", m.Round(time.Millisecond), l.Round(time.Millisecond), dec.Actions, len(dec.Errs))
}

func (d *decider) stop(h *host) error { h.stop(); return nil }

// bootstrapAlone: a new host, nothing else running (first boot, the others
// not up yet: their addresses refuse connections).
func (d *decider) bootstrapAlone(ctx context.Context) {
	d.repeat(ctx, "bootstrap, peers not answering", "bootstrap",
		func() error { return d.c.wipeAll(0) }, d.stop)
}

// bootstrapUnformed: another member of the new cluster runs but the
// cluster has not formed (it alone has no quorum): peers answer, no
// member has started.
func (d *decider) bootstrapUnformed(ctx context.Context) {
	c := d.c
	d.repeat(ctx, "bootstrap, peers answering (not formed yet)", "bootstrap",
		func() error {
			c.stopHost(1)
			for _, i := range []int{0, 1} {
				if err := c.wipeAll(i); err != nil {
					return err
				}
			}
			if _, err := c.startEtcd(1, "new", c.initialCluster()); err != nil {
				return err
			}
			return waitDialable(ctx, c.nodes[1].peerURL)
		},
		func(h *host) error { h.stop(); c.stopHost(1); return nil })
	c.stopHost(1)
	for _, i := range []int{0, 1} {
		_ = c.wipeAll(i)
	}
}

// form starts all three hosts under etcd-rejoin and waits until each is
// READY.
func (d *decider) form(ctx context.Context) error {
	c := d.c
	for i := range c.nodes {
		if err := c.wipeAll(i); err != nil {
			return err
		}
		if _, err := c.startRejoin(i); err != nil {
			return err
		}
	}
	for i := range c.nodes {
		if err := awaitReady(ctx, c.hosts[i]); err != nil {
			return err
		}
	}
	return nil
}

func awaitReady(ctx context.Context, h *host) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err := h.proc.waitLine(ctx, 0, hasMark(markReady))
	return err
}

// restartHealthy: a host restarts on its data in a healthy cluster.
func (d *decider) restartHealthy(ctx context.Context) {
	d.repeat(ctx, "restart, peers answering", "restart",
		func() error { d.c.stopHost(0); return nil },
		func(h *host) error { return awaitReady(ctx, h) })
}

// rejoinHealthy: a host lost its data dir; the cluster is healthy.
func (d *decider) rejoinHealthy(ctx context.Context) {
	d.repeat(ctx, "rejoin, peers answering", "rejoin",
		func() error { d.c.stopHost(0); return d.c.wipe(0) },
		func(h *host) error { return awaitReady(ctx, h) })
}

// restartAlone: every host is down; one starts on its data.
func (d *decider) restartAlone(ctx context.Context) {
	d.repeat(ctx, "restart, peers not answering", "restart",
		func() error { return nil }, d.stop)
}

// wipedAlone: every host is down and this one lost its data dir; its state
// file says it was a member, so it must wait.
func (d *decider) wipedAlone(ctx context.Context) {
	d.repeat(ctx, "wiped, peers not answering (must wait)", "wait",
		func() error { return d.c.wipe(0) }, d.stop)
}

// plan times `etcd-rejoin plan --json` for a host that is down, with its
// data, in a healthy cluster (an operator asking what it would do), from
// exec to exit.
func (d *decider) plan(ctx context.Context) {
	c := d.c
	dec := Decision{Version: c.v.Name, Case: "`plan --json`, host down with its data, peers answering (exec to exit)", Want: "restart", Plan: true}
	env := c.rejoinEnv(0, "")
	for range d.cfg.DecisionRounds {
		start := time.Now()
		out, err := run(ctx, d.cfg.Rejoin, env, "plan", "--json")
		took := time.Since(start)
		if err != nil {
			dec.Errs = append(dec.Errs, err.Error())
			continue
		}
		dec.Decide = append(dec.Decide, took)
		dec.Actions = append(dec.Actions, planAction(out))
	}
	d.cfg.logf("  %-45s %s", dec.Case, describeDecision(dec))
	d.out = append(d.out, dec)
}

// waitDialable waits until something listens at the URL's address.
func waitDialable(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := dialable(ctx, u)
		if err == nil {
			return nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return fmt.Errorf("%s: %w", u, err)
		}
	}
}
