package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
)

// SnapshotNow takes a verified snapshot now, from this host's member when
// it answers, else from a healthy member of the cluster (the same data).
// With output it writes exactly that file (snapshot.TakeFile: no pruning,
// no snapshot-command); without, it does what a periodic round does in the
// snapshot dir: Take, Prune, then the snapshot-command. The error is nil
// only when every part went well; the Result tells which did.
func SnapshotNow(ctx context.Context, h Host, output string, out io.Writer) (Result, error) {
	if out == nil {
		out = io.Discard
	}
	open, from, err := h.snapshotSource(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("snapshot: %w", err)
	}
	fmt.Fprintf(out, "taking a snapshot of %s\n", from)
	if output != "" {
		return snapshotFile(ctx, h, open, output)
	}
	r := h.Snapshots.Round(ctx, open)
	if !r.Failed() && !r.Skipped {
		return r, nil
	}
	return r, errors.New(r.Summary())
}

func snapshotFile(ctx context.Context, h Host, open snapshot.Opener, output string) (Result, error) {
	r := Result{Start: h.now()}
	r.Info, r.Err = snapshot.TakeFile(ctx, open, output)
	r.Took = h.now().Sub(r.Start)
	return r, r.Err
}

// snapshotSource picks the member to snapshot: this host's when it
// answers, else the first healthy member of the cluster.
func (h Host) snapshotSource(ctx context.Context) (snapshot.Opener, string, error) {
	hl, _ := member.LocalHealth(ctx, h.LocalEndpoint, h.Local)
	if hl.MemberID != 0 {
		return h.OpenLocal, fmt.Sprintf("this host's member %s at %s", plan.HexID(hl.MemberID), h.LocalEndpoint), nil
	}
	c, err := member.Observe(ctx, h.Cluster)
	if err != nil {
		return nil, "", fmt.Errorf("observe the cluster: %w", err)
	}
	for _, m := range c.Members {
		if m.Healthy && len(m.ClientURLs) > 0 {
			ep := m.ClientURLs[0]
			open := func(ctx context.Context) (io.ReadCloser, error) { return member.OpenSnapshot(ctx, ep, h.Cluster) }
			return open, fmt.Sprintf("member %s (%s) at %s: this host's member does not answer", plan.HexID(m.ID), m.Name, ep), nil
		}
	}
	return nil, "", fmt.Errorf("neither this host's member (%s) nor any healthy member of the cluster answers (%s)",
		h.LocalEndpoint, clusterText(c))
}

// OpenLocal streams a snapshot of this host's own member: the opener of
// the service's RunSnapshots.
func (h Host) OpenLocal(ctx context.Context) (io.ReadCloser, error) {
	return member.OpenSnapshot(ctx, h.LocalEndpoint, h.Local)
}
