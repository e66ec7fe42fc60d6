package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// RestoreSpec says what Restore makes: a data dir (and WAL dir) for a new
// one-member cluster holding a snapshot's keys.
type RestoreSpec struct {
	// Snapshot is the snapshot file.
	Snapshot string
	// Name and PeerURLs are the member's, as etcd will run it.
	Name     string
	PeerURLs []string
	// DataDir is the data dir to create; it must not exist.
	DataDir string
	// WALDir is the WAL dir to create, when etcd runs with --wal-dir;
	// empty: the WAL goes inside DataDir. It must not exist either.
	WALDir string
	// ClusterToken must be new and unique: the member and cluster IDs are
	// derived from it and the peer URLs, so a new token gives a cluster ID
	// that differs from the snapshot's cluster, and no old member can
	// mistake the new cluster for its own.
	ClusterToken string
	// Tool restores; see FindTool.
	Tool Tool
	// AllowNoSHA256 accepts a database without the maintenance API's
	// sha256 trailer (a copy of a data dir's member/snap/db); the tool then
	// skips its hash check. Otherwise such a file is refused.
	AllowNoSHA256 bool
	// RevisionBump, when not 0, raises the revision by that much and marks
	// the revisions before it compacted, so that clients watching from a
	// revision newer than the snapshot's are told to start over rather
	// than miss changes (etcd's advice for restores under Kubernetes).
	// Only etcdutl does this; with etcdctl 3.4 it is an error.
	RevisionBump uint64
}

// Restore verifies the snapshot (Verify) and restores it with the tool into
// a temporary directory beside DataDir (and beside WALDir when set), then
// renames the result into place: the WAL dir first, the data dir last, so
// that a data dir at DataDir is always complete. It refuses when DataDir or
// WALDir exists, and on any failure removes only what it created.
//
// Run as root, it gives the restored dirs to the owner of their parent
// directories when that is another user (the service's state directory),
// so that the service's etcd can open them.
func Restore(ctx context.Context, spec RestoreSpec) error {
	if err := restore(ctx, spec); err != nil {
		return fmt.Errorf("restore snapshot %s into %s: %w", spec.Snapshot, spec.DataDir, err)
	}
	return nil
}

func restore(ctx context.Context, spec RestoreSpec) error {
	if err := spec.check(); err != nil {
		return err
	}
	info, err := Verify(spec.Snapshot)
	if err != nil {
		return err
	}
	if !info.SHA256 && !spec.AllowNoSHA256 {
		return fmt.Errorf("%w: no sha256 trailer (a plain database file is restored only when allowed)", ErrCorrupt)
	}
	for _, d := range []string{spec.DataDir, spec.WALDir} {
		if err := absent(d); err != nil {
			return err
		}
	}
	data, err := newStage(spec.DataDir)
	if err != nil {
		return err
	}
	defer data.remove()
	wal := stage{}
	if spec.WALDir != "" {
		if wal, err = newStage(spec.WALDir); err != nil {
			return err
		}
		defer wal.remove()
	}
	if err := runTool(ctx, spec, data.path, wal.path, !info.SHA256); err != nil {
		return err
	}
	for _, s := range []stage{data, wal} {
		if err := s.inherit(); err != nil {
			return err
		}
	}
	return place(spec, data, wal)
}

func (s RestoreSpec) check() error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"snapshot", s.Snapshot}, {"name", s.Name}, {"data dir", s.DataDir},
		{"cluster token", s.ClusterToken}, {"tool", s.Tool.Path},
		{"peer URLs", strings.Join(s.PeerURLs, "")},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	case s.WALDir != "" && filepath.Clean(s.WALDir) == filepath.Clean(s.DataDir):
		return errors.New("the WAL dir is the data dir")
	case s.RevisionBump != 0 && s.Tool.Name != "etcdutl":
		return fmt.Errorf("%s cannot bump the revision (etcdutl can)", s.Tool)
	}
	return nil
}

// absent fails when path exists, and for an empty path does nothing.
func absent(path string) error {
	if path == "" {
		return nil
	}
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%s: %w (restore never overwrites)", path, fs.ErrExist)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return err
	}
}

// stage is a temporary directory beside a target: the tool writes into
// path (which does not exist yet), and path is renamed to target.
type stage struct {
	dir, path, target string
}

func newStage(target string) (stage, error) {
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, dirMode); err != nil {
		return stage{}, fmt.Errorf("create %s: %w", parent, err)
	}
	dir, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".restore-*")
	if err != nil {
		return stage{}, fmt.Errorf("create temporary directory: %w", err)
	}
	return stage{dir: dir, path: filepath.Join(dir, "out"), target: target}, nil
}

// inherit gives what the tool wrote to the owner of the target's parent
// (see inherit), before it is renamed into place.
func (s stage) inherit() error {
	if s.dir == "" {
		return nil
	}
	return inherit(s.path, filepath.Dir(s.target))
}

// remove deletes the stage's temporary directory and what is left in it.
func (s stage) remove() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// place renames the WAL stage, then the data stage into place, and fsyncs
// their parents. If the data dir cannot be placed, the WAL goes back into
// its stage, to be removed with it.
func place(spec RestoreSpec, data, wal stage) error {
	if wal.dir != "" {
		if err := renameNoReplace(wal.path, wal.target); err != nil {
			return err
		}
	}
	if err := renameNoReplace(data.path, data.target); err != nil {
		if wal.dir != "" {
			_ = os.Rename(wal.target, wal.path)
		}
		return err
	}
	if wal.dir != "" {
		if err := syncDir(filepath.Dir(wal.target)); err != nil {
			return err
		}
	}
	return syncDir(filepath.Dir(data.target))
}

// runTool runs the restore tool into dataDir (and walDir when not empty).
func runTool(ctx context.Context, spec RestoreSpec, dataDir, walDir string, skipHash bool) error {
	args := restoreArgs(spec, dataDir, walDir, skipHash)
	cmd := exec.CommandContext(ctx, spec.Tool.Path, args...)
	cmd.Env = toolEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s snapshot restore: %w: %s", spec.Tool, err, tail(strings.TrimSpace(string(out)), 2000))
	}
	return nil
}

// restoreArgs are the arguments of `snapshot restore`, the same for etcdutl
// and etcdctl 3.4 apart from the revision bump.
func restoreArgs(spec RestoreSpec, dataDir, walDir string, skipHash bool) []string {
	initial := make([]string, len(spec.PeerURLs))
	for i, u := range spec.PeerURLs {
		initial[i] = spec.Name + "=" + u
	}
	args := []string{
		"snapshot", "restore", spec.Snapshot,
		"--name=" + spec.Name,
		"--data-dir=" + dataDir,
		"--initial-cluster=" + strings.Join(initial, ","),
		"--initial-cluster-token=" + spec.ClusterToken,
		"--initial-advertise-peer-urls=" + strings.Join(spec.PeerURLs, ","),
	}
	if walDir != "" {
		args = append(args, "--wal-dir="+walDir)
	}
	if skipHash {
		args = append(args, "--skip-hash-check")
	}
	if spec.RevisionBump != 0 {
		args = append(args, "--bump-revision="+strconv.FormatUint(spec.RevisionBump, 10), "--mark-compacted")
	}
	return args
}
