package service

import (
	"context"
	"sort"
	"strings"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/urlset"
)

// membership is what the service needs of the live cluster to change it:
// the seam where unit tests put a fake. *member.Client is the real one.
type membership interface {
	// Members is the current member list (proven current, see member).
	Members(ctx context.Context) ([]plan.Member, error)
	Remove(ctx context.Context, id uint64) error
	// Add returns the new entry and the member list right after the add.
	Add(ctx context.Context, peerURLs []string, learner bool) (plan.Member, []plan.Member, error)
	Update(ctx context.Context, id uint64, peerURLs []string) error
	Promote(ctx context.Context, id uint64) error
	// Lock takes a cluster-wide lock and returns its release.
	Lock(ctx context.Context, name string) (func(), error)
	// DisarmAlarms disarms the alarms of a removed member.
	DisarmAlarms(ctx context.Context, id uint64) ([]string, error)
	Close() error
}

var _ membership = (*member.Client)(nil)

// voterEndpoints lists the client URLs of the healthy voters other than
// this member: where membership requests go (a learner refuses them).
func voterEndpoints(c plan.Cluster, self []string) []string {
	var out []string
	for _, m := range c.Members {
		if !m.Healthy || m.IsLearner || urlset.Intersect(m.PeerURLs, self) {
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

// hasMember reports whether the list holds id.
// isLearner reports whether entry id of members is a learner.
func isLearner(members []plan.Member, id uint64) bool {
	for _, m := range members {
		if m.ID == id {
			return m.IsLearner
		}
	}
	return false
}

func hasMember(members []plan.Member, id uint64) bool {
	for _, m := range members {
		if m.ID == id {
			return true
		}
	}
	return false
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

// describeVoters names the voters that are not healthy, for STATUS.
func describeVoters(c plan.Cluster, skip []uint64) string {
	var out []string
	for _, m := range c.Members {
		if m.IsLearner || m.Healthy || containsID(skip, m.ID) {
			continue
		}
		name := m.Name
		if name == "" {
			name = "unstarted " + plan.HexID(m.ID)
		}
		out = append(out, name+" ("+strings.Join(m.PeerURLs, ",")+")")
	}
	return strings.Join(out, ", ")
}

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
