package datadir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

func TestMemoryMissingFile(t *testing.T) {
	m, err := LoadMemory(filepath.Join(t.TempDir(), "state.json"))
	if err != nil || m != (plan.Memory{}) {
		t.Fatalf("LoadMemory(missing) = %+v, %v; want zero, nil", m, err)
	}
}

func TestMemoryRoundTrip(t *testing.T) {
	tmp := t.TempDir()
	path := filepath.Join(tmp, "state", "sub", "etcd-rejoin.json")
	tests := []struct {
		name string
		m    plan.Memory
		json string
	}{
		{"ids", plan.Memory{MemberID: 0x8e9e05c52164694d, ClusterID: 0xcdf818194e3a8c32},
			`{"member_id":"8e9e05c52164694d","cluster_id":"cdf818194e3a8c32"}` + "\n"},
		{"overwrite with small ids", plan.Memory{MemberID: 0x1, ClusterID: 0xabc}, `{"member_id":"1","cluster_id":"abc"}` + "\n"},
		{"zero", plan.Memory{}, `{"member_id":"0","cluster_id":"0"}` + "\n"},
		{"left and recovered", plan.Memory{MemberID: 0x1, ClusterID: 0x2,
			Left:      &plan.Left{At: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), MemberID: 0x1, ClusterID: 0x2},
			Recovered: &plan.Recovered{At: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), ClusterID: 0x3, From: "/b/s.snapshot"}},
			`{"member_id":"1","cluster_id":"2","left":{"at":"2026-11-02T10:00:00Z","member_id":"1","cluster_id":"2"},` +
				`"recovered":{"at":"2026-11-03T10:00:00Z","cluster_id":"3","from":"/b/s.snapshot"}}` + "\n"},
		{"corrupt", plan.Memory{MemberID: 0x1, ClusterID: 0x2, Corrupt: &plan.Corrupt{At: time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC), MemberID: 0x1}},
			`{"member_id":"1","cluster_id":"2","corrupt":{"at":"2026-11-04T10:00:00Z","member_id":"1"}}` + "\n"},
		{"corrupt data", plan.Memory{MemberID: 0x1, ClusterID: 0x2, Corrupt: &plan.Corrupt{At: time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC), MemberID: 0x1, Why: "a WAL record fails its checksum"}},
			`{"member_id":"1","cluster_id":"2","corrupt":{"at":"2026-11-04T10:00:00Z","member_id":"1","why":"a WAL record fails its checksum"}}` + "\n"},
		{"seen", plan.Memory{Seen: &plan.Seen{At: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), ClusterID: 0xabc}},
			`{"member_id":"0","cluster_id":"0","seen":{"at":"2026-11-24T10:00:00Z","cluster_id":"abc"}}` + "\n"},
		{"added entry", plan.Memory{Added: &plan.Added{ID: 0x1234, ClusterID: 0xabc, PeerURLs: []string{"http://10.0.0.1:2380"}}},
			`{"member_id":"0","cluster_id":"0","added":{"id":"1234","cluster_id":"abc","peer_urls":["http://10.0.0.1:2380"]}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := SaveMemory(path, tt.m); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != tt.json {
				t.Fatalf("file = %q, %v; want %q", b, err, tt.json)
			}
			got, err := LoadMemory(path)
			if err != nil || !reflect.DeepEqual(got, tt.m) {
				t.Fatalf("LoadMemory = %+v, %v; want %+v", got, err, tt.m)
			}
			checkMode(t, path, 0o600)
			checkMode(t, filepath.Dir(path), 0o700)
			checkMode(t, filepath.Join(tmp, "state"), 0o700)
			if names := listDir(t, filepath.Dir(path)); len(names) != 1 || names[0] != "etcd-rejoin.json" {
				t.Fatalf("state dir holds %v, want only the state file (no temp files)", names)
			}
		})
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %o, want %o", path, fi.Mode().Perm(), want)
	}
}

func TestMemorySaveOverExistingModeAndFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	writeFile(t, path, "old")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SaveMemory(path, plan.Memory{MemberID: 7, ClusterID: 8}); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path, 0o600)

	// The rename fails when the path is a non-empty directory: an error, and
	// no temp file left behind.
	blocked := filepath.Join(dir, "blocked")
	mustMkdir(t, filepath.Join(blocked, "x"))
	err := SaveMemory(blocked, plan.Memory{MemberID: 1, ClusterID: 2})
	if err == nil || !strings.Contains(err.Error(), blocked) {
		t.Fatalf("SaveMemory onto a directory = %v, want an error naming %s", err, blocked)
	}
	if names := listDir(t, dir); len(names) != 2 || names[0] != "blocked" || names[1] != "state.json" {
		t.Fatalf("dir holds %v, want [blocked state.json]", names)
	}
}

func TestMemoryCorrupt(t *testing.T) {
	tests := []struct{ name, content, msg string }{
		{"empty", "", "EOF"},
		{"truncated", `{"member_id":"8e9e05c5`, "unexpected EOF"},
		{"not hex", `{"member_id":"xyz","cluster_id":"1"}`, `key "member_id": "xyz" is not a hex ID`},
		{"too long", `{"member_id":"1","cluster_id":"1ffffffffffffffff"}`, `key "cluster_id": "1ffffffffffffffff" is not a hex ID`},
		{"number", `{"member_id":1,"cluster_id":"1"}`, "cannot unmarshal number"},
		{"missing key", `{"member_id":"1"}`, `key "cluster_id" missing`},
		{"null", `null`, `key "member_id" missing`},
		{"unknown key", `{"member_id":"1","cluster_id":"2","extra":3}`, `unknown field "extra"`},
		{"trailing data", `{"member_id":"1","cluster_id":"2"} {}`, "data after the JSON object"},
		{"too big", strings.Repeat(" ", maxStateFile+1), "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			writeFile(t, path, tt.content)
			m, err := LoadMemory(path)
			if err == nil {
				t.Fatalf("LoadMemory = %+v, want an error", m)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not name %s and say %q", err, path, tt.msg)
			}
			if m != (plan.Memory{}) {
				t.Fatalf("LoadMemory returned %+v with the error", m)
			}
		})
	}
}

func TestMemoryPathIsDir(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadMemory(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("LoadMemory(dir) = %v, want an error naming %s", err, dir)
	}
}

// The state file is never read through a symlink, nor from a FIFO (which
// would block), nor from any other special file.
func TestMemoryOnlyFromARegularFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	if err := SaveMemory(real, plan.Memory{MemberID: 1, ClusterID: 2}); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{link: "is a symlink", fifo: "is a named pipe", dir: "is a directory"} {
		m, err := LoadMemory(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("LoadMemory(%s) = %+v, %v; want an error saying %q", path, m, err, want)
		}
	}
}
