package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/etcdversion"
)

// Decide turns an observation into a plan. It is the whole decision table of
// etcd-rejoin; see the README for the table and decide_test.go for a named
// row per case.
func Decide(o Observation) Plan {
	p := decide(o)
	switch p.Action {
	case Restart, Join, Rejoin:
		if why := versionSkew(o); why != "" {
			return Plan{Action: Wait, Reason: why + "; not starting etcd"}
		}
	}
	return p
}

// versionSkew says why the local etcd may not run in the live cluster (etcd
// upgrades one minor release at a time and never runs below the cluster
// version), or "".
func versionSkew(o Observation) string {
	local, err1 := etcdversion.Parse(o.LocalVersion)
	cluster, err2 := etcdversion.Parse(o.Cluster.Version)
	if err1 != nil || err2 != nil {
		return ""
	}
	return etcdversion.Skew(local, cluster)
}

func decide(o Observation) Plan {
	if l := o.Memory.Left; l != nil {
		return Plan{Action: Wait, Reason: fmt.Sprintf("left the cluster on %s (member %s of cluster %s); run `etcd-rejoin join` to come back",
			l.At.UTC().Format(time.RFC3339), HexID(l.MemberID), HexID(l.ClusterID))}
	}
	if c := o.Cluster; c.AuthError != "" {
		return Plan{Action: Wait, Reason: "etcd refuses etcd-rejoin's credentials (" + c.AuthError + "): check client-auth " +
			"(a user with the root role and its password file) or the client certificate's CN; nothing is changed meanwhile"}
	}
	if c := o.Cluster; c.Conflict != "" {
		return Plan{Action: Wait, Reason: "members of more than one cluster answer (" + c.Conflict + "); not acting on a guess"}
	}
	if r := o.Memory.Recovered; r != nil && o.Data.Kind == DataPresent && o.Data.ClusterID == r.ClusterID {
		return Plan{Action: Restart, Reason: fmt.Sprintf(
			"recovered on %s from %s as the new cluster %s: starting on the recovered data; the other hosts rejoin it",
			r.At.UTC().Format(time.RFC3339), r.From, HexID(r.ClusterID))}
	}
	switch o.Data.Kind {
	case DataPresent:
		return decideWithData(o)
	case DataUnreadable:
		return decideUnusable(o, "the data dir is not usable ("+o.Data.Detail+")")
	default:
		return decideWithoutData(o)
	}
}

// decideWithData: this member's data is never moved while there is no
// quorum, since it may be the copy the cluster needs to get quorum back.
func decideWithData(o Observation) Plan {
	c := o.Cluster
	id := HexID(o.Data.MemberID)
	switch {
	case !c.Reachable:
		return Plan{Action: Restart, Reason: fmt.Sprintf("local data of member %s present; no peer answered, starting on it", id)}
	case c.ClusterID != 0 && c.ClusterID != o.Data.ClusterID:
		return decideUnusable(o, fmt.Sprintf("the data dir belongs to cluster %s, the live cluster is %s",
			HexID(o.Data.ClusterID), HexID(c.ClusterID)))
	}
	if k := o.Memory.Corrupt; k != nil && k.MemberID == o.Data.MemberID {
		if k.Why != "" {
			return decideUnusable(o, fmt.Sprintf("etcd exited at every start on the data of member %s (%s, %s)",
				id, k.Why, k.At.UTC().Format(time.RFC3339)))
		}
		return decideUnusable(o, fmt.Sprintf("etcd raised its CORRUPT alarm against member %s on %s: its data differs from the cluster's",
			id, k.At.UTC().Format(time.RFC3339)))
	}
	if m, ok := c.member(o.Data.MemberID); ok {
		return decideListed(o, m)
	}
	if !c.Quorum {
		return Plan{Action: Restart, Reason: fmt.Sprintf(
			"local data of member %s present; the cluster does not list it but has no quorum to say so, starting on it", id)}
	}
	return decideUnusable(o, fmt.Sprintf("the healthy cluster %s no longer lists member %s", HexID(c.ClusterID), id))
}

