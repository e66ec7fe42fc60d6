package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// voterLock is the service's cluster-wide lock around adding a voter
// (service.voterLock): a leave takes it too, so that a host adding a voter
// and this host leaving re-check the quorum one after the other.
const voterLock = "add-voter"

// Bounds of a leave's wait for the local etcd to stop once removed.
const (
	minStopWait = time.Minute
	stopPoll    = 250 * time.Millisecond
	// unhealthyRetry and unhealthyRetryFor pace and bound the retries of
	// a removal that etcd refused as unsafe for now.
	unhealthyRetry    = time.Second
	unhealthyRetryFor = 30 * time.Second
)

// Leave takes this host's member out of its cluster for good. It refuses
// (ErrRefused) when the cluster has no quorum, when the member is the last
// one, when removing it would leave fewer than a quorum of healthy voters,
// or while it is still starting. Otherwise it records the leave in the
// state file first (so that the service, whatever it does meanwhile, never
// adds the member again), removes the member through the healthy voters,
// waits for the local etcd to stop (etcd stops itself once removed; the
// service then exits and, restarted, waits), and moves the data aside.
// Run again after an interruption, it finishes what is left.
func Leave(ctx context.Context, h Host, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	l := &leaver{h: h, out: out}
	if err := l.observe(ctx); err != nil {
		return err
	}
	if err := l.record(); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if err := l.remove(ctx); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if err := l.finish(ctx); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}

type leaver struct {
	h        Host
	out      io.Writer
	mem      plan.Memory
	id       uint64 // this member
	cluster  plan.Cluster
	self     plan.Member
	listed   bool
	removeAt []string // healthy voters' client URLs
}

func (l *leaver) say(format string, args ...any) { fmt.Fprintf(l.out, format+"\n", args...) }

// observe finds this member and refuses what must not be done.
func (l *leaver) observe(ctx context.Context) error {
	var err error
	if l.mem, err = datadir.LoadMemory(l.h.StateFile); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if l.id, err = l.memberID(); err != nil {
		return err
	}
	if l.cluster, err = member.Observe(ctx, l.h.withSelf(ctx)); err != nil {
		return fmt.Errorf("leave: observe the cluster: %w", err)
	}
	l.self, l.listed = findMember(l.cluster, l.id)
	if why := l.refusal(ctx); why != "" {
		return fmt.Errorf("leave %w: %s", ErrRefused, why)
	}
	return nil
}

// memberID is this host's member: the one a recorded leave names, else the
// local data's, else the state file's.
func (l *leaver) memberID() (uint64, error) {
	if left := l.mem.Left; left != nil {
		l.say("a leave of member %s was recorded on %s: finishing it", plan.HexID(left.MemberID), left.At.UTC().Format(time.RFC3339))
		return left.MemberID, nil
	}
	d, err := datadir.Inspect(l.h.Layout)
	if err != nil {
		return 0, fmt.Errorf("leave: inspect the data dir %s: %w", l.h.Layout.DataDir, err)
	}
	switch {
	case d.Kind == plan.DataPresent:
		return d.MemberID, nil
	case l.mem.MemberID != 0:
		return l.mem.MemberID, nil
	}
	return 0, fmt.Errorf("leave %w: this host has no member: no data in %s and no member in the state file %s",
		ErrRefused, l.h.Layout.DataDir, l.h.StateFile)
}

// withSelf is the cluster options with this host's own member asked too,
// so that a cluster of one is seen (the configured or discovered client
// URLs are the other members').
func (h Host) withSelf(ctx context.Context) member.Options {
	o := h.Cluster
	urls := o.ClientURLs
	if len(urls) == 0 {
		urls, _ = member.DiscoverClientURLs(ctx, o)
	}
	o.ClientURLs = append(append([]string(nil), urls...), h.LocalEndpoint)
	return o
}

func findMember(c plan.Cluster, id uint64) (plan.Member, bool) {
	for _, m := range c.Members {
		if m.ID == id {
			return m, true
		}
	}
	return plan.Member{}, false
}

