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
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the repository's top directory.
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

func inCI() bool { return os.Getenv("CI") == "true" }

// needRoot skips when not root, unless in CI, where it fails.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if inCI() {
		t.Fatal("the lab suite needs root (network namespaces, systemd-nspawn); CI must run it as root")
	}
	t.Skip("lab suite NOT RUN: not root (network namespaces and systemd-nspawn need root); run as root, or with CI=true to make this an error")
}

// needTools fails (CI) or skips when a program the lab runs is missing.
func needTools(t *testing.T) {
	t.Helper()
	for _, name := range []string{"systemd-nspawn", "nsenter", "ip", "debootstrap", "make"} {
		if _, err := exec.LookPath(name); err != nil {
			if inCI() {
				t.Fatalf("%s is required (scripts/deps.sh apt): %v", name, err)
			}
			t.Skipf("lab suite NOT RUN: %s not installed (scripts/deps.sh apt)", name)
		}
	}
}

// result is the outcome of one command.
type result struct {
	out  string // stdout and stderr, interleaved
	code int
}

// run runs a command with a deadline; it fails the test only when the
// command cannot run at all or times out.
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return result{out: buf.String()}
	case ctx.Err() != nil:
		t.Fatalf("%s %s: timed out after %s; output:\n%s", name, strings.Join(args, " "), timeout, buf.String())
	case errors.As(err, &exit):
		return result{out: buf.String(), code: exit.ExitCode()}
	default:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return result{}
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
