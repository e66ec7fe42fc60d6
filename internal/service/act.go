package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/failpoint"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// errLookAgain means a membership step did not go through (another member is
// joining, an entry appeared, the cluster refused the change for now): the
// service observes again after a pause instead of giving up.
type errLookAgain struct {
	why string
	err error
	// soon: the cluster refused a change only for a few seconds (etcd wants
	// every voter connected for 5 s after a change): look again shortly
	// instead of backing off, for the first few tries.
	soon bool
}

func (e *errLookAgain) Error() string { return e.why }
func (e *errLookAgain) Unwrap() error { return e.err }

func lookAgain(err error) error {
	return &errLookAgain{why: err.Error(), err: err, soon: errors.Is(err, member.ErrClusterUnhealthy)}
}

// launch is what etcd is started with once the plan's membership steps are
// done.
type launch struct {
	state          string // initial-cluster-state: new or existing
	initialCluster string // rebuilt from the live list when joining; "" keeps the configured one
	memberID       uint64 // the member it starts as, when known
	endpoints      []string
	joining        bool      // a member without data joining the live cluster
	learner        bool      // it starts as a learner entry, to be promoted
	since          time.Time // when the first etcd of this start was launched
	// quorum: the cluster had a quorum when this start was decided;
	// clusterID is the cluster the member belongs to (0: a new one).
	quorum    bool
	clusterID uint64
}

// voterLock is the cluster-wide lock around adding a voter, so that hosts
// adding voters at the same time (learner = false) re-check the quorum one
// after the other.
const voterLock = "add-voter"

// act carries out the membership steps of a plan. Every step is safe to
// crash in: the next start observes again and converges.
func (s *Service) act(ctx context.Context, obs plan.Observation, p plan.Plan) (launch, error) {
	l, err := s.actions(ctx, obs, p)
	l.quorum = obs.Cluster.Quorum
	if l.clusterID = obs.Cluster.ClusterID; p.Action == plan.Restart {
		l.clusterID = obs.Data.ClusterID
	}
	return l, err
}

func (s *Service) actions(ctx context.Context, obs plan.Observation, p plan.Plan) (launch, error) {
	endpoints := voterEndpoints(obs.Cluster, s.cfg.PeerURLs)
	switch p.Action {
	case plan.Bootstrap:
		return launch{state: "new"}, nil
	case plan.Restart:
		return s.restart(ctx, obs, p, endpoints)
	}
	if p.MoveDataAside {
		if err := s.moveAside(); err != nil {
			return launch{}, err
		}
	}
	if p.Action == plan.Join {
		return s.join(ctx, p, endpoints)
	}
	return s.replace(ctx, obs, p, endpoints)
}

// restart starts on the data that is there, first pointing the live entry
// at this host's peer URLs when it came back at a new address.
func (s *Service) restart(ctx context.Context, obs plan.Observation, p plan.Plan, endpoints []string) (launch, error) {
	l := launch{state: "existing", endpoints: endpoints, memberID: obs.Data.MemberID}
	if !p.UpdatePeerURLs || p.Existing == nil {
		return l, nil
	}
	err := s.withCluster(ctx, endpoints, func(cli membership) error {
		if err := cli.Update(ctx, p.Existing.ID, s.cfg.PeerURLs); err != nil {
			return lookAgain(err)
		}
		return nil
	})
	if err != nil {
		return launch{}, err
	}
	s.status(fmt.Sprintf("restart: peer URLs of member %s updated to %s", plan.HexID(p.Existing.ID),
		strings.Join(s.cfg.PeerURLs, ",")))
	return l, nil
}

// moveAside moves the data (and wal-dir) aside. A failure to prune older
// copies after a good move is only a warning: the move itself happened.
func (s *Service) moveAside() error {
	moved, err := datadir.MoveAside(s.layout(), s.cfg.BackupDir, s.cfg.KeepBackups, s.now())
	switch {
	case errors.Is(err, datadir.ErrPrune):
		s.log.Warn("data moved aside, but older copies could not all be removed", "err", err)
	case err != nil:
		return fmt.Errorf("move data dir %s aside: %w", s.cfg.DataDir, err)
	}
	if paths := moved.Paths(); len(paths) > 0 {
		s.status(fmt.Sprintf("moved the data aside (%s) to %s", moved.Kind, strings.Join(paths, ", ")))
	}
	failpoint.Hit(failpoint.AfterMoveAside)
	return nil
}

