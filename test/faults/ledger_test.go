package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeDataDir creates a data dir holding a WAL (the fixture) at root/name.
func makeDataDir(t *testing.T, root, name string) string {
	t.Helper()
	head, err := os.ReadFile(filepath.Join("testdata", "etcd-3.6.wal-header"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "member", "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "member", "wal", "0000000000000000-0000000000000000.wal"), head, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// makeRemnant creates what a refused start leaves: a db, no WAL.
func makeRemnant(t *testing.T, root, name string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "member", "snap"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "member", "snap", "db"), []byte("db"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func noProblems(t *testing.T, l *Ledger, healthy bool) {
	t.Helper()
	if p := l.Check(healthy); len(p) > 0 {
		t.Fatalf("unexpected problems: %v", p)
	}
}

func TestLedgerRetention(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "data")
	l := NewLedger("m1", root, []string{live}, 2)
	moved := func(i int) string { return filepath.Join(root, "data.moved-"+string(rune('a'+i))) }

	// Three generations of data, each moved aside by "the product".
	for i := 0; i < 3; i++ {
		makeDataDir(t, root, "data")
		noProblems(t, l, true)
		mustRename(t, live, moved(i))
		noProblems(t, l, false)
	}
	if l.Moves() != 3 {
		t.Errorf("moves %d, want 3", l.Moves())
	}
	// The oldest may go: two newer copies remain (keep 2).
	if err := os.RemoveAll(moved(0)); err != nil {
		t.Fatal(err)
	}
	noProblems(t, l, false)
	// The next one may not: only one copy was moved after it.
	if err := os.RemoveAll(moved(1)); err != nil {
		t.Fatal(err)
	}
	p := strings.Join(l.Check(false), "\n")
	if !strings.Contains(p, "data.moved-b") || !strings.Contains(p, "keep-backups 2") {
		t.Errorf("want a problem naming data.moved-b and the retention, got %q", p)
	}
}

func TestLedgerRemnantsDoNotCount(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "data")
	l := NewLedger("m1", root, []string{live}, 1)
	makeDataDir(t, root, "data")
	noProblems(t, l, true)
	mustRename(t, live, filepath.Join(root, "data.moved-1"))
	noProblems(t, l, false)
	// Failed starts leave remnants that are moved aside after the copy.
	for _, n := range []string{"data.moved-2", "data.moved-3"} {
		makeRemnant(t, root, "data")
		noProblems(t, l, false)
		mustRename(t, live, filepath.Join(root, n))
		noProblems(t, l, false)
	}
	if err := os.RemoveAll(filepath.Join(root, "data.moved-1")); err != nil {
		t.Fatal(err)
	}
	if p := l.Check(false); len(p) != 1 || !strings.Contains(p[0], "data.moved-1") {
		t.Errorf("pruning the only real copy in favour of remnants: want one problem, got %v", p)
	}
	// Remnants themselves may go.
	if err := os.RemoveAll(filepath.Join(root, "data.moved-2")); err != nil {
		t.Fatal(err)
	}
	noProblems(t, l, false)
}

func TestLedgerLiveAndReleased(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "data")
	wal := filepath.Join(root, "wal")
	l := NewLedger("m3", root, []string{live, wal}, 3)

	// A wal-dir member's data dir holds no WAL: it counts once the member
	// was healthy on it.
	makeRemnant(t, root, "data")
	noProblems(t, l, false)
	noProblems(t, l, true)
	if err := os.RemoveAll(live); err != nil {
		t.Fatal(err)
	}
	if p := l.Check(false); len(p) != 1 || !strings.Contains(p[0], "live copy") {
		t.Errorf("deleting the live data: want one problem, got %v", p)
	}

	// What the campaign removes itself is no problem.
	makeDataDir(t, root, "data")
	noProblems(t, l, false)
	l.Release(live)
	if err := os.RemoveAll(live); err != nil {
		t.Fatal(err)
	}
	noProblems(t, l, false)
}
