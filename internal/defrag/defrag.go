// Package defrag decides when this member's database should be
// defragmented and runs it safely: one member at a time across the cluster
// (a lock in etcd), never while a voter is unhealthy, followers first and
// the leader last.
package defrag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// Policy says when a member is due: at least MinFreeRatio of its database
// file, and at least MinFreeBytes, are free (allocated but not in use).
type Policy struct {
	MinFreeRatio float64
	MinFreeBytes int64
}

// DefaultPolicy is what a careful operator would pick: half of the file
// free, and at least 64 MiB (below that the pause is not worth it).
var DefaultPolicy = Policy{MinFreeRatio: 0.5, MinFreeBytes: 64 << 20}

// Due reports whether a database of size bytes with inUse of them in use
// should be defragmented, and says why (not).
func (p Policy) Due(size, inUse int64) (bool, string) {
	free := size - inUse
	if size <= 0 || free <= 0 {
		return false, fmt.Sprintf("nothing free (%d bytes, %d in use)", size, inUse)
	}
	ratio := float64(free) / float64(size)
	switch {
	case free < p.MinFreeBytes:
		return false, fmt.Sprintf("%d of %d bytes free, below %d", free, size, p.MinFreeBytes)
	case ratio < p.MinFreeRatio:
		return false, fmt.Sprintf("%.0f%% of %d bytes free, below %.0f%%", 100*ratio, size, 100*p.MinFreeRatio)
	}
	return true, fmt.Sprintf("%d of %d bytes free (%.0f%%)", free, size, 100*ratio)
}

// Outcomes of a run.
const (
	Defragmented = "defragmented"
	NotDue       = "not-due"
	Busy         = "busy"         // another service holds the lock
	Degraded     = "degraded"     // a voter is unhealthy, or an alarm forbids it
	LeaderWaits  = "leader-waits" // this member leads and a follower is due first
	Failed       = "failed"
)

// LockName is the cluster-wide lock a run holds (under /etcd-rejoin/locks/).
const LockName = "defrag"

// Cluster is what a run needs of the cluster: the seam for unit tests.
// Live is the real one.
type Cluster interface {
	// LocalStatus is this member's status.
	LocalStatus(ctx context.Context) (member.Status, error)
	// Members is the current member list.
	Members(ctx context.Context) ([]plan.Member, error)
	// MemberStatus is the status of a listed member (through its client URLs).
	MemberStatus(ctx context.Context, m plan.Member) (member.Status, error)
	// Alarms are the active alarms.
	Alarms(ctx context.Context) ([]member.Alarm, error)
	// DefragmentLocal defragments this member.
	DefragmentLocal(ctx context.Context) error
	// Lock takes a cluster-wide lock and returns its release.
	Lock(ctx context.Context, name string) (func(), error)
}

// Size is a database's file size and the part of it in use.
type Size struct {
	Bytes, InUse int64
}

// Result is how a run ended.
type Result struct {
	Outcome string
	// Detail says why, for the journal and the status record.
	Detail        string
	Before, After Size
	Took          time.Duration
}

// Run checks this member and defragments it when it is due and safe. Not
// defragmenting is no error: Outcome says why. An error (Outcome Failed)
// means a step failed: the status, the list, the lock or the defragment
// itself.
func Run(ctx context.Context, c Cluster, p Policy) (Result, error) {
	st, err := c.LocalStatus(ctx)
	if err != nil {
		return failed(fmt.Errorf("defragment: %w", err))
	}
	res := Result{Before: sizeOf(st)}
	if due, why := p.Due(st.DBSize, st.DBSizeInUse); !due {
		res.Outcome, res.Detail = NotDue, why
		return res, nil
	}
	unlock, err := c.Lock(ctx, LockName)
	if errors.Is(err, member.ErrLockBusy) {
		res.Outcome, res.Detail = Busy, "another member is being defragmented"
		return res, nil
	}
	if err != nil {
		return failed(fmt.Errorf("defragment: %w", err))
	}
	defer unlock()
	return locked(ctx, c, p, res)
}

