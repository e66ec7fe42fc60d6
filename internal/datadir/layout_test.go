package datadir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// TestInspectWALDir: with etcd's wal-dir set, the WAL lives there and the
// backend in the data dir; both must be there for the data to be usable.
func TestInspectWALDir(t *testing.T) {
	good := walBytes(0, 0x8e9e05c52164694d, 0xcdf818194e3a8c32)
	tests := []struct {
		name       string
		data, wal  map[string][]byte // nil: the dir does not exist
		kind       plan.DataKind
		detail     string
		member     uint64
		errMessage string
	}{
		{"both there", map[string][]byte{"member/snap/db": {1}}, map[string][]byte{firstWAL: good}, plan.DataPresent, "", 0x8e9e05c52164694d, ""},
		{"both missing", nil, nil, plan.DataNone, "", 0, ""},
		{"both empty", map[string][]byte{}, map[string][]byte{}, plan.DataNone, "", 0, ""},
		{"data dir lost", nil, map[string][]byte{firstWAL: good}, plan.DataUnreadable,
			"the WAL in {wal} belongs to member 8e9e05c52164694d, but the data dir has no {data}/member: one of the two dirs was lost", 0, ""},
		{"wal dir lost", map[string][]byte{"member/snap/db": {1}}, nil, plan.DataUnreadable,
			"no WAL file ({wal}/*.wal) but {data}/member/snap/db is there", 0, ""},
		{"wal dir emptied", map[string][]byte{"member/snap/db": {1}}, map[string][]byte{}, plan.DataUnreadable,
			"no WAL file ({wal}/*.wal) but {data}/member/snap/db is there", 0, ""},
		{"only a stray file in the wal dir", nil, map[string][]byte{"notes": {1}}, plan.DataUnreadable,
			"but {wal}/notes is there", 0, ""},
		{"WAL left in the data dir while wal-dir is set", map[string][]byte{"member/wal/" + firstWAL: good, "member/snap/db": {1}}, nil, "", "", 0,
			"{data}/member/wal holds WAL files but wal-dir is set to {wal}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			l := Layout{DataDir: filepath.Join(parent, "data"), WALDir: filepath.Join(parent, "wal")}
			writeTree(t, l.DataDir, tt.data)
			writeTree(t, l.WALDir, tt.wal)
			got, err := Inspect(l)
			expand := strings.NewReplacer("{data}", l.DataDir, "{wal}", l.WALDir)
			if tt.errMessage != "" {
				if err == nil || !strings.Contains(err.Error(), expand.Replace(tt.errMessage)) {
					t.Fatalf("Inspect = %+v, %v; want an error containing %q", got, err, expand.Replace(tt.errMessage))
				}
				return
			}
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			checkData(t, "", got, tt.kind, expand.Replace(tt.detail), tt.member)
		})
	}
}

// writeTree creates dir holding entries (nil: dir is not created).
func writeTree(t *testing.T, dir string, entries map[string][]byte) {
	t.Helper()
	if entries == nil {
		return
	}
	mustMkdir(t, dir)
	for name, b := range entries {
		p := filepath.Join(dir, name)
		mustMkdir(t, filepath.Dir(p))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// boltDB writes an etcd-like backend at path with n keys in the "key" bucket.
func boltDB(t *testing.T, path string, n int) {
	t.Helper()
	mustMkdir(t, filepath.Dir(path))
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"key", "meta", "members"} {
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if name != "key" {
				continue
			}
			for i := 0; i < n; i++ {
				if err := b.Put([]byte{0, 0, 0, 0, 0, 0, 0, byte(i + 1)}, []byte("v")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMoveAsideRemnants: what a start refused by etcd leaves (an empty
// backend, a preallocated WAL) is moved aside as a remnant, which never
// counts against keep-backups; anything that may hold data is a real copy.
func TestMoveAsideRemnants(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		kind  string
	}{
		{"empty backend", func(t *testing.T, dir string) { boltDB(t, filepath.Join(dir, "member", "snap", "db"), 0) }, KindRemnant},
		{"empty backend and preallocated WAL", func(t *testing.T, dir string) {
			boltDB(t, filepath.Join(dir, "member", "snap", "db"), 0)
			writeFile(t, filepath.Join(mustDir(t, dir, "member", "wal"), "0.tmp"), strings.Repeat("\x00", 4096))
		}, KindRemnant},
		{"backend with keys, WAL lost", func(t *testing.T, dir string) { boltDB(t, filepath.Join(dir, "member", "snap", "db"), 3) }, KindMoved},
		// bbolt would map the missing pages and die of SIGBUS reading them
		// (the fault campaign's truncate-db): a backend it cannot prove
		// empty, moved aside as a real copy.
		{"backend truncated below its pages", func(t *testing.T, dir string) {
			db := filepath.Join(dir, "member", "snap", "db")
			boltDB(t, db, 3)
			// Mid-page 3 of the 6 or more the database needs: what the
			// campaign's truncation left (15543 of 24576 bytes).
			if err := os.Truncate(db, 15543); err != nil {
				t.Fatal(err)
			}
		}, KindMoved},
		{"unreadable backend", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(mustDir(t, dir, "member", "snap"), "db"), "not a bolt file")
		}, KindMoved},
		{"a raft snapshot beside an empty backend", func(t *testing.T, dir string) {
			boltDB(t, filepath.Join(dir, "member", "snap", "db"), 0)
			writeFile(t, filepath.Join(dir, "member", "snap", "0000000000000002-0000000000000010.snap"), "snap")
		}, KindMoved},
		{"a WAL", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(mustDir(t, dir, "member", "wal"), firstWAL), "wal")
		}, KindMoved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "etcd")
			tt.setup(t, dir)
			m, err := MoveAside(Layout{DataDir: dir}, "", 1, moveTime)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(parent, "etcd."+tt.kind+"-"+moveStamp); m.Kind != tt.kind || m.DataDir != want {
				t.Fatalf("moved = %+v, want kind %s at %s", m, tt.kind, want)
			}
		})
	}
}

