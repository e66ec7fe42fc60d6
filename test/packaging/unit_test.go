package packaging_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unitName = pkgName + ".service"

// maxExposure is the highest `systemd-analyze security` score accepted
// (Debian's own etcd.service scores 9.2).
const maxExposure = 2.0

// analyze runs systemd-analyze on the packaged unit, inside the extracted
// package, with the package's man page on MANPATH so Documentation=man: is
// checked too.
func analyze(t *testing.T, b built, args ...string) result {
	t.Helper()
	needTool(t, "systemd-analyze", "man")
	env := append(os.Environ(), "MANPATH="+filepath.Join(b.root, "usr", "share", "man"), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	args = append(args, "--root="+b.root, unitName)
	return run(t, 2*time.Minute, t.TempDir(), env, "systemd-analyze", args...)
}

func TestUnitVerifyIsClean(t *testing.T) {
	b := packages(t)
	r := analyze(t, b, "verify")
	if r.Code != 0 || strings.TrimSpace(r.Out) != "" {
		t.Fatalf("systemd-analyze verify: exit %d, want 0 and no output; got:\n%s", r.Code, r.Out)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(unitName) + `: ([0-9]+\.[0-9]+) (\S+)`)

func TestUnitSecurityExposure(t *testing.T) {
	b := packages(t)
	r := analyze(t, b, "security", "--offline=true", "--no-pager")
	m := exposureRE.FindStringSubmatch(r.Out)
	if m == nil {
		t.Fatalf("no exposure level in systemd-analyze security output (exit %d):\n%s", r.Code, r.Out)
	}
	score, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("parse exposure %q: %v", m[1], err)
	}
	t.Logf("exposure level: %.1f %s", score, m[2])
	if score > maxExposure {
		t.Errorf("exposure %.1f %s, want <= %.1f; full report:\n%s", score, m[2], maxExposure, r.Out)
	}
}

// unitSettings reads the packaged unit into section.key -> values.
func unitSettings(t *testing.T, b built) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(b.root, "lib", "systemd", "system", unitName))
	if err != nil {
		t.Fatalf("open packaged unit: %v", err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read packaged unit: %v", err)
	}
	return out
}

func TestUnitContract(t *testing.T) {
	u := unitSettings(t, packages(t))
	want := map[string]string{
		"Unit.Conflicts":                   "etcd.service",
		"Service.Type":                     "notify",
		"Service.NotifyAccess":             "main",
		"Service.ExecStart":                "/usr/bin/etcd-rejoin run",
		"Service.Restart":                  "on-failure",
		"Service.RestartPreventExitStatus": "64 78",
		"Service.KillMode":                 "mixed",
		"Service.User":                     "etcd-rejoin",
		"Service.Group":                    "etcd-rejoin",
		"Service.StateDirectory":           "etcd-rejoin",
		"Service.WorkingDirectory":         "/var/lib/etcd-rejoin",
		"Service.InaccessiblePaths":        "-/var/lib/etcd",
		"Service.ProtectSystem":            "strict",
		"Service.NoNewPrivileges":          "yes",
		"Service.CapabilityBoundingSet":    "",
		"Install.WantedBy":                 "multi-user.target",
	}
	for k, v := range want {
		if got := u[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got, v)
		}
	}
	if after := strings.Join(u["Unit.After"], " "); !strings.Contains(after, "etcd.service") {
		t.Errorf("After=%q must order after etcd.service so that it is stopped first", after)
	}
	// etcd-rejoin's defaults: stop-timeout 20s, health-interval 5s.
	if d := unitDuration(t, u, "Service.TimeoutStopSec"); d <= 20*time.Second {
		t.Errorf("TimeoutStopSec=%s must exceed the default stop-timeout of 20s", d)
	}
	if d := unitDuration(t, u, "Service.WatchdogSec"); d < 2*5*time.Second {
		t.Errorf("WatchdogSec=%s must be at least twice the default health-interval of 5s", d)
	}
	if d := unitDuration(t, u, "Service.TimeoutStartSec"); d < 10*time.Minute {
		t.Errorf("TimeoutStartSec=%s leaves too little time for a catch-up", d)
	}
	if n := u["Service.LimitNOFILE"]; len(n) != 1 || n[0] == "" {
		t.Errorf("LimitNOFILE=%q, want one value", n)
	}
}

// unitDuration parses the few time spans the unit uses (e.g. 40s, 30min).
func unitDuration(t *testing.T, u map[string][]string, key string) time.Duration {
	t.Helper()
	v := u[key]
	if len(v) != 1 {
		t.Fatalf("%s = %q, want one value", key, v)
	}
	d, err := time.ParseDuration(strings.Replace(v[0], "min", "m", 1))
	if err != nil {
		t.Fatalf("%s=%s: %v", key, v[0], err)
	}
	return d
}
