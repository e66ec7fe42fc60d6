package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrInProgress is returned by Take when another Take, in this process or
// another, holds the snapshot directory.
var ErrInProgress = errors.New("snapshot already in progress")

// Opener opens the stream of a snapshot: clientv3's Maintenance.Snapshot of
// the local member, in the service.
type Opener func(ctx context.Context) (io.ReadCloser, error)

const (
	// Take's temporary files are partPrefix<random>partSuffix; a crash
	// can leave one, and the next Take removes it.
	partPrefix, partSuffix = ".etcd-rejoin-snapshot-", ".part"
	dirMode                = 0o700
)

// Take streams a snapshot from open into dir (created 0700 if missing),
// fsyncs it, verifies it (it must carry the sha256 trailer), and gives it
// its final name, etcd-<UTC time of now>.snapshot (FileName), without
// replacing any file; then it fsyncs dir. On any failure the temporary file
// is removed and nothing else is touched.
//
// One Take at a time per dir, across processes: dir is locked (flock) for
// the whole Take, and a caller that finds it locked gets ErrInProgress at
// once. Holding the lock, Take also removes temporary files that a crashed
// Take left in dir.
//
// Run as root in a dir that belongs to another user (the service's), Take
// gives the snapshot to the dir's owner, so that the service can read,
// verify and prune it.
func Take(ctx context.Context, open Opener, dir string, now time.Time) (Info, error) {
	info, err := take(ctx, open, dir, now)
	if err != nil {
		return Info{}, fmt.Errorf("take snapshot in %s: %w", dir, err)
	}
	return info, nil
}

func take(ctx context.Context, open Opener, dir string, now time.Time) (Info, error) {
	if err := ensureDir(dir); err != nil {
		return Info{}, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return Info{}, err
	}
	defer unlock()
	if err := removeParts(dir); err != nil {
		return Info{}, err
	}
	return write(ctx, open, filepath.Join(dir, FileName(now)), partPrefix+"*"+partSuffix)
}

// TakeFile is Take to exactly path, for `etcd-rejoin snapshot --output`:
// the same streaming, fsync, verification and no-replace rename, in path's
// directory (which must exist), but without the directory lock: an existing
// path is an error, whoever wrote it.
func TakeFile(ctx context.Context, open Opener, path string) (Info, error) {
	info, err := write(ctx, open, path, "."+filepath.Base(path)+".part-*")
	if err != nil {
		return Info{}, fmt.Errorf("take snapshot to %s: %w", path, err)
	}
	return info, nil
}

// write streams the snapshot into a temporary file beside final, named
// after pattern (os.CreateTemp), then verifies and renames it to final.
func write(ctx context.Context, open Opener, final, pattern string) (info Info, err error) {
	dir := filepath.Dir(final)
	if _, err := os.Lstat(final); err == nil {
		return Info{}, fmt.Errorf("%s: %w", final, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return Info{}, fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := stream(ctx, open, tmp); err != nil {
		return Info{}, err
	}
	if err := inherit(tmp.Name(), dir); err != nil {
		return Info{}, err
	}
	info, err = Verify(tmp.Name())
	if err != nil {
		return Info{}, err
	}
	if !info.SHA256 {
		return Info{}, fmt.Errorf("verify snapshot %s: %w: the stream carried no sha256 trailer", tmp.Name(), ErrCorrupt)
	}
	if err := renameNoReplace(tmp.Name(), final); err != nil {
		return Info{}, err
	}
	info.Path = final
	info.TakenAt = takenAt(final, info.TakenAt)
	return info, syncDir(dir)
}

// stream copies the snapshot into f, fsyncs and closes it.
func stream(ctx context.Context, open Opener, f *os.File) error {
	src, err := open(ctx)
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("open snapshot stream: %w", err)
	}
	_, err = io.Copy(f, src)
	_ = src.Close()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("receive snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return nil
}

// ensureDir creates dir (0700) when it is missing, and makes its name
// durable.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}

// lockDir takes the exclusive, non-blocking flock of dir itself and returns
// its release. Locking the directory needs no lock file, which a Take run
// as root would create out of the service user's reach. flock locks belong
// to the open file, so two Takes in one process exclude each other too; the
// kernel drops the lock when the process dies.
func lockDir(dir string) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open directory to lock it: %w", err)
	}
	err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		_ = d.Close()
		return nil, ErrInProgress
	}
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	return func() { _ = d.Close() }, nil
}

// removeParts removes the temporary files of earlier Takes that died.
func removeParts(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read directory: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, partPrefix) && strings.HasSuffix(n, partSuffix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale temporary file: %w", err)
			}
		}
	}
	return nil
}
