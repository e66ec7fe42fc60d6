package snapshot

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File is one snapshot file in a directory, as List finds it (not verified).
type File struct {
	Path    string
	Size    int64
	ModTime time.Time
	// TakenAt is the time in the name for the files this package names,
	// else ModTime.
	TakenAt time.Time
	// Own is true for names that FileName makes: the only files Prune
	// removes.
	Own bool
}

// List returns the snapshot files in dir, newest first (by TakenAt, then by
// name): regular files named *.snapshot or *.db, whoever wrote them; not
// subdirectories, symbolic links, or hidden files (Take's temporary files).
// A missing dir holds no snapshots: an empty list, no error.
func List(dir string) ([]File, error) {
	files, err := list(dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshots in %s: %w", dir, err)
	}
	return files, nil
}

func list(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []File
	for _, e := range entries {
		if !isSnapshotName(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, err
		}
		files = append(files, fileOf(dir, fi))
	}
	slices.SortFunc(files, newestFirst)
	return files, nil
}

func isSnapshotName(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".snapshot") || strings.HasSuffix(name, ".db"))
}

func fileOf(dir string, fi fs.FileInfo) File {
	f := File{Path: filepath.Join(dir, fi.Name()), Size: fi.Size(), ModTime: fi.ModTime(), TakenAt: fi.ModTime()}
	if t, ok := parseName(fi.Name()); ok {
		f.TakenAt, f.Own = t, true
	}
	return f
}

func newestFirst(a, b File) int {
	if c := b.TakenAt.Compare(a.TakenAt); c != 0 {
		return c
	}
	return cmp.Compare(b.Path, a.Path)
}

// Prune removes the oldest of the snapshots that this package named in dir
// (FileName's pattern), keeping the newest keep (at least 1), and returns
// the paths it removed, oldest last. Other files in dir are never touched,
// whatever their names. It stops at the first file it cannot remove.
func Prune(dir string, keep int) ([]string, error) {
	removed, err := prune(dir, keep)
	if err != nil {
		return removed, fmt.Errorf("prune snapshots in %s: %w", dir, err)
	}
	return removed, nil
}

func prune(dir string, keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("keep %d: at least 1 snapshot must be kept", keep)
	}
	files, err := list(dir)
	if err != nil {
		return nil, err
	}
	own := slices.DeleteFunc(files, func(f File) bool { return !f.Own })
	if len(own) <= keep {
		return nil, nil
	}
	var removed []string
	for _, f := range own[keep:] {
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, f.Path)
	}
	return removed, syncDir(dir)
}