// decideListed: the live cluster lists the member the local data belongs
// to. It is this host's unless another host's entry owns it or another live
// process already serves it: then the data is a copy (a cloned disk image,
// a restored VM) and starting on it would put a second etcd on one raft ID.
func decideListed(o Observation, m Member) Plan {
	id := HexID(m.ID)
	if !ownsEntry(o, m) {
		return decideUnusable(o, fmt.Sprintf("the data dir holds member %s, which the cluster lists as %s: "+
			"a copy of another host's member, not this host's (%s %s)", id, describe(m), o.Self.Name, strings.Join(o.Self.PeerURLs, ",")))
	}
	if m.Healthy {
		return decideUnusable(o, fmt.Sprintf("the data dir holds member %s, but another etcd process already serves "+
			"that member at %s while this host's etcd is down: this data is a copy", id, strings.Join(m.ClientURLs, ",")))
	}
	p := Plan{Action: Restart, Existing: &m,
		Reason: fmt.Sprintf("local data of member %s present and the cluster lists it%s", id, learnerNote(m))}
	if !o.Aliases.Equal(m.PeerURLs, o.Self.PeerURLs) {
		if o.Cluster.Quorum {
			p.UpdatePeerURLs = true
			p.Reason += fmt.Sprintf("; its entry lists peer URLs %s: update them to %s first",
				strings.Join(m.PeerURLs, ","), strings.Join(o.Self.PeerURLs, ","))
		} else {
			p.Reason += fmt.Sprintf("; its entry lists peer URLs %s, which cannot be updated to %s without quorum",
				strings.Join(m.PeerURLs, ","), strings.Join(o.Self.PeerURLs, ","))
		}
	}
	return p
}

// ownsEntry: the entry stands for this host when it carries this host's
// name, no name yet, or one of its peer URLs. An entry with another name
// and other peer URLs is another host's member.
func ownsEntry(o Observation, m Member) bool {
	return m.Name == "" || m.Name == o.Self.Name || sharesPeerURL(o, m)
}

func learnerNote(m Member) string {
	if m.IsLearner {
		return " as a learner; it will be promoted once caught up"
	}
	return ""
}

// decideUnusable handles local data that must go (another cluster's, a
// removed member's, unreadable): only a healthy cluster may justify it.
func decideUnusable(o Observation, why string) Plan {
	if !o.Cluster.Quorum {
		return Plan{Action: Wait, Reason: why + "; the cluster has no quorum (" + clusterSummary(o.Cluster) + "), not touching the data"}
	}
	var p Plan
	if m, ok := unstartedSelf(o); ok {
		mm := m
		p = Plan{Action: Join, Existing: &mm, Reason: fmt.Sprintf(
			"%s; the cluster lists this member's peer URL as %s, added but never started: move the data aside and join", why, HexID(m.ID))}
	} else {
		p = replace(o, why)
	}
	if p.Action != Wait {
		p.MoveDataAside = true
	}
	return p
}

// decideWithoutData: no local data.
func decideWithoutData(o Observation) Plan {
	c := o.Cluster
	switch {
	case c.Quorum:
		if m, ok := unstartedSelf(o); ok {
			mm := m
			return Plan{Action: Join, Existing: &mm, Reason: fmt.Sprintf(
				"no local data; the cluster lists this member's peer URL as %s, added but never started%s", HexID(m.ID), learnerNote(m))}
		}
		return replace(o, "no local data")
	case c.Formed():
		return Plan{Action: Wait, Reason: "no local data and the cluster exists but has no quorum (" + clusterSummary(c) + ")"}
	case o.Memory.Known():
		return Plan{Action: Wait, Reason: fmt.Sprintf(
			"no local data, but %s and %s; refusing to bootstrap a second cluster (if that cluster is gone for good, "+
				"`etcd-rejoin recover` or removing the state file starts anew)", o.Memory.past(), reachSummary(c))}
	case c.Reachable:
		return Plan{Action: Bootstrap, Reason: "no local data and the peers that answered have never formed a cluster (no member started)"}
	default:
		return Plan{Action: Bootstrap, Reason: "no local data, no record of an earlier member, and no peer answered: first start of a new cluster"}
	}
}

func reachSummary(c Cluster) string {
	if !c.Reachable {
		return "no peer answered"
	}
	return "the peers have no quorum"
}