func mustDir(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(parts...)
	mustMkdir(t, p)
	return p
}

// TestRemnantsNeverPruneRealCopies: failed starts, one after the other, make
// remnants; the one real copy that held the member's data stays, whatever
// keep-backups is (issue: three failures pruned the only real copy).
func TestRemnantsNeverPruneRealCopies(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "etcd")
	writeFile(t, filepath.Join(mustDir(t, dir, "member", "wal"), firstWAL), "wal")
	real, err := moveDir(dir, "", 1, moveTime)
	if err != nil {
		t.Fatal(err)
	}
	var remnants []string
	for i := 1; i <= 4; i++ {
		boltDB(t, filepath.Join(dir, "member", "snap", "db"), 0)
		m, err := MoveAside(Layout{DataDir: dir}, "", 1, moveTime.Add(timeStep(i)))
		if err != nil || m.Kind != KindRemnant {
			t.Fatalf("failed start %d: moved %+v, %v; want a remnant", i, m, err)
		}
		remnants = append(remnants, filepath.Base(m.DataDir))
	}
	want := []string{filepath.Base(real), remnants[len(remnants)-1]}
	slices.Sort(want)
	if got := listDir(t, parent); !slices.Equal(got, want) {
		t.Fatalf("left %v, want the real copy and the newest remnant %v", got, want)
	}
	checkMovedWAL(t, real)
	copies, err := Copies(parent, "etcd")
	if err != nil || len(copies) != 2 || copies[0].Kind != KindRemnant || copies[1].Kind != KindMoved {
		t.Fatalf("Copies = %+v, %v; want the remnant (newest) then the real copy", copies, err)
	}
}

func checkMovedWAL(t *testing.T, dir string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dir, "member", "wal", firstWAL)); err != nil || string(b) != "wal" {
		t.Fatalf("real copy %s lost its WAL: %q, %v", dir, b, err)
	}
}

// TestMoveAsideWALDir: a member with a wal-dir has both dirs moved aside
// together, under the same stamp, each next to itself, and pruned alike.
func TestMoveAsideWALDir(t *testing.T) {
	parent := t.TempDir()
	walDisk := mustDir(t, parent, "waldisk")
	l := Layout{DataDir: filepath.Join(parent, "data", "etcd"), WALDir: filepath.Join(walDisk, "wal")}
	for i := 0; i < 3; i++ {
		boltDB(t, filepath.Join(l.DataDir, "member", "snap", "db"), 2)
		writeFile(t, filepath.Join(mustDir(t, l.WALDir), firstWAL), "wal")
		m, err := MoveAside(l, "", 2, moveTime.Add(timeStep(i)))
		if err != nil {
			t.Fatal(err)
		}
		stamp := moveTime.Add(timeStep(i)).UTC().Format(MovedTimeLayout)
		wantData := filepath.Join(parent, "data", "etcd.moved-"+stamp)
		wantWAL := filepath.Join(walDisk, "wal.moved-"+stamp)
		if m.Kind != KindMoved || m.DataDir != wantData || m.WALDir != wantWAL {
			t.Fatalf("move %d = %+v, want %s and %s", i, m, wantData, wantWAL)
		}
		if b, err := os.ReadFile(filepath.Join(wantWAL, firstWAL)); err != nil || string(b) != "wal" {
			t.Fatalf("moved WAL: %q, %v", b, err)
		}
	}
	for dir, base := range map[string]string{filepath.Join(parent, "data"): "etcd", walDisk: "wal"} {
		copies, err := Copies(dir, base)
		if err != nil || len(copies) != 2 {
			t.Errorf("%s keeps %+v, %v; want the newest 2 copies", dir, copies, err)
		}
	}
	if d, err := Inspect(l); err != nil || d.Kind != plan.DataNone {
		t.Errorf("after the move Inspect = %+v, %v; want none", d, err)
	}
}

// timeStep is i seconds: successive moves get successive stamps.
func timeStep(i int) time.Duration { return time.Duration(i) * time.Second }
