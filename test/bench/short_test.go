package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// TestShort runs every part of the benchmark small, against the real
// binary and real etcd 3.4 (make bench-short, BENCH_SHORT=1): it fails when
// a heal does not complete or a figure is missing, never because of a time.
func TestShort(t *testing.T) {
	if os.Getenv("BENCH_SHORT") == "" {
		t.Skip("BENCH_SHORT=1 runs the small benchmark (make bench-short)")
	}
	cfg := shortConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	md := Report(res, "heal.png")
	t.Logf("report of the short run:\n%s", md)
	if problems := Problems(res); len(problems) > 0 {
		t.Fatalf("the short run is incomplete:\n%s", strings.Join(problems, "\n"))
	}
	if _, err := Plot(res); err != nil {
		t.Errorf("plot: %v", err)
	}
	checkShort(t, res)
}

// checkShort checks that every part measured what it should.
func checkShort(t *testing.T, res *Results) {
	t.Helper()
	if len(res.Cells) != 2 || len(res.Cost) != 1 {
		t.Fatalf("%d heal cells and %d cost runs, want 2 and 1", len(res.Cells), len(res.Cost))
	}
	for _, c := range res.Cells {
		for _, m := range []string{MethodRejoin, MethodManual} {
			for _, mark := range []string{markRemoved, markAdded, markEtcdStarted, markPublished, markServing} {
				if _, ok := c.markMedian(m, mark); !ok {
					t.Errorf("%s, %s: milestone %q never seen", c.name(), m, mark)
				}
			}
		}
		for _, mark := range []string{markDecision, markPromoted, markReady} {
			if _, ok := c.markMedian(MethodRejoin, mark); !ok {
				t.Errorf("%s: etcd-rejoin's milestone %q never seen", c.name(), mark)
			}
		}
	}
	want := []string{"bootstrap", "bootstrap", "restart", "rejoin", "restart", "restart", "wait"}
	if len(res.Decisions) != len(want) {
		t.Fatalf("%d decision cases, want %d", len(res.Decisions), len(want))
	}
	for i, d := range res.Decisions {
		if d.Want != want[i] || len(d.Decide) != 2 {
			t.Errorf("decision case %q: want %s, %d times measured", d.Case, d.Want, len(d.Decide))
		}
	}
}

// shortConfig is the small run: etcd 3.4, three members, 0 and 4 MB, two
// rounds of each method per cell, 20 s of cost sampling.
func shortConfig(t *testing.T) *Config {
	v := KnownVersions()["3.4"]
	for _, p := range []string{v.Binary, DefaultEtcdctl} {
		if err := executable(p); err != nil {
			if testcmd.InCI() {
				t.Fatalf("%v (scripts/deps.sh etcd installs it)", err)
			}
			t.Skipf("%v (scripts/deps.sh etcd installs it)", err)
		}
	}
	return &Config{
		Rejoin: buildRejoin(t), Etcdctl: DefaultEtcdctl, Versions: []Version{v},
		Sizes: []int{0, 4}, Members: []int{3},
		Rounds: 2, WriterRounds: 1, WriterRate: 50, WriterBaseline: 2 * time.Second,
		Settle: time.Second, HealTimeout: 2 * time.Minute, DecisionRounds: 2, CostDuration: 20 * time.Second,
		SnapshotCount: 1000, ValueSize: 4096,
		NetFirst: 216, NetLast: 219,
		Work: t.TempDir(), Log: testLog{t}, Command: "go test ./test/bench/ (BENCH_SHORT=1)",
	}
}

// buildRejoin builds the etcd-rejoin binary for this run.
func buildRejoin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "etcd-rejoin")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/etcd-rejoin").CombinedOutput()
	if err != nil {
		t.Fatalf("build etcd-rejoin: %v\n%s", err, out)
	}
	return bin
}

// testLog writes progress lines to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
