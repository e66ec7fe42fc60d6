package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stampLayout is the UTC time in the names of the snapshots this package
// writes: fixed width, so that names sort by time.
const stampLayout = "20060102T150405.000Z"

// ownName matches the names FileName makes, and only those.
var ownName = regexp.MustCompile(`^etcd-(\d{8}T\d{6}\.\d{3}Z)\.snapshot$`)

// FileName is the name Take gives a snapshot taken at t:
// etcd-20060102T150405.000Z.snapshot, in UTC with milliseconds. Names sort
// as their times do.
func FileName(t time.Time) string {
	return "etcd-" + t.UTC().Format(stampLayout) + ".snapshot"
}

// parseName returns the time in a name FileName made.
func parseName(name string) (time.Time, bool) {
	m := ownName.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(stampLayout, m[1])
	return t, err == nil
}

// takenAt is the time in path's name when FileName made it, else fallback.
func takenAt(path string, fallback time.Time) time.Time {
	if t, ok := parseName(filepath.Base(path)); ok {
		return t
	}
	return fallback
}

// renameNoReplace renames from to to, failing with fs.ErrExist when to
// exists (even an empty directory, which rename(2) would replace). On a file
// system without RENAME_NOREPLACE it checks first and renames: not atomic
// against a racing writer, but still never replacing what it saw.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if _, lerr := os.Lstat(to); lerr == nil {
			err = unix.EEXIST
		} else {
			err = os.Rename(from, to)
		}
	}
	if err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return nil
}

// syncDir fsyncs a directory, making the names in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// inherit gives path, and everything under it, to the owner of dir when
// this process runs as root and dir belongs to another user: what root
// makes in the service's directories must stay the service's.
func inherit(path, dir string) error {
	uid, gid, ok := heir(dir)
	if !ok {
		return nil
	}
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("give %s to the owner of %s: %w", path, dir, err)
	}
	return nil
}

// heir returns dir's owner when files made in it should go to that owner.
func heir(dir string) (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, 0, false
	}
	st, isUnix := fi.Sys().(*syscall.Stat_t)
	if !isUnix || st.Uid == 0 {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
