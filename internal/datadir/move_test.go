package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var moveTime = time.Date(2024, 3, 5, 6, 7, 8, 0, time.FixedZone("CET", 3600))

const moveStamp = "20240305T050708Z" // moveTime in UTC

// newDataDir makes parent/etcd holding two files and returns its path.
func newDataDir(t *testing.T, parent string) string {
	t.Helper()
	dir := filepath.Join(parent, "etcd")
	mustMkdir(t, filepath.Join(dir, "member", "wal"))
	writeFile(t, filepath.Join(dir, "member", "wal", firstWAL), "wal")
	writeFile(t, filepath.Join(dir, "member", "snap-db"), "db")
	return dir
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func checkContent(t *testing.T, dir string) {
	t.Helper()
	for name, want := range map[string]string{"member/wal/" + firstWAL: "wal", "member/snap-db": "db"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s/%s = %q, %v; want %q", dir, name, got, err, want)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestMoveAsideRenames(t *testing.T) {
	parent := t.TempDir()
	dir := newDataDir(t, parent)
	got, err := moveDir(dir, "", 3, moveTime)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(parent, "etcd.moved-"+moveStamp)
	if got != want {
		t.Fatalf("MoveAside = %q, want %q", got, want)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir still there after move: %v", err)
	}
	checkContent(t, got)
}

func TestMoveAsideMissingDir(t *testing.T) {
	got, err := moveDir(filepath.Join(t.TempDir(), "etcd"), "", 1, moveTime)
	if got != "" || err != nil {
		t.Fatalf("MoveAside(missing) = %q, %v; want \"\", nil", got, err)
	}
}

func TestMoveAsideBackupDir(t *testing.T) {
	tmp := t.TempDir()
	dir := newDataDir(t, filepath.Join(tmp, "lib"))
	backups := filepath.Join(tmp, "backups")
	mustMkdir(t, backups)
	got, err := moveDir(dir, backups, 1, moveTime)
	if err != nil || got != filepath.Join(backups, "etcd.moved-"+moveStamp) {
		t.Fatalf("MoveAside = %q, %v", got, err)
	}
	checkContent(t, got)
	if names := listDir(t, filepath.Join(tmp, "lib")); len(names) != 0 {
		t.Fatalf("data dir's parent still holds %v", names)
	}
}

func TestMoveAsideCollision(t *testing.T) {
	parent := t.TempDir()
	// An empty directory of the same name: a plain rename(2) would replace it.
	mustMkdir(t, filepath.Join(parent, "etcd.moved-"+moveStamp))
	mustMkdir(t, filepath.Join(parent, "etcd.moved-"+moveStamp+"-1"))
	writeFile(t, filepath.Join(parent, "etcd.moved-"+moveStamp+"-1", "keep"), "x")
	dir := newDataDir(t, parent)
	got, err := moveDir(dir, "", 5, moveTime)
	if err != nil || got != filepath.Join(parent, "etcd.moved-"+moveStamp+"-2") {
		t.Fatalf("MoveAside = %q, %v; want the -2 suffix", got, err)
	}
	checkContent(t, got)
	if names := listDir(t, filepath.Join(parent, "etcd.moved-"+moveStamp)); len(names) != 0 {
		t.Errorf("the empty copy now holds %v", names)
	}
	if b, err := os.ReadFile(filepath.Join(parent, "etcd.moved-"+moveStamp+"-1", "keep")); err != nil || string(b) != "x" {
		t.Errorf("the -1 copy changed: %q, %v", b, err)
	}
}

func TestMoveAsideRetention(t *testing.T) {
	unrelated := []string{
		"etcd2.moved-20200101T000000Z", "etcd.moved-20200101T000000Z.bak", "etcd.moved-garbage",
		"etcd.moved-20200101T000000Z-0", "other", "etcd-old",
	}
	tests := []struct {
		name     string
		existing []string
		keep     int
		want     []string // moved copies left besides the new one
	}{
		{"keep newest 3", []string{"20200101T000000Z", "20210101T000000Z", "20220101T000000Z", "20230101T000000Z"}, 3,
			[]string{"20220101T000000Z", "20230101T000000Z"}},
		{"suffix order is numeric", []string{"20230101T000000Z-9", "20230101T000000Z-10", "20230101T000000Z"}, 2,
			[]string{"20230101T000000Z-10"}},
		{"keep 0 is 1", []string{"20200101T000000Z", "20230101T000000Z"}, 0, nil},
		{"keep -5 is 1", []string{"20230101T000000Z"}, -5, nil},
		{"clock went back: the new copy stays", []string{"20300101T000000Z", "20310101T000000Z"}, 2,
			[]string{"20310101T000000Z"}},
		{"fewer than keep", []string{"20200101T000000Z"}, 5, []string{"20200101T000000Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			for _, s := range tt.existing {
				mustMkdir(t, filepath.Join(parent, "etcd.moved-"+s, "member"))
			}
			for _, u := range unrelated {
				writeFile(t, filepath.Join(parent, u), u)
			}
			live := newDataDir(t, filepath.Join(parent, "live-sibling")) // another data dir next to it
			got, err := moveDir(newDataDir(t, parent), "", tt.keep, moveTime)
			if err != nil {
				t.Fatal(err)
			}
			checkContent(t, got)
			checkContent(t, live)
			want := []string{filepath.Base(got), "live-sibling"}
			for _, s := range tt.want {
				want = append(want, "etcd.moved-"+s)
			}
			want = append(want, unrelated...)
			slices.Sort(want)
			if names := listDir(t, parent); !slices.Equal(names, want) {
				t.Fatalf("left %v\nwant %v", names, want)
			}
		})
	}
}

func TestMoveAsideCrossDevice(t *testing.T) {
	dir := newDataDir(t, t.TempDir())
	shm, err := os.MkdirTemp("/dev/shm", "datadir-test-")
	if err != nil {
		missingTool(t, "/dev/shm: "+err.Error())
		t.Skip()
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	if sameDevice(t, dir, shm) {
		missingTool(t, "/dev/shm and the test temp dir are on one file system")
		t.Skip()
	}
	got, err := moveDir(dir, shm, 1, moveTime)
	if got != "" || !errors.Is(err, ErrCrossDevice) {
		t.Fatalf("MoveAside across file systems = %q, %v; want ErrCrossDevice", got, err)
	}
	for _, want := range []string{"EXDEV", "never a copy", dir, shm} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	checkContent(t, dir)
	if names := listDir(t, shm); len(names) != 0 {
		t.Errorf("backup dir holds %v, want nothing", names)
	}
}

func sameDevice(t *testing.T, a, b string) bool {
	t.Helper()
	var sa, sb syscall.Stat_t
	if err := errors.Join(syscall.Stat(a, &sa), syscall.Stat(b, &sb)); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev
}

func TestMoveAsideRefuses(t *testing.T) {
	tmp := t.TempDir()
	target := newDataDir(t, filepath.Join(tmp, "disk"))
	link := filepath.Join(tmp, "etcd-link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	plain := newDataDir(t, filepath.Join(tmp, "plain"))
	notDir := filepath.Join(tmp, "file")
	writeFile(t, notDir, "x")
	tests := []struct {
		name, dir, backup, msg string
	}{
		{"symlinked data dir", link, "", "it is a symlink"},
		{"missing backup dir", plain, filepath.Join(tmp, "nope"), "backup dir: stat " + filepath.Join(tmp, "nope")},
		{"backup dir is a file", plain, notDir, "backup dir " + notDir + " is not a directory"},
		{"backup dir inside data dir", plain, filepath.Join(plain, "member"), "is inside the data dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := moveDir(tt.dir, tt.backup, 1, moveTime)
			if got != "" || err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("MoveAside = %q, %v; want an error containing %q", got, err, tt.msg)
			}
			checkContent(t, tt.dir)
		})
	}
}

// moveDir moves a data dir without a wal-dir and returns its new path.
func moveDir(dir, backup string, keep int, now time.Time) (string, error) {
	m, err := MoveAside(Layout{DataDir: dir}, backup, keep, now)
	return m.DataDir, err
}
