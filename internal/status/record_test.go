package status

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordPath(t *testing.T) {
	for in, want := range map[string]string{
		"default.etcd.rejoin-state.json":                 "default.etcd.rejoin-status.json",
		"/var/lib/etcd-rejoin/n1.etcd.rejoin-state.json": "/var/lib/etcd-rejoin/n1.etcd.rejoin-status.json",
		"/srv/state.json":                                "/srv/state-status.json",
		"/srv/memory":                                    "/srv/memory-status.json",
	} {
		if got := RecordPath(in); got != want {
			t.Errorf("RecordPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x-status.json")
	r, err := Load(path)
	if err != nil || r.State != "" || r.Decision != nil {
		t.Fatalf("Load of a missing file = %+v, %v; want the zero record", r, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Record{State: StateRunning, StateSince: at, PID: 42,
		Decision: &DecisionRecord{Action: "rejoin", Reason: "data lost", At: at},
		Heal:     &HealRecord{Action: "rejoin", DurationSeconds: 4.25, At: at},
		Defrag:   &DefragRecord{At: at, Outcome: "defragmented", BeforeBytes: 100, AfterBytes: 10, DurationSeconds: 1}}
	if err := Save(path, want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := Load(path)
	if err != nil || got.State != want.State || got.PID != 42 || *got.Decision != *want.Decision ||
		*got.Heal != *want.Heal || *got.Defrag != *want.Defrag || got.Snapshot != nil {
		t.Errorf("Load after Save = %+v, %v; want %+v", got, err, want)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("record file mode = %v, %v; want 0640", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries after Save, want only the record (no temporary file left)", len(entries))
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load of a broken record = %v, want an error naming %s", err, path)
	}
}

func TestRecorder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n1.etcd.rejoin-status.json")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := Save(path, Record{State: StateRunning, Snapshot: &SnapshotRecord{OK: true, Path: "/s/a.snapshot"}}); err != nil {
		t.Fatal(err)
	}

	rec := NewRecorder(path, log)
	clock := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	rec.now = func() time.Time { return clock }
	rec.State(StateStarting, "observing")
	rec.Decision("restart", "local data present")
	clock = clock.Add(3 * time.Second)
	rec.State(StateRunning, "running: voting")
	clock = clock.Add(time.Minute)
	rec.State(StateRunning, "running: still")
	rec.Healed("restart", 2500*time.Millisecond)
	rec.Snapshot("", 0, time.Second, errors.New("disk full"))

	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.State != StateRunning || !got.StateSince.Equal(time.Date(2026, 5, 1, 10, 0, 3, 0, time.UTC)) || got.Detail != "running: still" {
		t.Errorf("state %q since %v (%q); want running since 10:00:03, detail of the last call", got.State, got.StateSince, got.Detail)
	}
	if got.PID != os.Getpid() || got.Decision.Action != "restart" || got.Heal.DurationSeconds != 2.5 {
		t.Errorf("record = %+v; want this pid, decision restart, heal 2.5 s", got)
	}
	if got.Snapshot.OK || got.Snapshot.Error != "disk full" {
		t.Errorf("snapshot = %+v; want the failure that replaced the old success", got.Snapshot)
	}
	if rec.Record().Decision.Reason != "local data present" {
		t.Errorf("Recorder.Record() = %+v", rec.Record())
	}

	// A directory it cannot write to: one warning, then one note when it works again.
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// root writes anyway: remove the dir instead.
		_ = os.Chmod(dir, 0o700)
		_ = os.RemoveAll(dir)
	}
	rec.Decision("wait", "a")
	rec.Decision("wait", "b")
	if n := strings.Count(logs.String(), "cannot write the status record"); n != 1 {
		t.Errorf("%d warnings after two failed saves, want 1:\n%s", n, logs.String())
	}
	_ = os.MkdirAll(dir, 0o700)
	_ = os.Chmod(dir, 0o700)
	rec.Decision("restart", "c")
	if !strings.Contains(logs.String(), "status record written again") {
		t.Errorf("no note once saving works again:\n%s", logs.String())
	}
	if r, _ := Load(path); r.Decision == nil || r.Decision.Reason != "c" {
		t.Errorf("record after recovery = %+v, want the last decision", r)
	}

	var nilRec *Recorder
	nilRec.State(StateRunning, "")
	nilRec.Decision("x", "y")
	nilRec.Healed("x", time.Second)
	nilRec.Snapshot("", 0, 0, nil)
	nilRec.Defrag(DefragRecord{})
	if r := nilRec.Record(); r.State != "" {
		t.Errorf("nil Recorder record = %+v", r)
	}
}
