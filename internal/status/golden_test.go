package status

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// example is a report of a member of three, one of them down, with a
// NOSPACE alarm: the README shows its renderings.
func example() Report {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return Report{
		Schema: SchemaVersion, Time: at, Healthy: false,
		Problems: []string{"alarm NOSPACE on n1 (8e9e05c52164694d): the cluster refuses writes (database 2.0 GiB of quota 2.0 GiB); " +
			"compact, defragment, then disarm (etcdctl alarm disarm)"},
		Member: Member{
			Name: "n1", ID: "8e9e05c52164694d", Source: SourceLocal, Endpoint: "https://10.0.0.1:2379", Role: RoleLeader,
			Leader: "8e9e05c52164694d", LeaderName: "n1", Version: "3.5.35",
			RaftTerm: 7, RaftIndex: 120455, AppliedIndex: 120455, LeaderRaftTerm: 7, LeaderRaftIndex: 120455,
			DBSize: 2147491840, DBSizeInUse: 2013265920, QuotaBytes: 2 << 30,
		},
		Cluster: Cluster{ID: "cdf818194e3a8c32", Quorum: true, Leader: "8e9e05c52164694d",
			Members: []ClusterMember{
				{ID: "8e9e05c52164694d", Name: "n1", PeerURLs: []string{"https://10.0.0.1:2380"}, ClientURLs: []string{"https://10.0.0.1:2379"},
					Role: RoleLeader, Healthy: true, Self: true, RaftIndex: 120455, DBSize: 2147491840, DBSizeInUse: 2013265920, Version: "3.5.35"},
				{ID: "91bc3c398fb3c146", Name: "n2", PeerURLs: []string{"https://10.0.0.2:2380"}, ClientURLs: []string{"https://10.0.0.2:2379"},
					Role: RoleFollower, Healthy: true, RaftIndex: 120455, DBSize: 2147479552, DBSizeInUse: 2013265920, Version: "3.5.35"},
				{ID: "fd422379fda50e48", Name: "n3", PeerURLs: []string{"https://10.0.0.3:2380"}, ClientURLs: []string{"https://10.0.0.3:2379"},
					Role: RoleUnknown},
			},
			Errors: []string{"https://10.0.0.3:2379: status: dial tcp 10.0.0.3:2379: connect: connection refused"}},
		Alarms: []Alarm{{Name: "NOSPACE", MemberID: "8e9e05c52164694d", MemberName: "n1", DBSize: 2147491840}},
		Service: &Record{State: StateRunning, StateSince: at.Add(-26 * time.Hour), PID: 812,
			Detail:   "running: member 8e9e05c52164694d of cluster cdf818194e3a8c32, voting and caught up (rejoin, ready in 41.2s)",
			Decision: &DecisionRecord{Action: "rejoin", Reason: "no local data; the healthy cluster lists this member as started: replace it", At: at.Add(-26*time.Hour - 42*time.Second)},
			Heal:     &HealRecord{Action: "rejoin", DurationSeconds: 41.2, At: at.Add(-26 * time.Hour)},
			Snapshot: &SnapshotRecord{At: at.Add(-2 * time.Hour), OK: true, Path: "/var/lib/etcd-rejoin/snapshots/etcd-20260301T100000.000Z.snapshot",
				SizeBytes: 2013270016, DurationSeconds: 38.5},
			Defrag: &DefragRecord{At: at.Add(-10 * time.Minute), Outcome: "leader-waits", Detail: "follower n2 is due first"}},
		Snapshot: &Snapshot{Path: "/var/lib/etcd-rejoin/snapshots/etcd-20260301T100000.000Z.snapshot", SizeBytes: 2013270016,
			TakenAt: at.Add(-2 * time.Hour)},
		MovedAside: []Copy{{Path: "/var/lib/etcd-rejoin/n1.etcd.moved-20260228T095817Z", Kind: "moved"}},
		Warnings:   []string{},
	}
}

func TestGolden(t *testing.T) {
	for name, write := range map[string]func(*bytes.Buffer, Report) error{
		"report.txt":  func(b *bytes.Buffer, r Report) error { return WriteText(b, r) },
		"report.json": func(b *bytes.Buffer, r Report) error { return WriteJSON(b, r) },
	} {
		var got bytes.Buffer
		if err := write(&got, example()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGolden -update)", err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s differs from %s (if on purpose: -update, and bump SchemaVersion when a JSON field changes meaning or goes):\n%s",
				name, path, got.String())
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 24 << 20: "24.0 MiB", 2 << 30: "2.0 GiB", 1536 << 30: "1.5 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
