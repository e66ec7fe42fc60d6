package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// productBinary builds etcd-rejoin with failpoints, once per test binary.
func productBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "etcd-rejoin-faults-test-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-tags", "failpoints", "-o", filepath.Join(buildDir, "etcd-rejoin"), "../../cmd/etcd-rejoin").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "etcd-rejoin")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string {
	return "build etcd-rejoin with failpoints: " + e.err.Error() + "\n" + e.out
}

// etcdVersion returns the newest etcd the tests have.
func etcdVersion(t *testing.T) testetcd.Version {
	t.Helper()
	vs := testetcd.Versions(t)
	return vs[len(vs)-1]
}

// testConsole sends the campaign's console to the test log.
type testConsole struct{ t *testing.T }

func (c testConsole) Write(p []byte) (int, error) {
	c.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Campaigns take minutes: they run only when asked for.
const (
	envShort = "FAULTS_SHORT" // the campaign's own checks, the CI campaigns and the reproducers (make faults-short)
	envRepro = "FAULTS_REPRO" // the reproducers alone (make faults-repro)
)

// needEnv skips a campaign unless one of the variables names is set.
func needEnv(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if os.Getenv(name) != "" {
			needRoot(t)
			return
		}
	}
	t.Skipf("a campaign: runs with %s=1", strings.Join(names, "=1 or "))
}

// runScript runs a campaign of the given steps and returns its report.
func runScript(t *testing.T, members int, steps ...Step) *Report {
	t.Helper()
	for i := range steps {
		steps[i].N = i + 1
	}
	return runCampaign(t, Config{Seed: 1, Members: members, Script: steps, HealTimeout: 90 * time.Second}, etcdVersion(t))
}

// runCampaign runs a campaign on etcd v; the log directory is kept (and
// named) when the campaign fails.
func runCampaign(t *testing.T, cfg Config, v testetcd.Version) *Report {
	t.Helper()
	out, err := os.MkdirTemp("", "faults-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	cfg.EtcdVersion, cfg.EtcdBinary, cfg.Binary = v.Name, v.Binary, productBinary(t)
	cfg.OutDir, cfg.Slot, cfg.WalDirMembers, cfg.Console = out, -1, 1, testConsole{t}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Table())
	if rep.Passed() {
		os.RemoveAll(out)
	} else {
		t.Logf("logs kept in %s", out)
	}
	return rep
}

var finalLine = regexp.MustCompile(`^acknowledged: [1-9][0-9]* lost: 0 linearizable: yes$`)

// TestCampaignMachinery runs a two-fault campaign and checks what the
// report says: every fault healed, operations acknowledged, nothing lost.
func TestCampaignMachinery(t *testing.T) {
	needEnv(t, envShort)
	rep := runScript(t, 3,
		Step{Kind: "kill-both", Leader: true, Peer: -1},
		Step{Kind: "wipe", Target: 1, Peer: -1},
	)
	if !rep.Passed() {
		t.Fatalf("campaign failed at step %d: %s", rep.FailStep, rep.Failure)
	}
	if len(rep.Results) != 2 || rep.Results[1].Heal <= 0 {
		t.Errorf("results %+v, want two healed faults", rep.Results)
	}
	if !finalLine.MatchString(rep.FinalLine()) {
		t.Errorf("final line %q", rep.FinalLine())
	}
	if !strings.Contains(rep.Table(), "wipe") || !strings.Contains(rep.Table(), "kill-both") {
		t.Errorf("the table lacks a fault kind:\n%s", rep.Table())
	}
}

// shortCampaigns are CI's: fixed seeds, 3 and 5 members, both ends of the
// supported etcd range, chosen for the variety of their faults.
var shortCampaigns = []struct {
	etcd           string
	seed           uint64
	members, steps int
}{
	// partition, lag, crash after the etcd start, wipe with a frozen peer,
	// frozen leader, killed etcd
	{"3.4", 3, 3, 6},
	// split, lagging member with a frozen peer, one-way partition,
	// foreign data, majority wiped with a reboot, crash after the move
	{"3.6", 97, 5, 6},
}

// knownOpen are the faults of bugs the campaign found that are still
// open, left out of the short campaigns; each has a reproducer below (make
// faults-repro). Delete an entry with its fix. None is open: the
// reproducers are regression tests, run by faults-short too.
var knownOpen = []string{}

// versionNamed returns the etcd version called name, if the tests have it.
func versionNamed(t *testing.T, name string) (testetcd.Version, bool) {
	t.Helper()
	for _, v := range testetcd.Versions(t) {
		if v.Name == name {
			return v, true
		}
	}
	return testetcd.Version{}, false
}

