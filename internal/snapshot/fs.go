package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
