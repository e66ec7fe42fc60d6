package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// noFault names the writer's windows without a fault.
const noFault = "no fault"

// Cell is the heal benchmark of one etcd version, member count and data
// size.
type Cell struct {
	Version string `json:"version"`
	Members int    `json:"members"`
	SizeMB  int    `json:"size_mb"`
	Keys    int    `json:"keys"`
	// DBSize is the backend size a member reported after the load.
	DBSize int64   `json:"db_size"`
	Rounds []Round `json:"rounds"`
	// Writer sums up the writes per window: no fault, and during heals by
	// each method.
	Writer map[string]WriterStats `json:"writer"`
	// Err is set when the cell could not run to its end.
	Err string `json:"err,omitempty"`
}

// connectedFor is how long a new cluster runs before the first heal: etcd
// refuses membership changes until every voter has been connected to the
// member serving the request for 5 s (3.4: every voter; 3.5 and 3.6: a
// majority), which a cluster that has run for a while always is.
const connectedFor = 6 * time.Second

// cellRun is the state of one cell while it runs.
type cellRun struct {
	cfg     *Config
	c       *cluster
	victim  int
	sizeMB  int
	samples map[string][]sample
}

// runCell starts a cluster of raw etcd members, loads the data, then heals
// the last member over and over, alternating the methods.
func runCell(ctx context.Context, cfg *Config, v Version, members, sizeMB int, prefix, dir string) Cell {
	cell := Cell{Version: v.Name, Members: members, SizeMB: sizeMB, Writer: map[string]WriterStats{}}
	c, err := newCluster(cfg, v, prefix, members, filepath.Join(dir, fmt.Sprintf("etcd%s-%dm-%dmb", v.Name, members, sizeMB)))
	if err != nil {
		cell.Err = err.Error()
		return cell
	}
	defer c.removeData()
	defer c.stopAll()
	r := &cellRun{cfg: cfg, c: c, victim: members - 1, sizeMB: sizeMB, samples: map[string][]sample{}}
	if err := r.setUp(ctx, &cell); err != nil {
		cell.Err = err.Error()
		return cell
	}
	if err := r.rounds(ctx, &cell); err != nil {
		cell.Err = err.Error()
	}
	for k, s := range r.samples {
		cell.Writer[k] = summarize(s)
	}
	return cell
}

// setUp starts the cluster and loads the data.
func (r *cellRun) setUp(ctx context.Context, cell *Cell) error {
	c := r.c
	for i := range c.nodes {
		if _, err := c.startEtcd(i, "new", c.initialCluster()); err != nil {
			return err
		}
	}
	if err := c.waitServing(ctx, 2*time.Minute, c.others(-1)...); err != nil {
		return fmt.Errorf("cluster start: %w", err)
	}
	start := time.Now()
	defer sleepCtx(ctx, time.Until(start.Add(connectedFor)))
	keys, err := c.load(ctx, r.sizeMB)
	if err != nil {
		return err
	}
	cell.Keys = keys
	if cell.DBSize, err = c.dbSize(ctx, 0); err != nil {
		return err
	}
	r.cfg.logf("  loaded %d keys (db %d MB) in %s", keys, cell.DBSize>>20, time.Since(start).Round(time.Second))
	return nil
}

// rounds alternates the methods, first etcd-rejoin; the writer rounds come
// last, alternating as well.
func (r *cellRun) rounds(ctx context.Context, cell *Cell) error {
	methods := []string{MethodRejoin, MethodManual}
	for i := range 2 * (r.cfg.Rounds + r.cfg.WriterRounds) {
		method, withWriter := methods[i%2], i >= 2*r.cfg.Rounds
		round, err := r.healRound(ctx, method, withWriter)
		if err != nil {
			return err
		}
		cell.Rounds = append(cell.Rounds, round)
		r.cfg.logf("  %-11s %s", method, describeRound(round))
	}
	return nil
}

func describeRound(r Round) string {
	w := ""
	if r.Writer {
		w = " (writer)"
	}
	if !r.OK {
		return "FAILED" + w + ": " + r.Err
	}
	return fmt.Sprintf("%s%s", r.Total.Round(time.Millisecond), w)
}

// startedVoter fails unless the entry with peerURL has started (published
// its client URLs) and votes.
func startedVoter(ctx context.Context, cli *clientv3.Client, peerURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("member list: %w", err)
	}
	for _, m := range resp.Members {
		if !containsURL(strings.Join(m.PeerURLs, ","), peerURL) {
			continue
		}
		switch {
		case len(m.ClientURLs) == 0:
			return fmt.Errorf("member %x not started", m.ID)
		case m.IsLearner:
			return fmt.Errorf("member %x is a learner", m.ID)
		}
		return nil
	}
	return fmt.Errorf("no member with peer URL %s", peerURL)
}
