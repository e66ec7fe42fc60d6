package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// snapshotDir makes a dir with four snapshots this package named (one
// hour apart from t0), foreign snapshots, and files that are no snapshot.
func snapshotDir(t *testing.T) (dir string, own []string) {
	t.Helper()
	dir = t.TempDir()
	for i := range 4 {
		own = append(own, writeFile(t, dir, FileName(t0.Add(time.Duration(i)*time.Hour)), []byte{byte(i)}))
	}
	old := t0.Add(-24 * time.Hour)
	for _, n := range []string{"manual.db", "etcd-before-upgrade.snapshot", "etcd-20200101T000000Z.snapshot"} {
		setModTime(t, writeFile(t, dir, n, []byte(n)), old)
	}
	for _, n := range []string{"notes.txt", "db", ".hidden.snapshot", partPrefix + "1" + partSuffix} {
		writeFile(t, dir, n, nil)
	}
	if err := os.Mkdir(filepath.Join(dir, "archive.snapshot"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(own[0], filepath.Join(dir, "latest.snapshot")); err != nil {
		t.Fatal(err)
	}
	return dir, own
}

func setModTime(t *testing.T, path string, mt time.Time) {
	t.Helper()
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// TestList: regular *.snapshot and *.db files, newest first, own ones
// marked and timed by their names, foreign ones by their modification time.
func TestList(t *testing.T) {
	dir, own := snapshotDir(t)
	setModTime(t, filepath.Join(dir, "manual.db"), t0.Add(90*time.Minute))
	files, err := List(dir)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f.Path))
		if f.Own != strings.HasPrefix(filepath.Base(f.Path), "etcd-2026") {
			t.Errorf("%s: Own %t", f.Path, f.Own)
		}
	}
	want := []string{
		filepath.Base(own[3]), filepath.Base(own[2]), "manual.db", filepath.Base(own[1]), filepath.Base(own[0]),
		"etcd-before-upgrade.snapshot", "etcd-20200101T000000Z.snapshot",
	}
	if !slices.Equal(got, want) {
		t.Errorf("List = %q; want %q", got, want)
	}
	if f := files[0]; !f.TakenAt.Equal(t0.Add(3*time.Hour)) || f.Size != 1 {
		t.Errorf("newest = %+v; want taken at %v, 1 byte", f, t0.Add(3*time.Hour))
	}
	t.Run("missing dir", func(t *testing.T) {
		files, err := List(filepath.Join(dir, "absent"))
		if err != nil || len(files) != 0 {
			t.Errorf("List(missing) = %v, %v; want nothing, no error", files, err)
		}
	})
}

// TestPrune: the newest keep of this package's snapshots stay, the older
// ones go, and no other file is touched.
func TestPrune(t *testing.T) {
	for _, keep := range []int{1, 2, 4, 10} {
		t.Run(fmt.Sprintf("keep %d", keep), func(t *testing.T) {
			dir, own := snapshotDir(t)
			before := dirNames(t, dir)
			removed, err := Prune(dir, keep)
			if err != nil {
				t.Fatalf("Prune: %v", err)
			}
			var want []string
			for i := len(own) - keep - 1; i >= 0; i-- {
				want = append(want, own[i])
			}
			if !slices.Equal(removed, want) {
				t.Errorf("Prune(%d) removed %q; want %q", keep, removed, want)
			}
			kept := slices.DeleteFunc(before, func(n string) bool { return slices.Contains(want, filepath.Join(dir, n)) })
			if got := dirNames(t, dir); !slices.Equal(got, kept) {
				t.Errorf("dir holds %q; want %q", got, kept)
			}
		})
	}
	t.Run("keep 0", func(t *testing.T) {
		dir, _ := snapshotDir(t)
		before := dirNames(t, dir)
		if _, err := Prune(dir, 0); err == nil || !strings.Contains(err.Error(), "at least 1") {
			t.Errorf("Prune(0) = %v; want a refusal", err)
		}
		if got := dirNames(t, dir); !slices.Equal(got, before) {
			t.Errorf("dir holds %q; want %q", got, before)
		}
	})
}

func TestFileName(t *testing.T) {
	local := time.FixedZone("UTC+2", 2*3600)
	at := time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, local)
	name := FileName(at)
	if name != "etcd-20261231T215959.999Z.snapshot" {
		t.Errorf("FileName = %q", name)
	}
	got, ok := parseName(name)
	if !ok || !got.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("parseName(%q) = %v, %t; want %v", name, got, ok, at.Truncate(time.Millisecond))
	}
	for _, n := range []string{"etcd-20261231T215959Z.snapshot", "etcd-20261231T215959.999Z.db", "xetcd-20261231T215959.999Z.snapshot", "etcd-20261331T215959.999Z.snapshot"} {
		if _, ok := parseName(n); ok {
			t.Errorf("parseName(%q) accepted a name FileName does not make", n)
		}
	}
}
