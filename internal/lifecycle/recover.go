package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
)

// ErrRefused means a command would do harm or cannot work as things are;
// the error says why, and nothing was changed.
var ErrRefused = errors.New("refused (nothing was changed)")

// RecoverOptions say where a recovery starts from.
type RecoverOptions struct {
	// Snapshot is the snapshot file to recover from, or "" with LocalData.
	Snapshot string
	// LocalData recovers from this host's own data dir.
	LocalData bool
	// DryRun makes every check, prints every step and changes nothing.
	DryRun bool
	// Out receives what Recover found and does, line by line.
	Out io.Writer
}

// Recovery is what Recover made.
type Recovery struct {
	// MemberID and ClusterID are this member's and the new cluster's.
	MemberID, ClusterID uint64
	// Snapshot is the snapshot that was restored.
	Snapshot string
	// Token is the new cluster's initial-cluster-token.
	Token string
	// Moved is where the data that was there went.
	Moved datadir.Moved
}

// Recover makes this host's member a new one-member cluster after its
// cluster lost quorum for good, from a snapshot file or from this host's
// own data; the other hosts' services then rejoin it by themselves. It
// refuses (ErrRefused, every reason at once) while this host's etcd runs,
// while a quorum of the cluster answers, when the snapshot is not intact,
// when the local data is not usable for --from-local-data, or when no
// restore tool of etcd's release is found.
//
// It restores into a directory beside the data dir, moves the data that is
// there aside (datadir.MoveAside: never deleted), puts the restored data in
// its place and records the recovery in the state file, whose decision then
// starts the member on it whatever the old members say. It never starts the
// member: the service does. From local data it first snapshots a copy of
// the data dir with etcd --force-new-cluster, on loopback only, and
// restores that snapshot (kept in the snapshot dir): the restore gives the
// new cluster a new cluster ID, which the copy alone would not.
func Recover(ctx context.Context, h Host, opt RecoverOptions) (Recovery, error) {
	r := newRecoverer(h, opt)
	defer r.cleanup()
	if err := r.check(ctx); err != nil {
		return Recovery{}, err
	}
	steps := r.steps()
	if opt.DryRun {
		r.say("dry run: nothing was changed. Without --dry-run, recover would:")
		for i, s := range steps {
			r.say("  %d. %s", i+1, s.what)
		}
		return Recovery{}, nil
	}
	for i, s := range steps {
		r.say("step %d/%d: %s", i+1, len(steps), s.what)
		if err := s.do(ctx); err != nil {
			return r.result, fmt.Errorf("recover, step %d (%s): %w", i+1, s.name, err)
		}
	}
	r.sayDone()
	return r.result, nil
}

// step is one action of a recovery: a short name for errors, what it does
// for the operator, and the doing.
type step struct {
	name, what string
	do         func(ctx context.Context) error
}

type recoverer struct {
	h        Host
	opt      RecoverOptions
	out      io.Writer
	now      time.Time
	stamp    string
	token    string
	tool     snapshot.Tool
	data     plan.LocalData
	snapshot string         // the snapshot to restore
	staging  datadir.Layout // where the restore goes first
	scratch  string         // the copy of the data dir (--from-local-data)
	forced   *forced
	result   Recovery
}

