package snapshot

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// TestVerify: Verify of a snapshot from a real member reports the revision
// and live keys written, and the same hash, revision, size and key count as
// etcd's own tool (which counts live keys from 3.6 on, entries before).
func TestVerify(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, host int) {
		c, w, info := snapshotOf(t, v, netVerify, host)
		if info.Revision != w.revision || info.TotalKeys != len(w.values) {
			t.Errorf("Info revision %d, keys %d; wrote up to revision %d, %d live keys", info.Revision, info.TotalKeys, w.revision, len(w.values))
		}
		if !info.SHA256 || info.Size != info.DBSize+32 {
			t.Errorf("Info SHA256 %t, size %d, db size %d; want a checked trailer of 32 bytes", info.SHA256, info.Size, info.DBSize)
		}
		again, err := Verify(info.Path)
		if err != nil || again != info {
			t.Errorf("Verify = %+v, %v; want what Take returned, %+v", again, err, info)
		}
		tool := toolFor(t, v)
		got := toolStatus(t, tool, info.Path)
		want := toolStatusJSON{Hash: info.Hash, Revision: info.Revision, TotalKey: info.Entries, TotalSize: info.DBSize}
		if v.Name >= "3.6" {
			want.TotalKey = info.TotalKeys
		}
		if got != want {
			t.Errorf("%s snapshot status = %+v; Verify found %+v", tool, got, want)
		}
		t.Run("database of a running member", func(t *testing.T) {
			db := filepath.Join(c.Nodes[0].DataDir, "member", "snap", "db")
			_, err := Verify(db)
			if err == nil || !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), db) {
				t.Errorf("Verify(live db) = %v; want a lock error naming %s", err, db)
			}
		})
	})
}

type toolStatusJSON struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
}

// toolStatus runs `<tool> snapshot status -w json` on path.
func toolStatus(t *testing.T, tool Tool, path string) toolStatusJSON {
	t.Helper()
	cmd := exec.Command(tool.Path, "snapshot", "status", "-w", "json", path)
	cmd.Env = toolEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s snapshot status: %v\n%s", tool, err, out)
	}
	var st toolStatusJSON
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("%s snapshot status: %v in %q", tool, err, out)
	}
	return st
}

// TestVerifyRefuses: damaged files and files that are no snapshot are
// refused, with the path and the reason; a missing file is no ErrCorrupt.
func TestVerifyRefuses(t *testing.T) {
	v := testetcd.Versions(t)[0]
	_, _, info := snapshotOf(t, v, netVerify, 10)
	good, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	size := len(good)
	dir := t.TempDir()
	rows := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"truncated by one byte", good[:size-1], "no whole number"},
		{"truncated to half", good[:size/2], "truncated"},
		{"truncated to a trailer-like size", good[:size-4096], "sha256 trailer does not match"},
		{"truncated to one page", good[:4096], "truncated"},
		{"bit flipped in the data", flip(good, size/2), "sha256 trailer does not match"},
		{"bit flipped in the trailer", flip(good, size-1), "sha256 trailer does not match"},
		{"bit flipped in the meta page", flip(good, 20), "sha256 trailer does not match"},
		{"empty", nil, "no valid bbolt meta page"},
		{"text", []byte("just some notes\n"), "no valid bbolt meta page"},
		{"zeros of a snapshot's size", make([]byte, size), "sha256 trailer does not match"},
		{"zeros of whole pages", make([]byte, 8192), "no valid bbolt meta page"},
		{"plain database truncated by a page", good[:size-32-4096], "truncated"},
		{"plain database with damaged pages", damagePages(good[:size-32]), "reading the database failed"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(r.name, " ", "-")+".snapshot", r.data)
			_, err := Verify(p)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), r.reason) || !strings.Contains(err.Error(), p) {
				t.Errorf("Verify = %v; want ErrCorrupt naming %s and %q", err, p, r.reason)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		_, err := Verify(dir)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Verify(dir) = %v; want ErrCorrupt, not a regular file", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := Verify(filepath.Join(dir, "absent.snapshot"))
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt) {
			t.Errorf("Verify(missing) = %v; want ErrNotExist, not ErrCorrupt", err)
		}
	})
	t.Run("plain database without trailer", func(t *testing.T) {
		p := writeFile(t, dir, "plain.db", good[:size-32])
		got, err := Verify(p)
		want := info
		want.Path, want.Size, want.SHA256, want.TakenAt = p, int64(size-32), false, got.TakenAt
		if err != nil || got != want {
			t.Errorf("Verify = %+v, %v; want %+v", got, err, want)
		}
	})
}

// flip returns a copy of b with bit 0 of byte i flipped.
func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

// damagePages returns a copy of a database with every page after the two
// meta pages overwritten with 0xff.
func damagePages(db []byte) []byte {
	c := append([]byte(nil), db...)
	for i := 2 * 4096; i < len(c); i++ {
		c[i] = 0xff
	}
	return c
}
