// Package plan turns what etcd-rejoin observed (the local data dir, its own
// state file and the live cluster) into one action with a reason. It is pure:
// no I/O, no clocks, no etcd client.
package plan

import (
	"fmt"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/urlset"
)

// Action is what etcd-rejoin does before it starts etcd.
type Action string

// The actions of the decision table.
const (
	Bootstrap Action = "bootstrap" // start etcd with initial-cluster-state=new
	Restart   Action = "restart"   // start etcd on the data that is there
	Join      Action = "join"      // start existing; the live list already holds this member, unstarted
	Rejoin    Action = "rejoin"    // move data aside, replace the stale entry, add, start existing
	Wait      Action = "wait"      // touch nothing; look again later
)

// DataKind says what the local data dir holds.
type DataKind string

// Kinds of local data.
const (
	DataNone       DataKind = "none"       // missing, empty, or holding no WAL
	DataPresent    DataKind = "present"    // a readable WAL with member and cluster ID
	DataUnreadable DataKind = "unreadable" // something is there but it is not a usable etcd data dir
)

// LocalData is what the local data dir holds.
type LocalData struct {
	Kind      DataKind `json:"kind"`
	MemberID  uint64   `json:"member_id,omitempty"`
	ClusterID uint64   `json:"cluster_id,omitempty"`
	Detail    string   `json:"detail,omitempty"` // why it is unreadable
}

// Member is one entry of the live member list.
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls,omitempty"`
	IsLearner  bool     `json:"is_learner,omitempty"`
	Healthy    bool     `json:"healthy"` // answered a status request and sees a leader
}

// Started reports whether the member has ever started: a started member has
// published its client URLs.
func (m Member) Started() bool { return len(m.ClientURLs) > 0 }

// Cluster is what the reachable members said about the live cluster.
type Cluster struct {
	// Reachable is true when at least one member answered.
	Reachable bool `json:"reachable"`
	// ClusterID as reported by the members that answered (0 if none).
	ClusterID uint64 `json:"cluster_id,omitempty"`
	// Members is the live member list.
	Members []Member `json:"members,omitempty"`
	// Quorum is true when a leader exists and a quorum read succeeded.
	Quorum bool `json:"quorum"`
	// Errors holds one line per endpoint that did not answer.
	Errors []string `json:"errors,omitempty"`
	// Conflict, when set, says that members of more than one cluster
	// answered with a leader: nothing can be decided safely.
	Conflict string `json:"conflict,omitempty"`
	// Version is the cluster version etcd decided ("3.5.0"); "" unknown.
	Version string `json:"version,omitempty"`
	// AuthError, when set, says that members answered but refused
	// etcd-rejoin's credentials (etcd auth is on): a cluster exists, and
	// nothing can be decided until the credentials are fixed.
	AuthError string `json:"auth_error,omitempty"`
}

// Voters returns how many voting members the cluster has, and how many of
// them are healthy.
func (c Cluster) Voters() (total, healthy int) {
	for _, m := range c.Members {
		if m.IsLearner {
			continue
		}
		total++
		if m.Healthy {
			healthy++
		}
	}
	return total, healthy
}

// Formed reports whether any member of the live cluster ever started, which
// means the cluster exists and a new one must not be bootstrapped.
func (c Cluster) Formed() bool {
	if c.Quorum {
		return true
	}
	for _, m := range c.Members {
		if m.Started() {
			return true
		}
	}
	return false
}

// Memory is etcd-rejoin's own state file, kept outside the data dir: the
// member and cluster ID this host had once its member was healthy, and the
// entry it added for itself before etcd first started on it.
type Memory struct {
	MemberID  uint64 `json:"member_id,omitempty"`
	ClusterID uint64 `json:"cluster_id,omitempty"`
	// Added is the entry this host added to the live cluster, recorded
	// before etcd was started on it: an entry left unstarted by an
	// interrupted rejoin is then provably this host's.
	Added *Added `json:"added,omitempty"`
	// Left is set when this host left the cluster on purpose (etcd-rejoin
	// leave): the service then never adds it again until `join` clears it.
	Left *Left `json:"left,omitempty"`
	// Corrupt is set when etcd raised its CORRUPT alarm against this host's
	// member, or exited on its data at every start: that data is moved
	// aside (with a quorum) instead of being started again.
	Corrupt *Corrupt `json:"corrupt,omitempty"`
	// Recovered is set when `recover` made the local data a new one-member
	// cluster after a lost quorum: the service starts on that data whatever
	// the old members say, until the member has been healthy once.
	Recovered *Recovered `json:"recovered,omitempty"`
	// Seen is set when this host, holding no member of its own, saw the
	// cluster formed: it then never bootstraps a new one, even in the
	// seconds nobody answers (a survivor restarting while the others have
	// lost their disks).
	Seen *Seen `json:"seen,omitempty"`
}