func newRecoverer(h Host, opt RecoverOptions) *recoverer {
	now := h.now().UTC()
	r := &recoverer{h: h, opt: opt, out: opt.Out, now: now, stamp: now.Format("20060102T150405Z"), snapshot: opt.Snapshot}
	if r.out == nil {
		r.out = io.Discard
	}
	base := h.ClusterToken
	if base == "" {
		base = "etcd-cluster"
	}
	r.token = base + "-recovered-" + r.stamp + "-" + randomHex(4)
	r.staging = datadir.Layout{DataDir: h.Layout.DataDir + ".recover-" + r.stamp}
	if h.Layout.WALDir != "" {
		r.staging.WALDir = h.Layout.WALDir + ".recover-" + r.stamp
	}
	if opt.LocalData {
		r.scratch = h.Layout.DataDir + ".recover-copy-" + r.stamp
	}
	return r
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *recoverer) say(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

// check makes every check and returns ErrRefused with every reason found.
func (r *recoverer) check(ctx context.Context) error {
	var why []string
	refuse := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	if r.opt.LocalData == (r.opt.Snapshot != "") {
		refuse("give exactly one of a snapshot file and the local data to recover from")
	}
	if running := r.h.localEtcd(ctx); running != "" {
		refuse("%v (%s)", errLocalRuns, running)
	} else {
		r.say("ok: this host's etcd is not running")
	}
	r.checkCluster(ctx, refuse)
	r.checkLocalData(refuse)
	tool, err := snapshot.FindTool(r.h.EtcdBinary)
	if err != nil {
		refuse("%v", err)
	} else {
		r.tool = tool
		r.say("ok: restore tool %s", tool)
	}
	if r.opt.Snapshot != "" {
		r.checkSnapshot(refuse)
	}
	if len(why) > 0 {
		return fmt.Errorf("recover %w:\n  - %s", ErrRefused, strings.Join(why, "\n  - "))
	}
	return nil
}

// checkCluster refuses while a quorum of the cluster answers.
func (r *recoverer) checkCluster(ctx context.Context, refuse func(string, ...any)) {
	c, err := member.Observe(ctx, r.h.Cluster)
	switch {
	case err != nil:
		refuse("cannot look at the cluster: %v", err)
	case c.Quorum:
		refuse("the cluster %s has a quorum (%s): there is nothing to recover; a member that lost its data rejoins it by itself",
			plan.HexID(c.ClusterID), clusterText(c))
	default:
		r.say("ok: the cluster has no quorum (%s)", clusterText(c))
	}
}

// checkLocalData looks at the data dir; --from-local-data needs this
// member's data and room for a copy, a snapshot and the restore.
func (r *recoverer) checkLocalData(refuse func(string, ...any)) {
	d, err := datadir.Inspect(r.h.Layout)
	if err != nil {
		refuse("cannot look at the data dir %s: %v", r.h.Layout.DataDir, err)
		return
	}
	r.data = d
	r.say("local data in %s: %s", r.h.Layout.DataDir, dataText(d, r.h.Layout.DataDir))
	if !r.opt.LocalData {
		return
	}
	if d.Kind != plan.DataPresent {
		refuse("no usable local data to recover from in %s (%s)", r.h.Layout.DataDir, dataText(d, r.h.Layout.DataDir))
		return
	}
	if err := r.checkSpace(); err != nil {
		refuse("%v", err)
	}
}

// checkSpace: the data dir's file system must hold a copy of the data, a
// snapshot and the restored data besides what is there.
func (r *recoverer) checkSpace() error {
	data, err := treeSize(r.h.Layout.DataDir)
	if err != nil {
		return err
	}
	wal, err := treeSize(r.h.Layout.WALDir)
	if err != nil {
		return err
	}
	var db int64
	if fi, err := os.Stat(Backend(r.h.Layout.DataDir)); err == nil {
		db = fi.Size()
	}
	free, err := freeSpace(filepath.Dir(filepath.Clean(r.h.Layout.DataDir)))
	if err != nil {
		return err
	}
	const margin = 64 << 20
	if need := data + wal + 2*db + margin; free < need {
		return fmt.Errorf("not enough free space beside %s: about %s needed (a copy of the data, a snapshot, the restored data), %s free",
			r.h.Layout.DataDir, sizeText(need), sizeText(free))
	}
	return nil
}

// checkSnapshot verifies the snapshot file.
func (r *recoverer) checkSnapshot(refuse func(string, ...any)) {
	info, err := snapshot.Verify(r.opt.Snapshot)
	switch {
	case err != nil:
		refuse("%v", err)
	case !info.SHA256:
		refuse("%s has no sha256 trailer: it is a plain database file (a copy of member/snap/db), which may lag its WAL; "+
			"to recover from a data dir, put it in place as the data dir and use --from-local-data", r.opt.Snapshot)
	default:
		r.say("ok: snapshot %s is intact: %s, revision %d, %d keys, taken %s", info.Path, sizeText(info.Size),
			info.Revision, info.TotalKeys, info.TakenAt.UTC().Format(time.RFC3339))
	}
}

func clusterText(c plan.Cluster) string {
	if !c.Reachable {
		return "no member answers"
	}
	voters, healthy := c.Voters()
	return fmt.Sprintf("%d healthy of %d voters", healthy, voters)
}

func dataText(d plan.LocalData, dataDir string) string {
	switch d.Kind {
	case plan.DataPresent:
		return fmt.Sprintf("member %s of cluster %s, applied index %s", plan.HexID(d.MemberID), plan.HexID(d.ClusterID), appliedIndexText(dataDir))
	case plan.DataUnreadable:
		return "unusable: " + d.Detail
	default:
		return "none"
	}
}

// steps lists what the recovery does, in order.
func (r *recoverer) steps() []step {
	var out []step
	if r.opt.LocalData {
		out = append(out, r.localSteps()...)
	}
	src := r.snapshot
	if src == "" {
		src = "that snapshot"
	}
	out = append(out, step{"restore", fmt.Sprintf("restore %s with %s as member %s (%s) of a new cluster (token %s) into %s",
		src, r.tool.Name, r.h.Name, strings.Join(r.h.PeerURLs, ","), r.token, layoutText(r.staging)), r.restore})
	if there := r.present(); len(there) > 0 {
		out = append(out, step{"move aside", fmt.Sprintf("move the current data aside (kept, never deleted): %s",
			strings.Join(there, " and ")), r.moveAside})
	}
	out = append(out,
		step{"put in place", fmt.Sprintf("rename %s to %s", layoutText(r.staging), layoutText(r.h.Layout)), r.place},
		step{"record", fmt.Sprintf("record the recovery in the state file %s: the service starts this member on the restored data", r.h.StateFile), r.record})
	return out
}

// localSteps turn the local data into a snapshot.
func (r *recoverer) localSteps() []step {
	copyWhat := r.h.Layout.DataDir
	if r.h.Layout.WALDir != "" {
		copyWhat += " and the WAL dir " + r.h.Layout.WALDir
	}
	return []step{
		{"copy", fmt.Sprintf("copy %s to %s (the original stays as it is)", copyWhat, r.scratch), r.copyData},
		{"force new cluster", fmt.Sprintf("start %s --force-new-cluster on the copy, listening on %s only, until it leads a cluster of its own",
			r.h.EtcdBinary, r.h.loopbackIP()), r.startForced},
		{"snapshot", fmt.Sprintf("take a snapshot of it through the maintenance API into %s (verified, and kept as a backup)", r.h.Snapshots.Dir), r.snapshotForced},
		{"stop", "stop that etcd and remove the copy", r.stopForced},
	}
}

func layoutText(l datadir.Layout) string {
	if l.WALDir == "" {
		return l.DataDir
	}
	return l.DataDir + " (WAL dir " + l.WALDir + ")"
}

// present lists the data and WAL dirs that exist.
func (r *recoverer) present() []string {
	var out []string
	for _, d := range []string{r.h.Layout.DataDir, r.h.Layout.WALDir} {
		if _, err := os.Lstat(d); d != "" && err == nil {
			out = append(out, d)
		}
	}
	return out
}

func (r *recoverer) copyData(context.Context) error {
	if err := copyTree(r.h.Layout.DataDir, r.scratch); err != nil {
		return err
	}
	if r.h.Layout.WALDir == "" {
		return nil
	}
	wal := filepath.Join(r.scratch, "member", "wal")
	if err := os.MkdirAll(filepath.Dir(wal), 0o700); err != nil {
		return err
	}
	_ = os.Remove(wal) // an empty member/wal left by an earlier layout
	return copyTree(r.h.Layout.WALDir, wal)
}

func (r *recoverer) startForced(ctx context.Context) error {
	f, err := r.h.startForced(ctx, r.scratch)
	if err != nil {
		return err
	}
	r.forced = f
	r.say("  etcd answers at %s as member %s, leader of its own cluster %s, applied index %d",
		f.endpoint, plan.HexID(f.health.MemberID), plan.HexID(f.health.ClusterID), f.health.AppliedIndex)
	return nil
}

func (r *recoverer) snapshotForced(ctx context.Context) error {
	o := r.h.forcedOptions()
	open := func(ctx context.Context) (io.ReadCloser, error) {
		return member.OpenSnapshot(ctx, r.forced.endpoint, o)
	}
	info, err := snapshot.Take(ctx, open, r.h.Snapshots.Dir, r.h.now())
	if err != nil {
		return err
	}
	r.snapshot = info.Path
	r.say("  snapshot %s: %s, revision %d, %d keys", info.Path, sizeText(info.Size), info.Revision, info.TotalKeys)
	return nil
}

func (r *recoverer) stopForced(context.Context) error {
	if err := r.forced.stop(r.h.StopTimeout); err != nil {
		return err
	}
	r.forced = nil
	if err := os.RemoveAll(r.scratch); err != nil {
		return fmt.Errorf("remove the copy %s: %w", r.scratch, err)
	}
	r.scratch = ""
	return nil
}

// cleanup stops the forced etcd and removes the copy after a failure or a
// dry run (nothing then exists).
func (r *recoverer) cleanup() {
	if r.forced != nil {
		_ = r.forced.proc.Stop(r.h.StopTimeout)
	}
	if r.scratch != "" && !r.opt.DryRun {
		_ = os.RemoveAll(r.scratch)
	}
}

func (r *recoverer) restore(ctx context.Context) error {
	spec := snapshot.RestoreSpec{
		Snapshot: r.snapshot, Name: r.h.Name, PeerURLs: r.h.PeerURLs,
		DataDir: r.staging.DataDir, WALDir: r.staging.WALDir,
		ClusterToken: r.token, Tool: r.tool,
	}
	if err := snapshot.Restore(ctx, spec); err != nil {
		return err
	}
	d, err := datadir.Inspect(r.staging)
	if err != nil {
		return err
	}
	if d.Kind != plan.DataPresent {
		return fmt.Errorf("the restored data in %s is not usable: %s", r.staging.DataDir, dataText(d, r.staging.DataDir))
	}
	r.result = Recovery{MemberID: d.MemberID, ClusterID: d.ClusterID, Snapshot: r.snapshot, Token: r.token}
	r.say("  restored: member %s of the new cluster %s", plan.HexID(d.MemberID), plan.HexID(d.ClusterID))
	return nil
}

func (r *recoverer) moveAside(context.Context) error {
	moved, err := datadir.MoveAside(r.h.Layout, r.h.BackupDir, r.h.KeepBackups, r.now)
	r.result.Moved = moved
	if errors.Is(err, datadir.ErrPrune) {
		r.say("  warning: %v", err)
		err = nil
	}
	if err != nil {
		return err
	}
	r.say("  moved to %s", strings.Join(moved.Paths(), " and "))
	return nil
}

// place renames the restored WAL dir, then the data dir, into place.
func (r *recoverer) place(context.Context) error {
	if r.staging.WALDir != "" {
		if err := renameNoReplace(r.staging.WALDir, r.h.Layout.WALDir); err != nil {
			return err
		}
	}
	return renameNoReplace(r.staging.DataDir, r.h.Layout.DataDir)
}

func (r *recoverer) record(context.Context) error {
	from := r.snapshot
	if r.opt.LocalData {
		from = fmt.Sprintf("the local data of member %s of cluster %s (snapshot %s)",
			plan.HexID(r.data.MemberID), plan.HexID(r.data.ClusterID), r.snapshot)
	}
	return saveMemory(r.h.StateFile, plan.Memory{
		MemberID:  r.result.MemberID,
		ClusterID: r.result.ClusterID,
		Recovered: &plan.Recovered{At: r.now, ClusterID: r.result.ClusterID, From: from},
	})
}

func (r *recoverer) sayDone() {
	r.say("recovered: this host is member %s, alone in the new cluster %s, restored from %s.",
		plan.HexID(r.result.MemberID), plan.HexID(r.result.ClusterID), r.snapshot)
	if p := r.result.Moved.Paths(); len(p) > 0 {
		r.say("The data that was there is kept in %s.", strings.Join(p, " and "))
	}
	r.say("Next:")
	r.say("  systemctl start etcd-rejoin    # starts the recovered member")
	r.say("  Nothing to do on the other hosts: their services add them back one at a time. A host whose")
	r.say("  etcd-rejoin still runs a member of the old cluster rejoins once restarted: systemctl restart etcd-rejoin")
	if r.opt.LocalData {
		r.say("  The recovered cluster holds what this member had committed; writes it had not seen committed are lost.")
	} else {
		r.say("  Writes made after the snapshot was taken are not in the recovered cluster.")
	}
}

// renameNoReplace renames from to to, failing when to exists, and fsyncs
// to's directory.
func renameNoReplace(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, fs.ErrExist)
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(to))
	if err != nil {
		return fmt.Errorf("fsync %s: %w", filepath.Dir(to), err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", filepath.Dir(to), err)
	}
	return nil
}
