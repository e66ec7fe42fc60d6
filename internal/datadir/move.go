package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MovedTimeLayout is the UTC time in the name of a moved-aside data dir.
const MovedTimeLayout = "20060102T150405Z"

// maxCollisions bounds the -N suffixes tried for one second.
const maxCollisions = 1000

// Kinds of moved-aside copies: the infix of their names.
const (
	// KindMoved is a copy that held a member's data (a WAL, a backend with
	// keys, anything not provably empty). keep-backups counts only these.
	KindMoved = "moved"
	// KindRemnant is what a start that etcd refused leaves behind: an empty
	// backend and nothing else. Remnants are kept (keep-backups of them) in
	// a count of their own, so they never push a real copy out.
	KindRemnant = "remnant"
)

var (
	// ErrCrossDevice means the backup dir is on another file system than
	// the data dir: moving would need a copy, which MoveAside never does.
	ErrCrossDevice = errors.New("backup dir is on another file system than the data dir (EXDEV); " +
		"a move aside is a rename only, never a copy: use a backup dir on the data dir's file system")
	// ErrPrune means the data was moved but older moved-aside copies could
	// not all be removed.
	ErrPrune = errors.New("remove older moved-aside copies")
)

// Moved says where MoveAside put the data.
type Moved struct {
	DataDir string // the data dir's new path; "" when it was not there
	WALDir  string // the wal-dir's new path; "" when there is none
	Kind    string // KindMoved or KindRemnant
}

// Paths lists the new paths.
func (m Moved) Paths() []string {
	var out []string
	for _, p := range []string{m.DataDir, m.WALDir} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// MoveAside renames the data dir to <backupDir, or the data dir's parent>/
// <base>.<kind>-<now in UTC as MovedTimeLayout> (with a -N suffix if that
// name is taken) and a separate wal-dir, with the same name, next to itself
// (it is usually on a disk of its own, and a move is a rename only). kind is
// KindMoved when the data could matter and KindRemnant when it holds nothing
// (see holdsData). It fsyncs the directories involved and then keeps only
// the newest keep (at least 1, counting the one just made) copies of that
// kind. Missing dirs are not an error.
//
// It only renames: a backup dir on another file system gives an error
// wrapping ErrCrossDevice. A data dir that is a symlink is refused, since
// renaming the link would leave the data where it is. On error, the Moved
// returned names what was moved (a failed fsync, or ErrPrune).
func MoveAside(l Layout, backupDir string, keep int, now time.Time) (Moved, error) {
	l = Layout{DataDir: filepath.Clean(l.DataDir), WALDir: cleanOrEmpty(l.WALDir)}
	holds, err := holdsData(l)
	if err != nil {
		return Moved{}, fmt.Errorf("move aside %s: %w", l.DataDir, err)
	}
	m := Moved{Kind: KindRemnant}
	if holds {
		m.Kind = KindMoved
	}
	stamp := now.UTC().Format(MovedTimeLayout)
	if m.DataDir, err = moveOne(l.DataDir, backupDir, m.Kind, stamp, keep); err != nil {
		return m, err
	}
	if l.WALDir != "" {
		m.WALDir, err = moveOne(l.WALDir, "", m.Kind, stamp, keep)
	}
	return m, err
}

func cleanOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Clean(p)
}

// moveOne moves dir into backupDir (or next to itself) and prunes; it
// returns the new path, or "" when dir was not there.
func moveOne(dir, backupDir, kind, stamp string, keep int) (string, error) {
	if there, err := checkMovable(dir); err != nil || !there {
		return "", err
	}
	dest, err := backupDest(dir, backupDir)
	if err != nil {
		return "", err
	}
	base := filepath.Base(dir)
	newPath, err := renameNoReplace(dir, dest, base+"."+kind+"-"+stamp)
	if err != nil {
		return "", err
	}
	if err := syncDirs(filepath.Dir(dir), dest); err != nil {
		return newPath, fmt.Errorf("move aside %s to %s: %w", dir, newPath, err)
	}
	return newPath, prune(dest, base, kind, filepath.Base(newPath), max(keep, 1))
}

// checkMovable reports whether dir is there to move.
func checkMovable(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("move aside: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return false, fmt.Errorf("move aside %s: it is a symlink; refusing to rename the link and leave the data in place", dir)
	}
	return true, nil
}