// Seen records a formed cluster this host saw while it had no member.
type Seen struct {
	At        time.Time `json:"at"`
	ClusterID uint64    `json:"cluster_id"`
}

// Left records a deliberate leave.
type Left struct {
	At        time.Time `json:"at"`
	MemberID  uint64    `json:"member_id"`
	ClusterID uint64    `json:"cluster_id"`
}

// Corrupt records etcd's CORRUPT alarm against this host's member, or
// etcd failing on that member's data at every start.
type Corrupt struct {
	At       time.Time `json:"at"`
	MemberID uint64    `json:"member_id"`
	// Why is what etcd said of the data when it failed on it; "" for the
	// CORRUPT alarm.
	Why string `json:"why,omitempty"`
}

// Recovered records a recovery after a lost quorum.
type Recovered struct {
	At        time.Time `json:"at"`
	ClusterID uint64    `json:"cluster_id"` // the new cluster's ID
	From      string    `json:"from"`       // the snapshot file, or "local data"
}

// Added is a member entry this host added for itself.
type Added struct {
	ID        uint64   `json:"id"`
	ClusterID uint64   `json:"cluster_id"`
	PeerURLs  []string `json:"peer_urls"`
}

// Known reports whether the state file records that this host was, or was
// being added as, a member of some cluster, or saw one formed.
func (m Memory) Known() bool {
	return m.MemberID != 0 || m.ClusterID != 0 || m.Added != nil || m.Left != nil || m.Recovered != nil || m.Seen != nil
}

// past says what the state file records of this host's past in a cluster.
func (m Memory) past() string {
	switch {
	case m.MemberID != 0 || m.ClusterID != 0:
		return fmt.Sprintf("this host was member %s of cluster %s", HexID(m.MemberID), HexID(m.ClusterID))
	case m.Added != nil:
		return fmt.Sprintf("this host was being added as member %s of cluster %s", HexID(m.Added.ID), HexID(m.Added.ClusterID))
	case m.Recovered != nil:
		return fmt.Sprintf("this host recovered cluster %s", HexID(m.Recovered.ClusterID))
	case m.Seen != nil:
		return fmt.Sprintf("this host saw cluster %s formed on %s", HexID(m.Seen.ClusterID), m.Seen.At.UTC().Format(time.RFC3339))
	}
	return "this host was a member"
}

// Self is the member this host runs, as configured.
type Self struct {
	Name     string   `json:"name"`
	PeerURLs []string `json:"peer_urls"`
}

// Observation gathers everything the decision needs.
type Observation struct {
	Self    Self      `json:"self"`
	Data    LocalData `json:"data"`
	Memory  Memory    `json:"memory"`
	Cluster Cluster   `json:"cluster"`
	// Learner says whether a new member joins as a learner (configured, and
	// supported by the server).
	Learner bool `json:"learner"`
	// LocalVersion is the release of the local etcd binary ("3.5.35"); ""
	// unknown.
	LocalVersion string `json:"local_version,omitempty"`
	// Aliases are other spellings of the URLs seen (host names resolved to
	// addresses), so that URLs compare as etcd compares them.
	Aliases urlset.Aliases `json:"aliases,omitempty"`
}

// Plan is the decision: one action, why, and the steps it implies.
type Plan struct {
	Action Action `json:"action"`
	Reason string `json:"reason"`
	// MoveDataAside is set when the local data dir must be moved aside first.
	MoveDataAside bool `json:"move_data_aside,omitempty"`
	// Remove lists stale member entries to remove, in order (rejoin).
	Remove []uint64 `json:"remove,omitempty"`
	// AsLearner is set when a rejoin adds this member as a learner.
	AsLearner bool `json:"as_learner,omitempty"`
	// Existing is the live entry this member starts as (join, restart).
	Existing *Member `json:"existing,omitempty"`
	// UpdatePeerURLs is set when a restart must first set the live entry's
	// peer URLs to the configured ones (the host came back at a new address).
	UpdatePeerURLs bool `json:"update_peer_urls,omitempty"`
}

// HexID formats a member or cluster ID as etcd prints it.
func HexID(id uint64) string { return fmt.Sprintf("%x", id) }
