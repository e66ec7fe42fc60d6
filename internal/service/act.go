package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
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
	// instead of backing off.
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
	memberID       uint64 // the live entry it starts as, when known
	endpoints      []string
	joining        bool // a member without data joining the live cluster
}

// act carries out the membership steps of a plan. Every step is safe to
// crash in: the next start observes again and converges.
func (s *Service) act(ctx context.Context, obs plan.Observation, p plan.Plan) (launch, error) {
	endpoints := healthyEndpoints(obs.Cluster, s.cfg.PeerURLs)
	switch p.Action {
	case plan.Bootstrap:
		return launch{state: "new"}, nil
	case plan.Restart:
		l := launch{state: "existing", endpoints: endpoints}
		if p.Existing != nil {
			l.memberID = p.Existing.ID
		}
		return l, nil
	}
	if p.MoveDataAside {
		dest, err := datadir.MoveAside(s.cfg.DataDir, s.cfg.BackupDir, s.cfg.KeepBackups, s.now())
		if err != nil {
			return launch{}, fmt.Errorf("move data dir aside: %w", err)
		}
		s.status("moved data dir aside", "from", s.cfg.DataDir, "to", dest)
	}
	if p.Action == plan.Join {
		members, err := s.liveMembers(ctx, endpoints)
		if err != nil {
			return launch{}, err
		}
		return launch{
			state:          "existing",
			initialCluster: InitialCluster(members, p.Existing.ID, s.cfg.Name),
			memberID:       p.Existing.ID,
			endpoints:      endpoints,
			joining:        true,
		}, nil
	}
	return s.replace(ctx, p, endpoints)
}

// liveMembers reads the member list (linearizable) right before etcd starts:
// etcd refuses to start as an existing member unless its initial cluster
// matches the live list exactly, and other members may be joining too.
func (s *Service) liveMembers(ctx context.Context, endpoints []string) ([]plan.Member, error) {
	cli, err := member.Dial(ctx, endpoints, s.memberOptions())
	if err != nil {
		return nil, lookAgain(fmt.Errorf("connect to the cluster at %s: %w", strings.Join(endpoints, ","), err))
	}
	defer cli.Close()
	members, err := cli.Members(ctx)
	if err != nil {
		return nil, lookAgain(err)
	}
	return members, nil
}

// replace removes the stale entries and adds this member.
func (s *Service) replace(ctx context.Context, p plan.Plan, endpoints []string) (launch, error) {
	cli, err := member.Dial(ctx, endpoints, s.memberOptions())
	if err != nil {
		return launch{}, lookAgain(fmt.Errorf("connect to the cluster at %s: %w", strings.Join(endpoints, ","), err))
	}
	defer cli.Close()
	for _, id := range p.Remove {
		err := cli.Remove(ctx, id)
		switch {
		case errors.Is(err, member.ErrMemberNotFound):
			s.log.Info("stale member already gone", "member", plan.HexID(id))
		case err != nil:
			return launch{}, lookAgain(fmt.Errorf("remove stale member %s: %w", plan.HexID(id), err))
		default:
			s.status("rejoining: removed stale member "+plan.HexID(id), "member", plan.HexID(id))
		}
	}
	added, _, err := cli.Add(ctx, s.cfg.PeerURLs, p.AsLearner)
	switch {
	case errors.Is(err, member.ErrTooManyLearners):
		return launch{}, &errLookAgain{why: "another member is joining as a learner; waiting for its promotion", err: err}
	case errors.Is(err, member.ErrPeerURLExists):
		return launch{}, &errLookAgain{why: "an entry with this member's peer URL appeared meanwhile", err: err}
	case err != nil:
		return launch{}, lookAgain(fmt.Errorf("add this member (%s): %w", strings.Join(s.cfg.PeerURLs, ","), err))
	}
	kind := "voter"
	if added.IsLearner {
		kind = "learner"
	}
	s.status(fmt.Sprintf("rejoining: added as %s %s; starting etcd", kind, plan.HexID(added.ID)), "member", plan.HexID(added.ID))
	members, err := cli.Members(ctx)
	if err != nil {
		return launch{}, lookAgain(err)
	}
	return launch{
		state:          "existing",
		initialCluster: InitialCluster(members, added.ID, s.cfg.Name),
		memberID:       added.ID,
		endpoints:      endpoints,
		joining:        true,
	}, nil
}

// healthyEndpoints lists the client URLs of the healthy members other than
// this one: where membership requests go.
func healthyEndpoints(c plan.Cluster, self []string) []string {
	mine := map[string]bool{}
	for _, u := range self {
		mine[u] = true
	}
	var out []string
	for _, m := range c.Members {
		if !m.Healthy || (len(m.PeerURLs) > 0 && mine[m.PeerURLs[0]]) {
			continue
		}
		out = append(out, m.ClientURLs...)
	}
	sort.Strings(out)
	return out
}

// InitialCluster renders --initial-cluster for starting as an existing
// member: every live entry, this member under its own name, other members
// that have not started yet under a placeholder name (etcd matches them by
// peer URL). Sorted, deterministic.
func InitialCluster(members []plan.Member, selfID uint64, selfName string) string {
	var parts []string
	for _, m := range members {
		name := m.Name
		switch {
		case m.ID == selfID:
			name = selfName
		case name == "":
			name = "unstarted-" + plan.HexID(m.ID)
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// settings renders etcd's environment settings for a launch: the configured
// flags, the decided initial-cluster-state, and the rebuilt initial cluster.
func settings(cfg *config.Config, l launch) map[string]string {
	out := make(map[string]string, len(cfg.Etcd)+2)
	for flag, v := range cfg.Etcd {
		out[config.EnvName(flag)] = v
	}
	out[config.EnvName("initial-cluster-state")] = l.state
	if l.initialCluster != "" {
		out[config.EnvName("initial-cluster")] = l.initialCluster
	}
	return out
}
