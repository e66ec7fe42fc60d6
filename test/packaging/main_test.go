// Package packaging_test checks the .deb and .rpm built from nfpm.yaml: the
// systemd unit (systemd-analyze verify and security), lintian, the rpm's
// files, scripts and dependencies, the shipped configuration against the
// packaged binary, and an install into a Debian 12 root file system booted
// under real systemd (systemd-nspawn).
//
// The packages come from $REJOIN_DEV_DIST (set by `make test-package`), or
// are built once per run with `make -f mk/package.mk package`.
package packaging_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

const pkgName = "etcd-rejoin"

// repoRoot is the repository's top directory.
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

// inCI reports whether missing tools must fail the tests instead of
// skipping them.
// needTool skips (or, in CI, fails) when a program is not installed.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	testcmd.NeedTools(t, names...)
}

// needRoot skips when not root, unless in CI, where it fails.
func needRoot(t *testing.T) {
	t.Helper()
	testcmd.NeedRoot(t, "the install test (systemd-nspawn, debootstrap)")
}

// result is the outcome of one command.
type result = testcmd.Result

// run runs a command in dir with env as its environment (nil: ours).
func run(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) result {
	t.Helper()
	return testcmd.Run(t, timeout, dir, env, name, args...)
}

// mustRun runs a command and fails the test unless it exits 0.
func mustRun(t *testing.T, timeout time.Duration, dir, name string, args ...string) string {
	t.Helper()
	r := run(t, timeout, dir, nil, name, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: exit %d; output:\n%s", name, strings.Join(args, " "), r.Code, r.Out)
	}
	return r.Out
}

// built holds the packages under test.
type built struct {
	deb, rpm string
	// root is the .deb extracted, with the host's systemd units added so
	// that systemd-analyze --root can resolve the unit's dependencies.
	root string
}

var (
	buildOnce sync.Once
	buildErr  error
	pkgs      built
	// tempDirs outlive single tests (the packages are shared); TestMain
	// removes them.
	tempDirs []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// packages returns the packages under test, building them on first use.
func packages(t *testing.T) built {
	t.Helper()
	needTool(t, "make", "dpkg-deb")
	buildOnce.Do(func() { pkgs, buildErr = locatePackages() })
	if buildErr != nil {
		t.Fatalf("packages: %v", buildErr)
	}
	return pkgs
}

func locatePackages() (built, error) {
	dist := os.Getenv("REJOIN_DEV_DIST")
	if dist == "" {
		var err error
		if dist, err = buildPackages(); err != nil {
			return built{}, err
		}
	}
	var b built
	var err error
	if b.deb, err = onlyMatch(filepath.Join(dist, pkgName+"_*.deb")); err != nil {
		return built{}, err
	}
	if b.rpm, err = onlyMatch(filepath.Join(dist, pkgName+"-*.rpm")); err != nil {
		return built{}, err
	}
	if b.root, err = extractDeb(b.deb); err != nil {
		return built{}, err
	}
	return b, nil
}

// buildPackages runs `make -f mk/package.mk package` into a fresh folder
// that lives as long as the test binary.
func buildPackages() (string, error) {
	dist, err := os.MkdirTemp("", "etcd-rejoin-dist-")
	if err != nil {
		return "", fmt.Errorf("make dist dir: %w", err)
	}
	tempDirs = append(tempDirs, dist)
	cmd := exec.Command("make", "-s", "-f", "mk/package.mk", "package", "DIST="+dist)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("make package: %w\n%s", err, out)
	}
	return dist, nil
}

func onlyMatch(pattern string) (string, error) {
	m, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("glob %s: %w", pattern, err)
	}
	if len(m) != 1 {
		return "", fmt.Errorf("want exactly one %s, found %d: %v", pattern, len(m), m)
	}
	return m[0], nil
}

// extractDeb unpacks the .deb into a temporary root and adds the host's
// systemd units next to the package's own.
func extractDeb(deb string) (string, error) {
	root, err := os.MkdirTemp("", "etcd-rejoin-root-")
	if err != nil {
		return "", fmt.Errorf("make extract dir: %w", err)
	}
	tempDirs = append(tempDirs, root)
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w\n%s", deb, err, out)
	}
	units := filepath.Join(root, "lib", "systemd", "system")
	out, err := exec.Command("cp", "-an", "/lib/systemd/system/.", units+"/").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("copy host units: %w\n%s", err, out)
	}
	return root, nil
}
