package packaging_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkConfig runs the packaged binary's `check` on a configuration file,
// with no ETCD_* variables from the test's own environment.
func checkConfig(t *testing.T, b built, path string) result {
	t.Helper()
	bin := filepath.Join(b.root, "usr", "bin", "etcd-rejoin")
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + t.TempDir()}
	return run(t, time.Minute, t.TempDir(), env, bin, "--config", path, "check")
}

func TestShippedConfigParses(t *testing.T) {
	b := packages(t)
	path := filepath.Join(b.root, "etc", "etcd-rejoin.toml")
	r := checkConfig(t, b, path)
	if r.Code != 0 {
		t.Fatalf("etcd-rejoin --config %s check: exit %d, want 0:\n%s", path, r.Code, r.Out)
	}
	if !strings.Contains(r.Out, "configuration OK: member default") {
		t.Errorf("check output lacks the default member name:\n%s", r.Out)
	}
}

// settingLine matches a commented-out setting or table header.
var settingLine = regexp.MustCompile(`^#(\[[a-z-]+\]|[a-z-]+ = .*)$`)

// TestShippedConfigKeysAreReal uncomments every key of the shipped file: each
// one must be a key the binary knows, with a value it accepts, so the file
// documents nothing that does not exist.
func TestShippedConfigKeysAreReal(t *testing.T) {
	b := packages(t)
	src := readFile(t, filepath.Join(b.root, "etc", "etcd-rejoin.toml"))
	var out []string
	n := 0
	for _, line := range strings.Split(src, "\n") {
		if settingLine.MatchString(line) {
			line = strings.TrimPrefix(line, "#")
			n++
		}
		out = append(out, line)
	}
	if n < 30 {
		t.Fatalf("found %d commented settings in the shipped config, expected every key (30 or more)", n)
	}
	path := filepath.Join(t.TempDir(), "all.toml")
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatalf("write uncommented config: %v", err)
	}
	r := checkConfig(t, b, path)
	if r.Code != 0 {
		t.Fatalf("check with all %d settings uncommented: exit %d, want 0:\n%s", n, r.Code, r.Out)
	}
}

func TestBrokenConfigExits78(t *testing.T) {
	b := packages(t)
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte("no-such-key = 1\n[etcd]\ninitial-cluster-state = \"new\"\n"), 0o600); err != nil {
		t.Fatalf("write bad config: %v", err)
	}
	r := checkConfig(t, b, path)
	if r.Code != 78 {
		t.Fatalf("check on a broken config: exit %d, want 78 (the unit's RestartPreventExitStatus):\n%s", r.Code, r.Out)
	}
	for _, want := range []string{"no-such-key", "initial-cluster-state"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("check output does not name %q:\n%s", want, r.Out)
		}
	}
}
