// Package status is what `etcd-rejoin status` shows: the service's runtime
// record (written by the service, read by the command), and a report about
// this member and its cluster gathered from the local member when it runs
// and from its peers when it does not, rendered as one screen of text or as
// stable JSON.
package status

import "time"

// SchemaVersion is the version of the JSON report. Fields are only ever
// added within a version; a change of meaning or a removal bumps it.
const SchemaVersion = 1

// Roles of a member.
const (
	RoleLeader   = "leader"
	RoleFollower = "follower"
	RoleLearner  = "learner"
	RoleUnknown  = "unknown" // it did not answer
)

// Sources of the member's facts.
const (
	SourceLocal = "local" // the local member answered
	SourcePeers = "peers" // it did not; its peers told what they know
	SourceNone  = "none"  // nobody answered
)

// Report is the status of this member and its cluster. Its JSON form is
// documented in the README ("Status and metrics") and stable within
// SchemaVersion. IDs are 16 hex digits, as etcdctl prints them; sizes are
// bytes; times are RFC 3339 in UTC.
type Report struct {
	Schema int       `json:"schema"`
	Time   time.Time `json:"time"`
	// Healthy: the local member answers, sees a leader, votes, a
	// linearizable read through it alone succeeded, and no alarm is active.
	// `status` exits 0 only then.
	Healthy bool `json:"healthy"`
	// Problems says why it is not healthy, one line each.
	Problems []string `json:"problems"`
	Member   Member   `json:"member"`
	Cluster  Cluster  `json:"cluster"`
	// Alarms are the cluster's active alarms.
	Alarms []Alarm `json:"alarms"`
	// Service is the service's record; nil when it has written none.
	Service *Record `json:"service"`
	// Snapshot is the newest snapshot in the snapshot dir; nil for none.
	Snapshot *Snapshot `json:"snapshot"`
	// MovedAside lists the moved-aside copies of the data dir, newest first.
	MovedAside []Copy `json:"moved_aside"`
	// Warnings are what could not be read (the record, the snapshot dir,
	// the alarm list through a quorum), one line each.
	Warnings []string `json:"warnings"`
}

// Member is this host's member.
type Member struct {
	Name string `json:"name"`
	// ID is "" when neither the member nor its peers could tell it.
	ID       string `json:"id"`
	Source   string `json:"source"`
	Endpoint string `json:"endpoint"`
	Role     string `json:"role"`
	// Leader is the ID of the leader the member (or, from the peers, the
	// cluster) sees; "" for none.
	Leader       string `json:"leader"`
	LeaderName   string `json:"leader_name"`
	Version      string `json:"version,omitempty"`
	RaftTerm     uint64 `json:"raft_term"`
	RaftIndex    uint64 `json:"raft_index"`
	AppliedIndex uint64 `json:"raft_applied_index"`
	// LeaderRaftTerm and LeaderRaftIndex are the leader's, asked of the
	// leader itself; 0 when it did not answer.
	LeaderRaftTerm  uint64 `json:"leader_raft_term"`
	LeaderRaftIndex uint64 `json:"leader_raft_index"`
	DBSize          int64  `json:"db_size_bytes"`
	DBSizeInUse     int64  `json:"db_size_in_use_bytes"`
	// QuotaBytes is the backend quota: as the member reports it (etcd 3.6+),
	// else etcd's quota-backend-bytes in the configuration, else etcd's
	// default of 2 GiB.
	QuotaBytes int64 `json:"quota_bytes"`
	// Error is why the local member did not answer; "" when it did.
	Error string `json:"error,omitempty"`
}

// Cluster is the live cluster as the answering members see it.
type Cluster struct {
	ID      string          `json:"id"`
	Quorum  bool            `json:"quorum"`
	Leader  string          `json:"leader"`
	Members []ClusterMember `json:"members"`
	// Errors lists the endpoints that did not answer, and why.
	Errors []string `json:"errors"`
}

// ClusterMember is one entry of the live member list.
type ClusterMember struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	Role       string   `json:"role"`
	// Healthy: it answered as this member of this cluster and sees a leader.
	Healthy bool `json:"healthy"`
	// Self marks this host's member.
	Self bool `json:"self"`
	// From its own status answer; zero when it did not answer.
	RaftIndex   uint64 `json:"raft_index"`
	DBSize      int64  `json:"db_size_bytes"`
	DBSizeInUse int64  `json:"db_size_in_use_bytes"`
	Version     string `json:"version,omitempty"`
}

// Alarm is an active alarm by etcd's name (NOSPACE, CORRUPT) and the member
// it was raised against.
type Alarm struct {
	Name       string `json:"name"`
	MemberID   string `json:"member_id"`
	MemberName string `json:"member_name"`
	// DBSize is that member's database size; 0 when it did not answer.
	DBSize int64 `json:"db_size_bytes"`
}

// Snapshot is one snapshot file.
type Snapshot struct {
	Path      string    `json:"path"`
	SizeBytes int64     `json:"size_bytes"`
	TakenAt   time.Time `json:"taken_at"`
}

// Copy is one moved-aside copy of the data dir.
type Copy struct {
	Path string `json:"path"`
	// Kind is "moved" (it held data) or "remnant" (what a refused start
	// left: no data).
	Kind string `json:"kind"`
}
