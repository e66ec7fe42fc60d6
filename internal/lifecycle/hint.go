package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
)

// RecoveryHint is what `plan` shows on a host of a cluster that has lost its
// quorum: the command that ends it, and what this host could recover from,
// so that the operator can pick the host with the newest data.
type RecoveryHint struct {
	Reason  string   `json:"reason"`
	Command []string `json:"commands"`
	// AppliedIndex is the local data's last applied raft index (from the
	// stopped data dir's backend, or from the running member), 0 when
	// unknown; AppliedIndexNote says where it comes from or why not.
	AppliedIndex     uint64 `json:"applied_index,omitempty"`
	AppliedIndexNote string `json:"applied_index_note"`
	SnapshotDir      string `json:"snapshot_dir"`
	// NewestSnapshot is the newest snapshot file in SnapshotDir (not
	// verified here: recover verifies it).
	NewestSnapshot *SnapshotFile `json:"newest_snapshot,omitempty"`
	Snapshots      int           `json:"snapshots"`
}

// SnapshotFile is one snapshot file.
type SnapshotFile struct {
	Path    string    `json:"path"`
	TakenAt time.Time `json:"taken_at"`
	Size    int64     `json:"size"`
}

// LostQuorum reports whether the observation is that of a member of a
// cluster that existed and has no quorum now: the case for `recover`, when
// enough members cannot come back. Not after a deliberate leave, nor when
// two clusters answer, nor on a first start.
func LostQuorum(o plan.Observation) bool {
	c := o.Cluster
	if o.Memory.Left != nil || c.Conflict != "" || c.Quorum {
		return false
	}
	return o.Data.Kind == plan.DataPresent || o.Memory.Known() || c.Formed()
}

// Hint gathers the RecoveryHint for the observation.
func Hint(ctx context.Context, h Host, o plan.Observation) RecoveryHint {
	r := RecoveryHint{
		Reason: "the cluster has no quorum (" + clusterText(o.Cluster) + "); if enough of its members cannot come back, " +
			"recover it on ONE host, the one with the newest data (stop its service first); the other hosts then rejoin by themselves",
		Command:     []string{"etcd-rejoin recover --from-local-data", "etcd-rejoin recover --from-snapshot FILE"},
		SnapshotDir: h.Snapshots.Dir,
	}
	r.AppliedIndex, r.AppliedIndexNote = h.appliedIndex(ctx, o.Data)
	files, err := snapshot.List(h.Snapshots.Dir)
	if err != nil {
		r.SnapshotDir += " (" + err.Error() + ")"
	}
	r.Snapshots = len(files)
	if len(files) > 0 {
		f := files[0]
		r.NewestSnapshot = &SnapshotFile{Path: f.Path, TakenAt: f.TakenAt.UTC(), Size: f.Size}
	}
	return r
}

// appliedIndex reads the local data's applied index: from the backend when
// etcd is stopped, from the member itself when it runs.
func (h Host) appliedIndex(ctx context.Context, d plan.LocalData) (uint64, string) {
	if d.Kind != plan.DataPresent {
		return 0, "no usable local data"
	}
	idx, err := AppliedIndex(h.Layout.DataDir)
	if err == nil {
		return idx, "from the data dir's backend"
	}
	hl, herr := member.LocalHealth(ctx, h.LocalEndpoint, h.Local)
	if hl.MemberID != 0 && hl.AppliedIndex != 0 {
		return hl.AppliedIndex, "from the running member"
	}
	return 0, fmt.Sprintf("unknown: %v (%v)", err, herr)
}

// Text is the hint for a terminal, one fact a line.
func (r RecoveryHint) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lost quorum: %s:\n", r.Reason)
	fmt.Fprintf(&b, "  %s\n", r.Command[0])
	fmt.Fprintf(&b, "  %s\n", r.Command[1])
	if r.AppliedIndex != 0 {
		fmt.Fprintf(&b, "local data: last applied index %d (%s)\n", r.AppliedIndex, r.AppliedIndexNote)
	} else {
		fmt.Fprintf(&b, "local data: last applied index %s\n", r.AppliedIndexNote)
	}
	if f := r.NewestSnapshot; f != nil {
		fmt.Fprintf(&b, "newest snapshot: %s (taken %s, %s; %d in %s)\n", f.Path, f.TakenAt.Format(time.RFC3339),
			sizeText(f.Size), r.Snapshots, r.SnapshotDir)
	} else {
		fmt.Fprintf(&b, "newest snapshot: none in %s\n", r.SnapshotDir)
	}
	return b.String()
}