// refusal says why the leave must not go on, or "".
func (l *leaver) refusal(ctx context.Context) string {
	c, id := l.cluster, plan.HexID(l.id)
	switch {
	case !c.Quorum:
		return fmt.Sprintf("the cluster has no quorum (%s): no member can be removed now", clusterText(c))
	case !l.listed:
		l.say("member %s is not listed in the cluster %s (removed already)", id, plan.HexID(c.ClusterID))
		return ""
	case len(c.Members) == 1:
		return fmt.Sprintf("member %s is the last member of cluster %s: leaving would end the cluster", id, plan.HexID(c.ClusterID))
	}
	if why := quorumWithout(c, l.id); why != "" {
		return fmt.Sprintf("removing member %s would leave %s", id, why)
	}
	if why := l.starting(ctx); why != "" {
		return why
	}
	l.removeAt = healthyVoters(c, l.id)
	l.say("ok: member %s can leave cluster %s (%s)", id, plan.HexID(c.ClusterID), clusterText(c))
	return ""
}

// quorumWithout says how many healthy voters remain without member id when
// that is not a quorum of the voters that remain, and "" otherwise.
func quorumWithout(c plan.Cluster, id uint64) string {
	voters, healthy := 0, 0
	for _, m := range c.Members {
		if m.ID == id || m.IsLearner {
			continue
		}
		voters++
		if m.Healthy {
			healthy++
		}
	}
	if need := voters/2 + 1; voters == 0 || healthy < need {
		return fmt.Sprintf("%d healthy of %d voters (need %d)", healthy, voters, need)
	}
	return ""
}

// starting refuses a leave while the local member answers but is not ready
// yet: the service records the member once it is ready, and a leave must
// not race with that.
func (l *leaver) starting(ctx context.Context) string {
	hl, err := member.LocalHealth(ctx, l.h.LocalEndpoint, l.h.Local)
	if hl.MemberID == 0 || hl.Ready() {
		return ""
	}
	why := "not voting or not caught up"
	if err != nil {
		why = err.Error()
	}
	return fmt.Sprintf("this member is still starting (%s): leave once `systemctl status etcd-rejoin` says it runs", why)
}

func healthyVoters(c plan.Cluster, self uint64) []string {
	var out []string
	for _, m := range c.Members {
		if m.ID != self && m.Healthy && !m.IsLearner {
			out = append(out, m.ClientURLs...)
		}
	}
	return out
}

// record writes the leave into the state file before anything changes.
func (l *leaver) record() error {
	if l.mem.Left != nil {
		return nil
	}
	l.mem.Left = &plan.Left{At: l.h.now().UTC(), MemberID: l.id, ClusterID: l.cluster.ClusterID}
	if err := saveMemory(l.h.StateFile, l.mem); err != nil {
		return err
	}
	l.say("recorded the leave in %s: the service will not add this member again", l.h.StateFile)
	return nil
}

// remove removes the member through the healthy voters, holding the
// voter lock and checking the quorum again on the current member list.
func (l *leaver) remove(ctx context.Context) error {
	if !l.listed {
		return nil
	}
	cli, err := member.Dial(ctx, l.removeAt, l.h.Cluster)
	if err != nil {
		return fmt.Errorf("connect to the cluster: %w", err)
	}
	defer func() { _ = cli.Close() }()
	unlock, err := cli.Lock(ctx, voterLock)
	if err != nil {
		return err
	}
	defer unlock()
	if err := l.recheck(ctx, cli); err != nil {
		return err
	}
	if err := l.removeRetrying(ctx, cli); err != nil {
		return err
	}
	l.say("removed member %s from cluster %s", plan.HexID(l.id), plan.HexID(l.cluster.ClusterID))
	return nil
}