// replace builds a rejoin: remove every stale entry of this member (same name
// or same peer URL), then add it again. The cluster has quorum here.
func replace(o Observation, why string) Plan {
	c := o.Cluster
	stale := staleEntries(o)
	for _, m := range stale {
		if m.Healthy {
			return Plan{Action: Wait, Reason: fmt.Sprintf(
				"%s, but member %s (%s) with this member's name or peer URL is healthy: another etcd runs as this member",
				why, HexID(m.ID), describe(m))}
		}
	}
	if ok, left := quorumAfter(c, stale, 0); !ok {
		return Plan{Action: Wait, Reason: fmt.Sprintf(
			"%s; removing the stale entry would leave %s, not a quorum", why, left)}
	}
	if ok, left := quorumAfter(c, stale, 1); !o.Learner && !ok {
		return Plan{Action: Wait, Reason: fmt.Sprintf(
			"%s; adding this member as a voter before it has started would leave %s, not a quorum (enable learner)", why, left)}
	}
	p := Plan{Action: Rejoin, AsLearner: o.Learner}
	var removed []string
	for _, m := range stale {
		p.Remove = append(p.Remove, m.ID)
		removed = append(removed, HexID(m.ID))
	}
	if len(removed) > 0 {
		p.Reason = fmt.Sprintf("%s; the healthy cluster still lists stale entry %s: remove it and add this member again", why, strings.Join(removed, ", "))
	} else {
		p.Reason = fmt.Sprintf("%s; the healthy cluster does not list this member: add it", why)
	}
	if p.AsLearner {
		p.Reason += " as a learner"
	}
	return p
}

// quorumAfter reports whether a quorum of healthy voters remains once the
// given members are gone and `added` voters that have not started yet joined.
func quorumAfter(c Cluster, gone []Member, added int) (bool, string) {
	drop := map[uint64]bool{}
	for _, m := range gone {
		drop[m.ID] = true
	}
	voters, healthy := 0, 0
	for _, m := range c.Members {
		if m.IsLearner || drop[m.ID] {
			continue
		}
		voters++
		if m.Healthy {
			healthy++
		}
	}
	voters += added
	need := voters/2 + 1
	return healthy >= need, fmt.Sprintf("%d healthy of %d voters (need %d)", healthy, voters, need)
}

// staleEntries are the live entries that stand for this member: same name, a
// peer URL in common, or the unstarted entry this host recorded adding for
// itself (an interrupted rejoin at an old address). Ordered by ID for
// determinism.
func staleEntries(o Observation) []Member {
	var out []Member
	for _, m := range o.Cluster.Members {
		if isSelf(o, m) || addedByThisHost(o, m) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func isSelf(o Observation, m Member) bool {
	if m.Name != "" && m.Name == o.Self.Name {
		return true
	}
	return sharesPeerURL(o, m)
}

func sharesPeerURL(o Observation, m Member) bool {
	return o.Aliases.Intersect(o.Self.PeerURLs, m.PeerURLs)
}

// addedByThisHost: the entry is the one the state file records this host
// adding (same ID, cluster and peer URLs) and it never started, so nobody
// runs it.
func addedByThisHost(o Observation, m Member) bool {
	a := o.Memory.Added
	return a != nil && a.ID == m.ID && !m.Started() && o.Aliases.Equal(a.PeerURLs, m.PeerURLs) &&
		(a.ClusterID == 0 || a.ClusterID == o.Cluster.ClusterID)
}

// unstartedSelf finds an entry that was added for exactly this member's peer
// URLs and never started: it can be joined without changing the membership.
func unstartedSelf(o Observation) (Member, bool) {
	for _, m := range o.Cluster.Members {
		if m.Started() || !o.Aliases.Equal(m.PeerURLs, o.Self.PeerURLs) {
			continue
		}
		if m.Name != "" && m.Name != o.Self.Name {
			continue
		}
		return m, true
	}
	return Member{}, false
}

func (c Cluster) member(id uint64) (Member, bool) {
	for _, m := range c.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func describe(m Member) string {
	name := m.Name
	if name == "" {
		name = "unnamed"
	}
	return name + " " + strings.Join(m.PeerURLs, ",")
}

func clusterSummary(c Cluster) string {
	if !c.Reachable {
		return "no peer answered"
	}
	voters, healthy := c.Voters()
	return fmt.Sprintf("%d healthy of %d voters", healthy, voters)
}