// backupDest returns the directory to move dir into. It must exist and must
// not be inside dir.
func backupDest(dir, backupDir string) (string, error) {
	dest := filepath.Dir(dir)
	if backupDir != "" {
		dest = filepath.Clean(backupDir)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return "", fmt.Errorf("move aside %s: backup dir: %w", dir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("move aside %s: backup dir %s is not a directory", dir, dest)
	}
	absDir, err1 := filepath.Abs(dir)
	absDest, err2 := filepath.Abs(dest)
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("move aside %s: %w", dir, err)
	}
	if absDest == absDir || strings.HasPrefix(absDest, absDir+string(filepath.Separator)) {
		return "", fmt.Errorf("move aside %s: backup dir %s is inside the data dir", dir, dest)
	}
	return dest, nil
}

// renameNoReplace renames dir to dest/stem, or dest/stem-N for the first N
// that is free, never replacing anything that is there.
func renameNoReplace(dir, dest, stem string) (string, error) {
	for n := 0; n < maxCollisions; n++ {
		name := stem
		if n > 0 {
			name = fmt.Sprintf("%s-%d", stem, n)
		}
		newPath := filepath.Join(dest, name)
		err := renameExclusive(dir, newPath)
		switch {
		case err == nil:
			return newPath, nil
		case errors.Is(err, fs.ErrExist):
			continue
		case errors.Is(err, syscall.EXDEV):
			return "", fmt.Errorf("move aside %s to %s: %w", dir, newPath, ErrCrossDevice)
		default:
			return "", fmt.Errorf("move aside %s to %s: %w", dir, newPath, err)
		}
	}
	return "", fmt.Errorf("move aside %s: %s and %d suffixed names are all taken", dir, filepath.Join(dest, stem), maxCollisions-1)
}

// renameExclusive renames with RENAME_NOREPLACE, so that an empty directory
// of the same name is never silently replaced. File systems without that flag
// fall back to a check and a plain rename.
func renameExclusive(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return wrapRename(from, to, err)
	}
	if _, err := os.Lstat(to); err == nil {
		return wrapRename(from, to, unix.EEXIST)
	}
	return os.Rename(from, to)
}

func wrapRename(from, to string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
}

// syncDirs fsyncs each distinct directory.
func syncDirs(dirs ...string) error {
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// MovedCopy is one moved-aside copy found next to a data dir.
type MovedCopy struct {
	Name  string
	Kind  string // KindMoved or KindRemnant
	stamp string // MovedTimeLayout, sorts as time
	seq   string // the -N suffix, "" for none
}

func (c MovedCopy) newerThan(o MovedCopy) bool {
	if c.stamp != o.stamp {
		return c.stamp > o.stamp
	}
	if len(c.seq) != len(o.seq) {
		return len(c.seq) > len(o.seq)
	}
	return c.seq > o.seq
}

// prune removes all but the newest keep copies of base of the given kind in
// dest. The copy named current (just made) is always kept and counts as one,
// even if the clock went back and older copies carry later times. Copies of
// the other kind are never touched.
func prune(dest, base, kind, current string, keep int) error {
	copies, err := Copies(dest, base)
	if err != nil {
		return fmt.Errorf("%w in %s: %w", ErrPrune, dest, err)
	}
	var others []MovedCopy
	for _, c := range copies {
		if c.Kind == kind && c.Name != current {
			others = append(others, c)
		}
	}
	var errs []error
	for _, c := range others[min(keep-1, len(others)):] {
		if err := os.RemoveAll(filepath.Join(dest, c.Name)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w in %s: %w", ErrPrune, dest, err)
	}
	return nil
}

// Copies lists the entries of dir named <base>.moved-<stamp>[-N] or
// <base>.remnant-<stamp>[-N], newest first.
func Copies(dir, base string) ([]MovedCopy, error) {
	pattern := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `\.(` + KindMoved + `|` + KindRemnant +
		`)-([0-9]{8}T[0-9]{6}Z)(?:-([1-9][0-9]*))?$`)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var copies []MovedCopy
	for _, e := range entries {
		if m := pattern.FindStringSubmatch(e.Name()); m != nil {
			copies = append(copies, MovedCopy{Name: e.Name(), Kind: m[1], stamp: m[2], seq: m[3]})
		}
	}
	sort.Slice(copies, func(i, j int) bool { return copies[i].newerThan(copies[j]) })
	return copies, nil
}
