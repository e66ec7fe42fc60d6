package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSnapshotDefaults(t *testing.T) {
	cfg, err := load(t, "", "ETCD_DATA_DIR=/var/lib/etcd-rejoin/n1.etcd")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := SnapshotConfig{Interval: 6 * time.Hour, Keep: 5, Dir: "/var/lib/etcd-rejoin/snapshots", CommandTimeout: 15 * time.Minute}
	if cfg.Snapshot != want {
		t.Errorf("Snapshot = %+v, want %+v", cfg.Snapshot, want)
	}
}

// The default dir follows the state file, not the data dir.
func TestSnapshotDirBesideStateFile(t *testing.T) {
	cfg, err := load(t, "", "ETCD_DATA_DIR=/data/n1", "ETCD_REJOIN_STATE_FILE=/var/lib/etcd-rejoin/state.json")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Snapshot.Dir != "/var/lib/etcd-rejoin/snapshots" {
		t.Errorf("Dir = %q, want /var/lib/etcd-rejoin/snapshots", cfg.Snapshot.Dir)
	}
}

func TestSnapshotSettings(t *testing.T) {
	file := `
snapshot-interval = "0"
snapshot-keep = 2
snapshot-dir = "/backup/etcd"
snapshot-command = "rsync -a \"$1\" backup:/etcd/"
snapshot-command-timeout = "90s"
`
	cfg, err := load(t, file, "ETCD_REJOIN_SNAPSHOT_KEEP=9")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := SnapshotConfig{Interval: 0, Keep: 9, Dir: "/backup/etcd", Command: `rsync -a "$1" backup:/etcd/`, CommandTimeout: 90 * time.Second}
	if cfg.Snapshot != want {
		t.Errorf("Snapshot = %+v, want %+v", cfg.Snapshot, want)
	}
	if cfg.Sources["snapshot-keep"] != "env ETCD_REJOIN_SNAPSHOT_KEEP" {
		t.Errorf("source of snapshot-keep = %q", cfg.Sources["snapshot-keep"])
	}
}

// "0s" and "0" turn snapshots off; everything else must be at least 1s.
func TestSnapshotIntervalZeroIsOff(t *testing.T) {
	for _, v := range []string{"0", "0s", "0h"} {
		cfg, err := load(t, "", "ETCD_REJOIN_SNAPSHOT_INTERVAL="+v)
		if err != nil {
			t.Fatalf("%s: Load: %v", v, err)
		}
		if cfg.Snapshot.Interval != 0 {
			t.Errorf("%s: Interval = %s, want 0", v, cfg.Snapshot.Interval)
		}
	}
}

func TestSnapshotProblems(t *testing.T) {
	rows := []struct {
		name string
		env  []string
		want []string
	}{
		{"negative interval", []string{"ETCD_REJOIN_SNAPSHOT_INTERVAL=-1h"},
			[]string{"snapshot-interval (env ETCD_REJOIN_SNAPSHOT_INTERVAL): must be 0 (off) or at least 1s"}},
		{"tiny interval", []string{"ETCD_REJOIN_SNAPSHOT_INTERVAL=10ms"}, []string{"snapshot-interval", "at least 1s, got 10ms"}},
		{"not a duration", []string{"ETCD_REJOIN_SNAPSHOT_INTERVAL=daily"}, []string{`snapshot-interval`, `"daily" is not a duration`}},
		{"keep zero", []string{"ETCD_REJOIN_SNAPSHOT_KEEP=0"}, []string{"snapshot-keep (env ETCD_REJOIN_SNAPSHOT_KEEP): must be at least 1, got 0"}},
		{"keep not a number", []string{"ETCD_REJOIN_SNAPSHOT_KEEP=all"}, []string{"snapshot-keep", `"all" is not a whole number`}},
		{"timeout zero", []string{"ETCD_REJOIN_SNAPSHOT_COMMAND_TIMEOUT=0s"}, []string{"snapshot-command-timeout", "longer than zero"}},
		{"dir inside the data dir", []string{"ETCD_DATA_DIR=/var/lib/n1", "ETCD_REJOIN_SNAPSHOT_DIR=/var/lib/n1/snapshots"},
			[]string{"snapshot-dir (env ETCD_REJOIN_SNAPSHOT_DIR): /var/lib/n1/snapshots is inside etcd.data-dir /var/lib/n1"}},
		{"dir is the WAL dir", []string{"ETCD_DATA_DIR=/var/lib/n1", "ETCD_WAL_DIR=/wal/n1", "ETCD_REJOIN_SNAPSHOT_DIR=/wal/n1/"},
			[]string{"snapshot-dir", "inside etcd.wal-dir /wal/n1"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, err := load(t, "", r.env...)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load: %v, want an invalid configuration", err)
			}
			for _, w := range r.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A snapshot dir that holds the data dir is fine: only snapshot files are
// listed and pruned in it.
func TestSnapshotDirMayHoldTheDataDir(t *testing.T) {
	cfg, err := load(t, "", "ETCD_DATA_DIR=/var/lib/etcd-rejoin/n1.etcd", "ETCD_REJOIN_SNAPSHOT_DIR=/var/lib/etcd-rejoin")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Snapshot.Dir != "/var/lib/etcd-rejoin" {
		t.Errorf("Dir = %q", cfg.Snapshot.Dir)
	}
}