// withCluster dials the endpoints and runs f; a cluster that cannot be
// reached is a reason to look again.
func (s *Service) withCluster(ctx context.Context, endpoints []string, f func(membership) error) error {
	cli, err := s.dial(ctx, endpoints)
	if err != nil {
		return lookAgain(fmt.Errorf("connect to the cluster at %s: %w", strings.Join(endpoints, ","), err))
	}
	defer func() { _ = cli.Close() }()
	return f(cli)
}

// join starts as the unstarted entry that waits for this host. etcd refuses
// to start as an existing member unless its initial cluster matches the live
// list exactly, so the list is read, current, right before etcd starts.
func (s *Service) join(ctx context.Context, p plan.Plan, endpoints []string) (launch, error) {
	var l launch
	err := s.withCluster(ctx, endpoints, func(cli membership) error {
		members, err := cli.Members(ctx)
		if err != nil {
			return lookAgain(err)
		}
		if !hasMember(members, p.Existing.ID) {
			return &errLookAgain{why: fmt.Sprintf("the entry %s to join is no longer listed", plan.HexID(p.Existing.ID))}
		}
		l = s.existing(members, p.Existing.ID, endpoints)
		return nil
	})
	return l, err
}

// existing is the launch of a member without data as entry id of members.
func (s *Service) existing(members []plan.Member, id uint64, endpoints []string) launch {
	return launch{
		state:          "existing",
		initialCluster: InitialCluster(members, id, s.cfg.Name),
		memberID:       id,
		endpoints:      endpoints,
		joining:        true,
		learner:        isLearner(members, id),
	}
}

// replace removes the stale entries and adds this member.
func (s *Service) replace(ctx context.Context, obs plan.Observation, p plan.Plan, endpoints []string) (launch, error) {
	var l launch
	err := s.withCluster(ctx, endpoints, func(cli membership) error {
		if err := s.removeStale(ctx, cli, p.Remove); err != nil {
			return err
		}
		added, members, err := s.add(ctx, cli, obs, p)
		if err != nil {
			return err
		}
		l = s.existing(members, added.ID, endpoints)
		s.metrics.Rejoined()
		return nil
	})
	return l, err
}

func (s *Service) removeStale(ctx context.Context, cli membership, ids []uint64) error {
	for _, id := range ids {
		err := cli.Remove(ctx, id)
		switch {
		case errors.Is(err, member.ErrMemberNotFound):
			s.log.Info("stale member already gone", "member", plan.HexID(id))
		case err != nil:
			return lookAgain(fmt.Errorf("remove stale member %s: %w", plan.HexID(id), err))
		default:
			s.status("rejoining: removed stale member "+plan.HexID(id), "member", plan.HexID(id))
		}
		failpoint.Hit(failpoint.AfterRemove)
		s.disarm(ctx, cli, id)
	}
	return nil
}

// add adds this member and returns it with a member list that holds it. The
// list is the add's own answer: a fresh read could be served by a member
// that has not applied the add yet (etcd 3.4 serves MemberList from the
// answering member's applied state) and etcd then refuses to start
// ("couldn't find local name ... in the initial cluster configuration").
// Before etcd starts, the entry is recorded as this host's in the state
// file, so that an interrupted rejoin's entry can be recognised later.
func (s *Service) add(ctx context.Context, cli membership, obs plan.Observation, p plan.Plan) (plan.Member, []plan.Member, error) {
	if !p.AsLearner {
		unlock, err := s.voterGuard(ctx, cli, obs, p.Remove)
		if err != nil {
			return plan.Member{}, nil, err
		}
		defer unlock()
	}
	added, members, err := cli.Add(ctx, s.cfg.PeerURLs, p.AsLearner)
	if err != nil {
		return plan.Member{}, nil, s.addRefused(obs, p, err)
	}
	failpoint.Hit(failpoint.AfterAdd)
	kind := "voter"
	if added.IsLearner {
		kind = "learner"
	}
	s.status(fmt.Sprintf("rejoining: added as %s %s; starting etcd", kind, plan.HexID(added.ID)), "member", plan.HexID(added.ID))
	if !hasMember(members, added.ID) {
		if members, err = cli.Members(ctx); err != nil || !hasMember(members, added.ID) {
			return plan.Member{}, nil, &errLookAgain{why: fmt.Sprintf(
				"added member %s, but no current member list holds it yet (%v); looking again", plan.HexID(added.ID), err)}
		}
	}
	mem := obs.Memory
	mem.Added = &plan.Added{ID: added.ID, ClusterID: obs.Cluster.ClusterID, PeerURLs: s.cfg.PeerURLs}
	s.remember(mem)
	return added, members, nil
}

