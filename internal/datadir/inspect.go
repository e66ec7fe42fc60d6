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

// Inspect reports what the etcd data dir holds.
//
// A missing dir, or a tree of directories holding no file at all, is
// plan.DataNone. A first WAL file (in name order) whose crc and metadata
// records decode and check is plan.DataPresent with its IDs. Anything else
// found there is plan.DataUnreadable, with Detail naming what and where.
//
// It returns an error, and no LocalData, when the data dir cannot be looked
// at for reasons that are not about its content (permission denied, EIO, a
// parent that is a file, a dangling symlink, a path that is not a
// directory): such failures must never lead to moving data aside.
func Inspect(dir string) (plan.LocalData, error) {
	exists, err := statDataDir(dir)
	if err != nil {
		return plan.LocalData{}, err
	}
	if !exists {
		return plan.LocalData{Kind: plan.DataNone}, nil
	}
	walPath, problem, err := findWAL(dir)
	switch {
	case err != nil:
		return plan.LocalData{}, err
	case problem != "":
		return plan.LocalData{Kind: plan.DataUnreadable, Detail: problem}, nil
	case walPath == "":
		return inspectNoWAL(dir)
	}
	return inspectWAL(walPath)
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
		return false, fmt.Errorf("inspect data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		if li.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(dir)
			return false, fmt.Errorf("inspect data dir %s: symlink to %q cannot be followed: %w", dir, target, err)
		}
		return false, fmt.Errorf("inspect data dir: %w", err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("inspect data dir %s: not a directory but %s", dir, kindOf(fi.Mode()))
	}
	return true, nil
}

// findWAL returns the first WAL file of dir, or "" if there is none, or a
// problem with the layout (member or member/wal is not a directory).
func findWAL(dir string) (walPath, problem string, err error) {
	walDir := filepath.Join(dir, "member", "wal")
	for _, d := range []string{filepath.Join(dir, "member"), walDir} {
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", "", nil
		case err != nil:
			return "", "", fmt.Errorf("inspect data dir: %w", err)
		case !fi.IsDir():
			return "", fmt.Sprintf("%s is not a directory but %s", d, kindOf(fi.Mode())), nil
		}
	}
	entries, err := os.ReadDir(walDir)
	if err != nil {
		return "", "", fmt.Errorf("inspect data dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		if walName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return "", "", nil
	}
	sort.Strings(names)
	return filepath.Join(walDir, names[0]), "", nil
}

// inspectNoWAL tells an empty tree (DataNone) from one holding files.
func inspectNoWAL(dir string) (plan.LocalData, error) {
	file, err := firstNonDir(dir)
	if err != nil {
		return plan.LocalData{}, err
	}
	if file == "" {
		return plan.LocalData{Kind: plan.DataNone}, nil
	}
	walGlob := filepath.Join(dir, "member", "wal", "*.wal")
	return unreadable("no WAL file (%s) but %s is there", walGlob, file), nil
}

// firstNonDir returns the first entry under dir that is not a directory,
// or "" if there is none.
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
	if err != nil {
		return "", fmt.Errorf("inspect data dir: %w", err)
	}
	return found, nil
}

// inspectWAL decodes the header of one WAL file. It checks the file type
// before opening, so that a FIFO named like a WAL cannot block it.
func inspectWAL(path string) (plan.LocalData, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return plan.LocalData{}, fmt.Errorf("inspect data dir: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return unreadable("%s is not a regular file but %s", path, kindOf(fi.Mode())), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return plan.LocalData{}, fmt.Errorf("inspect data dir: %w", err)
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return plan.LocalData{}, fmt.Errorf("inspect data dir: %w", err)
	}
	h, err := readWALHeader(f, fi.Size())
	var bad *formatError
	if errors.As(err, &bad) {
		return unreadable("%s: %s", path, bad.msg), nil
	}
	if err != nil {
		return plan.LocalData{}, fmt.Errorf("inspect data dir: read %s: %w", path, err)
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