// locked is the run under the lock: check the cluster, then defragment.
func locked(ctx context.Context, c Cluster, p Policy, res Result) (Result, error) {
	st, err := c.LocalStatus(ctx)
	if err != nil {
		return failed(fmt.Errorf("defragment: %w", err))
	}
	res.Before = sizeOf(st)
	if due, why := p.Due(st.DBSize, st.DBSizeInUse); !due {
		res.Outcome, res.Detail = NotDue, why
		return res, nil
	}
	outcome, why, err := check(ctx, c, p, st)
	if err != nil {
		return failed(fmt.Errorf("defragment: %w", err))
	}
	if outcome != "" {
		res.Outcome, res.Detail = outcome, why
		return res, nil
	}
	return defragment(ctx, c, res)
}

func defragment(ctx context.Context, c Cluster, res Result) (Result, error) {
	start := time.Now()
	if err := c.DefragmentLocal(ctx); err != nil {
		res.Outcome, res.Detail = Failed, err.Error()
		return res, fmt.Errorf("defragment: %w", err)
	}
	res.Took = time.Since(start)
	after, err := c.LocalStatus(ctx)
	if err != nil {
		res.Outcome, res.Detail = Failed, err.Error()
		return res, fmt.Errorf("defragment: after: %w", err)
	}
	res.Outcome, res.After = Defragmented, sizeOf(after)
	res.Detail = fmt.Sprintf("%d -> %d bytes", res.Before.Bytes, res.After.Bytes)
	return res, nil
}

// check says why the cluster may not be touched now ("" outcome: it may):
// a voter unhealthy, a CORRUPT alarm, or this member leads while a
// follower is due.
func check(ctx context.Context, c Cluster, p Policy, self member.Status) (outcome, why string, err error) {
	members, err := c.Members(ctx)
	if err != nil {
		return "", "", err
	}
	alarms, err := c.Alarms(ctx)
	if err != nil {
		return "", "", err
	}
	for _, a := range alarms {
		if a.Name == "CORRUPT" {
			return Degraded, fmt.Sprintf("alarm CORRUPT on %s", plan.HexID(a.MemberID)), nil
		}
	}
	statuses, down := ask(ctx, c, members, self)
	if len(down) > 0 {
		return Degraded, "unhealthy voters: " + strings.Join(down, ", "), nil
	}
	if self.IsLeader() {
		if due := dueFollowers(p, members, statuses, self.MemberID); len(due) > 0 {
			return LeaderWaits, "the leader goes last; due first: " + strings.Join(due, ", "), nil
		}
	}
	return "", "", nil
}

// ask asks every member but this one for its status; it returns the
// answers by ID and the voters that are not healthy (no answer, another
// cluster, no leader).
func ask(ctx context.Context, c Cluster, members []plan.Member, self member.Status) (map[uint64]member.Status, []string) {
	statuses := map[uint64]member.Status{self.MemberID: self}
	var down []string
	for _, m := range members {
		if m.ID == self.MemberID {
			continue
		}
		st, err := c.MemberStatus(ctx, m)
		healthy := err == nil && st.MemberID == m.ID && st.ClusterID == self.ClusterID && st.Leader != 0
		if healthy {
			statuses[m.ID] = st
		} else if !m.IsLearner {
			down = append(down, name(m))
		}
	}
	return statuses, down
}

// dueFollowers names the other members (followers and learners) that are
// due under the policy.
func dueFollowers(p Policy, members []plan.Member, statuses map[uint64]member.Status, self uint64) []string {
	var due []string
	for _, m := range members {
		st, ok := statuses[m.ID]
		if m.ID == self || !ok {
			continue
		}
		if d, _ := p.Due(st.DBSize, st.DBSizeInUse); d {
			due = append(due, name(m))
		}
	}
	return due
}

func name(m plan.Member) string {
	if m.Name == "" {
		return plan.HexID(m.ID)
	}
	return m.Name + " (" + plan.HexID(m.ID) + ")"
}

func sizeOf(st member.Status) Size { return Size{Bytes: st.DBSize, InUse: st.DBSizeInUse} }

func failed(err error) (Result, error) {
	return Result{Outcome: Failed, Detail: err.Error()}, err
}
