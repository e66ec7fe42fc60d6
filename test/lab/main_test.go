// Package lab_test runs the container lab (lab/up, lab/ctl, lab/down): three
// Debian 12 hosts booted under systemd-nspawn with systemd as PID 1, on a
// bridge inside a network namespace each test creates, each with the
// project's .deb installed and configured by lab/provision/etcd-node.sh (the
// Vagrantfile's script). Each test breaks hosts the way operators see them
// break and asserts on real state: member IDs, the member list, keys,
// systemctl states and journal lines. Every lab is torn down, pass or fail.
//
// Root is required. Not root: the tests skip saying so, unless CI=true,
// where that is a failure. The package comes from $REJOIN_DEV_DIST (set by
// `make lab-test`), or is built once per run.
package lab_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// repoRoot is the repository's top directory.
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

func needRoot(t *testing.T) {
	t.Helper()
	testcmd.NeedRoot(t, "the lab suite (network namespaces, systemd-nspawn)")
}

func needTools(t *testing.T) {
	t.Helper()
	testcmd.NeedTools(t, "systemd-nspawn", "nsenter", "ip", "debootstrap", "make")
}

// result is the outcome of one command.
type result = testcmd.Result

// run runs a command in the repository with env added to ours.
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	return testcmd.Run(t, timeout, repoRoot, append(os.Environ(), env...), name, args...)
}

var (
	debOnce sync.Once
	debPath string
	debErr  error
	tmpDirs []string

	timesMu sync.Mutex
	times   []string
)

// record notes a measured time; TestMain prints them all at the end.
func record(t *testing.T, what string, d time.Duration) {
	t.Helper()
	line := fmt.Sprintf("%-45s %s", what, d.Round(100*time.Millisecond))
	t.Log(line)
	timesMu.Lock()
	times = append(times, line)
	timesMu.Unlock()
}

func TestMain(m *testing.M) {
	start := time.Now()
	code := m.Run()
	for _, d := range tmpDirs {
		_ = os.RemoveAll(d)
	}
	if len(times) > 0 {
		sort.Strings(times)
		fmt.Printf("lab timings:\n  %s\n  %-45s %s\n", strings.Join(times, "\n  "),
			"suite wall time", time.Since(start).Round(time.Second))
	}
	os.Exit(code)
}

// deb returns the package under test, building it once per run.
func deb(t *testing.T) string {
	t.Helper()
	debOnce.Do(func() { debPath, debErr = locateDeb() })
	if debErr != nil {
		t.Fatalf("package: %v", debErr)
	}
	return debPath
}

func locateDeb() (string, error) {
	dist := os.Getenv("REJOIN_DEV_DIST")
	if dist == "" {
		var err error
		if dist, err = os.MkdirTemp("", "etcd-rejoin-lab-dist-"); err != nil {
			return "", fmt.Errorf("make dist dir: %w", err)
		}
		tmpDirs = append(tmpDirs, dist)
		cmd := exec.Command("make", "-s", "-f", "mk/package.mk", "package", "DIST="+dist)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("make package: %w\n%s", err, out)
		}
	}
	m, err := filepath.Glob(filepath.Join(dist, "etcd-rejoin_*.deb"))
	if err != nil {
		return "", fmt.Errorf("glob in %s: %w", dist, err)
	}
	if len(m) != 1 {
		return "", fmt.Errorf("want exactly one etcd-rejoin_*.deb in %s, found %v", dist, m)
	}
	return m[0], nil
}