// removeRetrying removes the member, again for a while when etcd refuses
// because a voter has not been connected long enough (it wants every voter
// connected for 5 s, e.g. after a restart).
func (l *leaver) removeRetrying(ctx context.Context, cli *member.Client) error {
	deadline := time.Now().Add(unhealthyRetryFor)
	for said := false; ; said = true {
		err := cli.Remove(ctx, l.id)
		switch {
		case err == nil, errors.Is(err, member.ErrMemberNotFound):
			return nil
		case !errors.Is(err, member.ErrClusterUnhealthy) || time.Now().After(deadline):
			return err
		case !said:
			l.say("etcd refuses membership changes until every voter has been connected for a few seconds: retrying")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(unhealthyRetry):
		}
	}
}

// recheck: members added since the look count as voters that are not
// healthy (they have not been seen healthy).
func (l *leaver) recheck(ctx context.Context, cli *member.Client) error {
	members, err := cli.Members(ctx)
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	for _, m := range l.cluster.Members {
		seen[m.ID] = m.Healthy
	}
	c := l.cluster
	c.Members = nil
	for _, m := range members {
		m.Healthy = seen[m.ID]
		c.Members = append(c.Members, m)
	}
	if why := quorumWithout(c, l.id); why != "" {
		return fmt.Errorf("%w: the member list changed meanwhile: removing member %s would now leave %s",
			ErrRefused, plan.HexID(l.id), why)
	}
	return nil
}

// finish waits for the local etcd to stop, moves the data aside and makes
// sure the leave is still recorded.
func (l *leaver) finish(ctx context.Context) error {
	if err := l.waitStopped(ctx); err != nil {
		return err
	}
	moved, err := datadir.MoveAside(l.h.Layout, l.h.BackupDir, l.h.KeepBackups, l.h.now())
	if errors.Is(err, datadir.ErrPrune) {
		l.say("warning: %v", err)
	} else if err != nil {
		return err
	}
	if p := moved.Paths(); len(p) > 0 {
		l.say("moved the data aside to %s", strings.Join(p, " and "))
	}
	if err := l.keepRecord(); err != nil {
		return err
	}
	l.say("left: member %s is out of cluster %s. The service stays out: it waits, and `etcd-rejoin plan` and its status say so.",
		plan.HexID(l.id), plan.HexID(l.cluster.ClusterID))
	l.say("To stop it for good: systemctl disable --now etcd-rejoin. To come back: etcd-rejoin join")
	return nil
}

// waitStopped waits until nothing holds the data dir or answers at the
// local client URL.
func (l *leaver) waitStopped(ctx context.Context) error {
	limit := max(minStopWait, 2*l.h.StopTimeout)
	deadline := time.Now().Add(limit)
	said := false
	for {
		running := l.h.localEtcd(ctx)
		if running == "" {
			return nil
		}
		if !said {
			l.say("waiting for the local etcd to stop (%s)", running)
			said = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the local etcd still runs %s after the member was removed (%s): "+
				"stop the service (systemctl stop etcd-rejoin), then run `etcd-rejoin leave` again to finish", limit, running)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(stopPoll):
		}
	}
}

// keepRecord writes the leave again if the state file lost it meanwhile
// (the service rewrites the file when its member becomes ready).
func (l *leaver) keepRecord() error {
	mem, err := datadir.LoadMemory(l.h.StateFile)
	if err != nil {
		return err
	}
	if mem.Left != nil {
		return nil
	}
	mem.Left = l.mem.Left
	return saveMemory(l.h.StateFile, mem)
}

// Join clears a recorded leave, so that the service adds this member to the
// cluster again at its next look. Without a recorded leave it changes
// nothing.
func Join(h Host, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	mem, err := datadir.LoadMemory(h.StateFile)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if mem.Left == nil {
		fmt.Fprintf(out, "no leave is recorded in %s: nothing to do (the service rejoins by itself)\n", h.StateFile)
		return nil
	}
	left := mem.Left
	mem.Left = nil
	if err := saveMemory(h.StateFile, mem); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	fmt.Fprintf(out, "cleared the leave of member %s (%s) in %s.\n", plan.HexID(left.MemberID),
		left.At.UTC().Format(time.RFC3339), h.StateFile)
	fmt.Fprintf(out, "The service adds this member back at its next look (within %s); to look now: systemctl restart etcd-rejoin\n",
		h.WaitBackoffMax)
	return nil
}