// disarm clears the alarms of a member that is gone; a failure is only
// logged (the alarm stays for an operator to disarm).
func (s *Service) disarm(ctx context.Context, cli membership, id uint64) {
	names, err := cli.DisarmAlarms(ctx, id)
	if err != nil {
		s.log.Warn("cannot disarm the alarms of removed member "+plan.HexID(id), "err", err)
	}
	if len(names) > 0 {
		s.status(fmt.Sprintf("rejoining: disarmed %s of removed member %s", strings.Join(names, ", "), plan.HexID(id)))
	}
}

// addRefused turns etcd's refusal of an add into a reason to look again.
func (s *Service) addRefused(obs plan.Observation, p plan.Plan, err error) error {
	switch {
	case errors.Is(err, member.ErrTooManyLearners):
		return &errLookAgain{why: "another member is joining as a learner; waiting for its promotion", err: err}
	case errors.Is(err, member.ErrPeerURLExists):
		return &errLookAgain{why: "an entry with this member's peer URL appeared meanwhile", err: err}
	case errors.Is(err, member.ErrClusterUnhealthy):
		why := "etcd refuses to add a member until every voter has been connected to the leader for a while"
		if down := describeVoters(obs.Cluster, p.Remove); down != "" {
			why += "; not healthy: " + down
		}
		return &errLookAgain{why: why, err: err, soon: true}
	}
	return lookAgain(fmt.Errorf("add this member (%s): %w", strings.Join(s.cfg.PeerURLs, ","), err))
}

// voterGuard takes the cluster-wide voter lock and checks, against the
// current member list, that one more voter that has not started yet still
// leaves a quorum of healthy voters: hosts that decided at the same time
// each saw a cluster without the others' additions.
func (s *Service) voterGuard(ctx context.Context, cli membership, obs plan.Observation, removed []uint64) (func(), error) {
	unlock, err := cli.Lock(ctx, voterLock)
	if err != nil {
		return nil, lookAgain(err)
	}
	members, err := cli.Members(ctx)
	if err != nil {
		unlock()
		return nil, lookAgain(err)
	}
	healthy := map[uint64]bool{}
	for _, m := range obs.Cluster.Members {
		healthy[m.ID] = m.Healthy && !containsID(removed, m.ID)
	}
	voters, up := 1, 0 // this member, not started yet
	for _, m := range members {
		if m.IsLearner {
			continue
		}
		voters++
		if healthy[m.ID] {
			up++
		}
	}
	if need := voters/2 + 1; up < need {
		unlock()
		return nil, &errLookAgain{why: fmt.Sprintf(
			"adding this member as a voter now would leave %d healthy of %d voters (need %d); other members are joining", up, voters, need)}
	}
	return unlock, nil
}

// rememberSeen records a formed cluster seen by a host that has no record
// of one: from then on it never bootstraps a new cluster while it has no
// data, even in the seconds in which nobody answers (the survivor of a
// majority that lost its disks restarting while the others wait).
func (s *Service) rememberSeen(obs plan.Observation) {
	c := obs.Cluster
	if obs.Memory.Known() || !c.Formed() || c.ClusterID == 0 || c.Conflict != "" {
		return
	}
	mem := obs.Memory
	mem.Seen = &plan.Seen{At: s.now(), ClusterID: c.ClusterID}
	s.log.Info("recorded that cluster "+plan.HexID(c.ClusterID)+" exists: this host will not bootstrap a new one", "state_file", s.cfg.StateFile)
	s.remember(mem)
}

// remember writes the state file; a failure is logged, never fatal.
func (s *Service) remember(m plan.Memory) {
	if err := datadir.SaveMemory(s.cfg.StateFile, m); err != nil {
		s.log.Warn("cannot write the state file", "path", s.cfg.StateFile, "err", err)
	}
}