func TestShortCampaign(t *testing.T) {
	needEnv(t, envShort)
	for _, c := range shortCampaigns {
		t.Run(fmt.Sprintf("etcd%s/%dmembers/seed%d", c.etcd, c.members, c.seed), func(t *testing.T) {
			v, ok := versionNamed(t, c.etcd)
			if !ok {
				t.Skipf("no etcd %s", c.etcd)
			}
			rep := runCampaign(t, Config{Seed: c.seed, Steps: c.steps, Members: c.members, Skip: knownOpen}, v)
			if !rep.Passed() {
				t.Fatalf("step %d: %s\nreplay: %s", rep.FailStep, rep.Failure, rep.ReplayCommand())
			}
			if len(rep.Results) != c.steps || !finalLine.MatchString(rep.FinalLine()) {
				t.Errorf("%d faults healed of %d; final line %q", len(rep.Results), c.steps, rep.FinalLine())
			}
		})
	}
}

// Reproducers of what the campaign found. Each runs the one fault that
// broke an invariant; all of them fixed, they are regression tests. CI runs
// those whose fault is the same at every run in faults-short; the two WAL
// ones cut or flip the WAL at an offset that depends on how much was
// written, so etcd's error differs from run to run (a checksum, a record
// that does not decode, a repaired tail): they run in faults-repro, and
// TestMatch in internal/datafault holds each error they produced.

// TestReproTruncatedWAL: a member whose WAL lost entries it had
// acknowledged (a disk that lied about a flush) makes etcd panic at every
// start ("tocommit(N) is out of range [lastIndex(M)]. Was the raft log
// corrupted, truncated, or lost?"); etcd-rejoin restarts it on the same
// data forever although the cluster has quorum and would take it back.
func TestReproTruncatedWAL(t *testing.T) {
	needEnv(t, envRepro)
	rep := runScript(t, 3, Step{Kind: "truncate-wal", Variant: "tail", Target: 0, Peer: -1, Seed: 1})
	if !rep.Passed() {
		t.Fatalf("step %d: %s", rep.FailStep, rep.Failure)
	}
}

// TestReproCorruptWALRecord: a bit flipped in one of the last WAL records
// makes etcd exit at every start ("walpb: crc mismatch"); etcd-rejoin
// restarts it on the same data forever although the cluster has quorum.
func TestReproCorruptWALRecord(t *testing.T) {
	needEnv(t, envRepro)
	rep := runScript(t, 3, Step{Kind: "bitflip-wal", Variant: "late", Target: 0, Peer: -1, Seed: 1})
	if !rep.Passed() {
		t.Fatalf("step %d: %s", rep.FailStep, rep.Failure)
	}
}

// TestReproCorruptDB: a bit flipped in both bbolt meta pages makes etcd
// panic at every start ("failed to open database", "checksum error");
// etcd-rejoin restarts it on the same data forever although the cluster
// has quorum.
func TestReproCorruptDB(t *testing.T) {
	needEnv(t, envRepro, envShort)
	rep := runScript(t, 3, Step{Kind: "bitflip-db", Target: 0, Peer: -1, Seed: 1})
	if !rep.Passed() {
		t.Fatalf("step %d: %s", rep.FailStep, rep.Failure)
	}
}

// TestReproTruncatedDB: a bbolt file cut below its high-water mark makes
// etcd 3.4 die at every start (SIGBUS: bbolt reads a page past the end of
// the file; 3.6 sometimes starts on it); etcd-rejoin restarts it on the
// same data forever although the cluster has quorum.
func TestReproTruncatedDB(t *testing.T) {
	needEnv(t, envRepro, envShort)
	v, ok := versionNamed(t, "3.4")
	if !ok {
		t.Skip("no etcd 3.4")
	}
	rep := runCampaign(t, Config{Seed: 1, Members: 3, HealTimeout: 90 * time.Second,
		Script: []Step{{N: 1, Kind: "truncate-db", Target: 0, Peer: -1, Seed: 1}}}, v)
	if !rep.Passed() {
		t.Fatalf("step %d: %s", rep.FailStep, rep.Failure)
	}
}

// TestReproBootstrapWhileSurvivorRestarts: two of three members lose their
// disks (data and state file) and wait, rightly, because the survivor says
// the cluster exists; the survivor restarts (a reboot, or its watchdog
// while it has no quorum) and, in the seconds nobody answers, both wiped
// members bootstrap a new cluster, with the old cluster's ID and member IDs
// (both derive from the same initial cluster and token). The new cluster
// takes writes at revisions the old one used; the survivor then rejoins
// it on its own data: split brain and divergent data.
func TestReproBootstrapWhileSurvivorRestarts(t *testing.T) {
	needEnv(t, envRepro, envShort)
	rep := runScript(t, 3, Step{Kind: "wipe-majority", Variant: "lose-state+reboot", Target: 1, Peer: -1, Seed: 1})
	if !rep.Passed() {
		t.Fatalf("step %d: %s", rep.FailStep, rep.Failure)
	}
}
