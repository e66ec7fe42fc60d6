package faults

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// Data faults, done to a member's disk while its unit is stopped. Each says
// what it did, for the log.

// walDirOf is where m's WAL files are.
func walDirOf(m *Member) string {
	if m.WalDir != "" {
		return m.WalDir
	}
	return filepath.Join(m.DataDir, "member", "wal")
}

func walFiles(m *Member) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(walDirOf(m), "*.wal"))
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("%s has no WAL file in %s", m.Name, walDirOf(m))
	}
	sort.Strings(names)
	return names, nil
}

// usedLen is the length of f up to its last non-zero byte: WAL files are
// preallocated with zeros, and only what precedes them was written.
func usedLen(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return int64(len(bytes.TrimRight(b, "\x00"))), nil
}

// removeDir takes dir off the disk for good: the ledger is told first, so
// that it does not count the removal against the product.
func removeDir(m *Member, dir string) error {
	m.Ledger.Release(dir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// wipe deletes m's data dir (and wal dir): the disk was lost.
func wipe(m *Member) (string, error) {
	if err := removeDir(m, m.DataDir); err != nil {
		return "", err
	}
	if m.WalDir != "" {
		if err := removeDir(m, m.WalDir); err != nil {
			return "", err
		}
	}
	return "deleted the data dir", nil
}

// truncateWAL cuts the last WAL file somewhere in what was written
// ("tail": a torn write), or the first one inside its header ("head").
func truncateWAL(m *Member, r *rand.Rand, variant string) (string, error) {
	files, err := walFiles(m)
	if err != nil {
		return "", err
	}
	f, size := files[len(files)-1], int64(0)
	if variant == "head" {
		f = files[0]
		size = 1 + r.Int64N(40)
	} else {
		used, err := usedLen(f)
		if err != nil {
			return "", err
		}
		if used < 2 {
			return "", fmt.Errorf("%s is empty", f)
		}
		size = used/2 + r.Int64N(used-used/2)
	}
	if err := os.Truncate(f, size); err != nil {
		return "", fmt.Errorf("truncate %s: %w", f, err)
	}
	return fmt.Sprintf("truncated %s to %d bytes", filepath.Base(f), size), nil
}

// dbPath is m's backend database.
func dbPath(m *Member) string { return filepath.Join(m.DataDir, "member", "snap", "db") }

// truncateDB cuts the bbolt database below its high-water mark (the page
// count its meta page records), so that pages it holds are gone; cutting
// only the preallocated tail would change nothing.
func truncateDB(m *Member, r *rand.Rand) (string, error) {
	b := make([]byte, 64)
	f, err := os.Open(dbPath(m))
	if err != nil {
		return "", fmt.Errorf("truncate db: %w", err)
	}
	_, err = f.ReadAt(b, 0)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("truncate db: read meta page: %w", err)
	}
	// Page header (16 bytes), then the meta: magic, version, page size,
	// flags (4 bytes each), root bucket (16), freelist page (8), page count.
	pageSize := int64(binary.LittleEndian.Uint32(b[24:28]))
	hwm := int64(binary.LittleEndian.Uint64(b[56:64])) * pageSize
	if pageSize == 0 || hwm <= 4*pageSize {
		return "", fmt.Errorf("truncate db: implausible meta page (page size %d, high-water mark %d)", pageSize, hwm)
	}
	size := 2*pageSize + r.Int64N(hwm-3*pageSize)
	if err := os.Truncate(dbPath(m), size); err != nil {
		return "", fmt.Errorf("truncate db: %w", err)
	}
	return fmt.Sprintf("truncated db to %d bytes, below its %d bytes of pages", size, hwm), nil
}

// flipBit inverts one bit at off in path.
func flipBit(path string, off int64, bit uint) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("flip bit: %w", err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return fmt.Errorf("flip bit in %s at %d: %w", path, off, err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, off); err != nil {
		return fmt.Errorf("flip bit in %s at %d: %w", path, off, err)
	}
	return nil
}

// bitflipWAL flips one bit in a written record of a WAL file ("record"),
// or in one of the last records written ("late"), where etcd's CRCs catch
// it, or in the header records ("head").
func bitflipWAL(m *Member, r *rand.Rand, variant string) (string, error) {
	files, err := walFiles(m)
	if err != nil {
		return "", err
	}
	f := files[r.IntN(len(files))]
	used, err := usedLen(f)
	if err != nil {
		return "", err
	}
	var off int64
	switch {
	case variant == "head":
		f = files[0]
		off = 8 + r.Int64N(24)
	case used <= 64:
		return "", fmt.Errorf("%s holds no record past its header", f)
	case variant == "late":
		f = files[len(files)-1]
		if used, err = usedLen(f); err != nil || used <= 256 {
			return "", fmt.Errorf("%s holds too little to flip a late record (%d bytes, %v)", f, used, err)
		}
		off = used - 64 - r.Int64N(128)
	default:
		off = 64 + r.Int64N(used-64)
	}
	bit := uint(r.IntN(8))
	if err := flipBit(f, off, bit); err != nil {
		return "", err
	}
	return fmt.Sprintf("flipped bit %d of byte %d of %s", bit, off, filepath.Base(f)), nil
}

// bitflipDB flips a bit in the checksummed part of both bbolt meta pages
// (pages 0 and 1, 4 KiB each): bbolt refuses the file, as opposed to a flip
// in a data page, which nothing in etcd would notice and which is not a
// fault etcd-rejoin can be asked to handle.
func bitflipDB(m *Member, r *rand.Rand) (string, error) {
	off := int64(16 + r.IntN(48))
	bit := uint(r.IntN(8))
	for _, page := range []int64{0, 4096} {
		if err := flipBit(dbPath(m), page+off, bit); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("flipped bit %d of byte %d of both bbolt meta pages", bit, off), nil
}

// copyTree copies src to dst (which must not exist) with cp, keeping holes.
func copyTree(src, dst string) error {
	out, err := exec.Command("cp", "-a", "--sparse=always", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w: %s", src, dst, err, out)
	}
	return nil
}

// replaceData puts a copy of a data dir (srcData, with its WAL in srcWal
// when that is not "") where m's data is, with the WAL where m keeps it.
func replaceData(m *Member, srcData, srcWal, what string) (string, error) {
	if _, err := wipe(m); err != nil {
		return "", err
	}
	if err := copyTree(srcData, m.DataDir); err != nil {
		return "", err
	}
	from := srcWal
	if from == "" {
		from = filepath.Join(m.DataDir, "member", "wal")
	}
	to := walDirOf(m)
	if from == to {
		return "replaced the data dir with " + what, nil
	}
	if srcWal == "" {
		if err := os.Rename(from, to); err != nil {
			return "", fmt.Errorf("move the copy's WAL to %s: %w", to, err)
		}
	} else if err := copyTree(srcWal, to); err != nil {
		return "", err
	}
	return "replaced the data with " + what, nil
}

// loseDir deletes one of a wal-dir member's two dirs.
func loseDir(m *Member, dir string) (string, error) {
	if m.WalDir == "" {
		return "", errors.New(m.Name + " keeps no separate wal dir")
	}
	if err := removeDir(m, dir); err != nil {
		return "", err
	}
	return "deleted " + dir, nil
}
