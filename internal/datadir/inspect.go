// Package datadir looks at the local etcd data dir (what member and cluster
// its WAL belongs to), moves a data dir aside with bounded retention, and
// keeps etcd-rejoin's own state file.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// walName is how etcd names WAL files: <seq>-<index>.wal in hex.
var walName = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{16}\.wal$`)

// Layout says where a member's data lives: the data dir and, when etcd's
// wal-dir is set, the separate WAL dir. etcd writes its WAL files directly
// into wal-dir, and into <data-dir>/member/wal otherwise.
type Layout struct {
	DataDir string
	WALDir  string // "": <DataDir>/member/wal
}

// WAL returns the directory that holds the WAL files.
func (l Layout) WAL() string {
	if l.WALDir != "" {
		return l.WALDir
	}
	return filepath.Join(l.DataDir, "member", "wal")
}

// Inspect reports what the member's data holds.
//
// A missing dir, or a tree of directories holding no file at all, is
// plan.DataNone. A first WAL file (in name order) whose crc and metadata
// records decode and check is plan.DataPresent with its IDs; with a wal-dir,
// the data dir must then hold etcd's member directory too. Anything else
// found there is plan.DataUnreadable, with Detail naming what and where.
//
// It returns an error, and no LocalData, when the data cannot be looked at
// for reasons that are not about its content (permission denied, EIO, a
// parent that is a file, a dangling symlink, a path that is not a directory,
// a WAL in the data dir while wal-dir points elsewhere): such failures must
// never lead to moving data aside.
func Inspect(l Layout) (plan.LocalData, error) {
	dataExists, err := statDataDir(l.DataDir)
	if err != nil {
		return plan.LocalData{}, err
	}
	walExists := dataExists
	if l.WALDir != "" {
		if walExists, err = statDataDir(l.WALDir); err != nil {
			return plan.LocalData{}, err
		}
		if err := checkNoInnerWAL(l, dataExists); err != nil {
			return plan.LocalData{}, err
		}
	}
	walPath, problem := "", ""
	if walExists {
		if walPath, problem, err = findWAL(l); err != nil {
			return plan.LocalData{}, err
		}
	}
	switch {
	case problem != "":
		return plan.LocalData{Kind: plan.DataUnreadable, Detail: problem}, nil
	case walPath == "":
		return inspectNoWAL(l)
	}
	d, err := inspectWAL(walPath)
	if err != nil || d.Kind != plan.DataPresent || l.WALDir == "" {
		return d, err
	}
	return checkDataBesideWAL(l, d)
}

func unreadable(format string, args ...any) plan.LocalData {
	return plan.LocalData{Kind: plan.DataUnreadable, Detail: fmt.Sprintf(format, args...)}
}

// statDataDir reports whether dir exists. A dangling symlink, or a path that
// is there but is not a directory, is an error: it points at a mount or
// configuration problem, not at data to replace.
func statDataDir(dir string) (bool, error) {
	li, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		if li.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(dir)
			return false, fmt.Errorf("%s: symlink to %q cannot be followed: %w", dir, target, err)
		}
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s: not a directory but %s", dir, kindOf(fi.Mode()))
	}
	return true, nil
}

// checkNoInnerWAL refuses a data dir that holds WAL files in member/wal
// while wal-dir points elsewhere: etcd would not find them and would start
// the member as a new one. That is a configuration mistake, not data to move.
func checkNoInnerWAL(l Layout, dataExists bool) error {
	if !dataExists {
		return nil
	}
	inner := filepath.Join(l.DataDir, "member", "wal")
	if names, err := walFiles(inner); err != nil || len(names) == 0 {
		return nil // nothing readable there: the normal inspection decides
	}
	return fmt.Errorf("%s holds WAL files but wal-dir is set to %s, where etcd would look for them: "+
		"move them there or unset wal-dir", inner, l.WALDir)
}

// findWAL returns the first WAL file, or "" if there is none, or a problem
// with the layout (member or member/wal is not a directory).
func findWAL(l Layout) (walPath, problem string, err error) {
	dirs := []string{l.WALDir}
	if l.WALDir == "" {
		dirs = []string{filepath.Join(l.DataDir, "member"), l.WAL()}
	}
	for _, d := range dirs {
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", "", nil
		case err != nil:
			return "", "", err
		case !fi.IsDir():
			return "", fmt.Sprintf("%s is not a directory but %s", d, kindOf(fi.Mode())), nil
		}
	}
	names, err := walFiles(l.WAL())
	if err != nil || len(names) == 0 {
		return "", "", err
	}
	return filepath.Join(l.WAL(), names[0]), "", nil
}

// walFiles lists the names of the WAL files in dir, sorted.
func walFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if walName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// inspectNoWAL tells empty trees (DataNone) from ones holding files.
func inspectNoWAL(l Layout) (plan.LocalData, error) {
	for _, dir := range l.dirs() {
		file, err := firstNonDir(dir)
		if err != nil {
			return plan.LocalData{}, err
		}
		if file != "" {
			return unreadable("no WAL file (%s) but %s is there", filepath.Join(l.WAL(), "*.wal"), file), nil
		}
	}
	return plan.LocalData{Kind: plan.DataNone}, nil
}

// dirs lists the layout's directories: the data dir, and the WAL dir when
// it is a separate one.
func (l Layout) dirs() []string {
	if l.WALDir == "" {
		return []string{l.DataDir}
	}
	return []string{l.DataDir, l.WALDir}
}

// checkDataBesideWAL: with a wal-dir, a WAL is usable only with the data
// dir's member directory (the backend and raft snapshots) beside it.
func checkDataBesideWAL(l Layout, d plan.LocalData) (plan.LocalData, error) {
	member := filepath.Join(l.DataDir, "member")
	fi, err := os.Stat(member)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return unreadable("the WAL in %s belongs to member %s, but the data dir has no %s: one of the two dirs was lost",
			l.WALDir, plan.HexID(d.MemberID), member), nil
	case err != nil:
		return plan.LocalData{}, err
	case !fi.IsDir():
		return unreadable("%s is not a directory but %s", member, kindOf(fi.Mode())), nil
	}
	return d, nil
}

// firstNonDir returns the first entry under dir that is not a directory,
// or "" if there is none (or dir does not exist).
func firstNonDir(dir string) (string, error) {
	var found string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			found = path
			return fs.SkipAll
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) && found == "" {
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return "", nil
		}
	}
	if err != nil {
		return "", err
	}
	return found, nil
}

// inspectWAL decodes the header of one WAL file. It checks the file type
// before opening, so that a FIFO named like a WAL cannot block it.
func inspectWAL(path string) (plan.LocalData, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return plan.LocalData{}, err
	}
	if !fi.Mode().IsRegular() {
		return unreadable("%s is not a regular file but %s", path, kindOf(fi.Mode())), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return plan.LocalData{}, err
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return plan.LocalData{}, err
	}
	h, err := readWALHeader(f, fi.Size())
	var bad *formatError
	if errors.As(err, &bad) {
		return unreadable("%s: %s", path, bad.msg), nil
	}
	if err != nil {
		return plan.LocalData{}, fmt.Errorf("read %s: %w", path, err)
	}
	return plan.LocalData{Kind: plan.DataPresent, MemberID: h.MemberID, ClusterID: h.ClusterID}, nil
}

// kindOf names a file type for messages.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file (" + m.Type().String() + ")"
}
