package packaging_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// lintianCounts counts the error and warning lines of lintian's output.
func lintianCounts(out string) (errs, warns int) {
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "E: "):
			errs++
		case strings.HasPrefix(line, "W: "):
			warns++
		}
	}
	return errs, warns
}

func TestLintianCounts(t *testing.T) {
	needTool(t, "lintian")
	b := packages(t)
	// lintian fails (exit 2, output cut short) when run as root from a
	// directory other users cannot enter, such as a test's temp dir.
	r := run(t, 5*time.Minute, "/", nil, "lintian", "--pedantic", "--display-info", b.deb)
	t.Logf("lintian (exit %d):\n%s", r.Code, r.Out)
	errs, warns := lintianCounts(r.Out)
	t.Logf("lintian: %d error(s), %d warning(s)", errs, warns)
	if errs != 0 || warns != 0 {
		t.Errorf("lintian: %d error(s), %d warning(s); want 0 and 0", errs, warns)
	}
	if r.Code != 0 {
		t.Errorf("lintian exit %d, want 0", r.Code)
	}
	// The overrides (each with its reason in packaging/deb/lintian-overrides)
	// must still match, or they hide nothing and should go.
	for _, tag := range []string{"unused-override", "mismatched-override"} {
		if strings.Contains(r.Out, tag) {
			t.Errorf("lintian reports %s: fix packaging/deb/lintian-overrides", tag)
		}
	}
}

func TestDebControl(t *testing.T) {
	b := packages(t)
	fields := mustRun(t, time.Minute, "", "dpkg-deb", "-f", b.deb, "Package", "Depends", "Architecture")
	for _, want := range []string{"Package: etcd-rejoin", "Depends: etcd-server, systemd"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control fields lack %q:\n%s", want, fields)
		}
	}
	ctrl := t.TempDir()
	mustRun(t, time.Minute, "", "dpkg-deb", "-e", b.deb, ctrl)
	conffiles := readLines(t, filepath.Join(ctrl, "conffiles"))
	want := []string{"/etc/default/etcd-rejoin", "/etc/etcd-rejoin.toml"}
	slices.Sort(conffiles)
	if !slices.Equal(conffiles, want) {
		t.Errorf("conffiles = %q, want %q", conffiles, want)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		checkScript(t, filepath.Join(ctrl, script))
	}
	postinst := readFile(t, filepath.Join(ctrl, "postinst"))
	for _, want := range []string{
		"systemd-sysusers etcd-rejoin.conf",
		"statoverride root etcd-rejoin 0640 /etc/etcd-rejoin.toml",
		"deb-systemd-invoke try-restart",
	} {
		if !strings.Contains(postinst, want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	if strings.Contains(postinst, "deb-systemd-invoke start") {
		t.Errorf("postinst starts the service on install; it must wait until it is configured")
	}
}

// TestDebConfigModes: the .deb ships its configuration with its final
// modes, never readable by others between unpack and postinst: the TOML
// root:root 0640 (postinst gives it the group etcd-rejoin, which does not
// exist at unpack) and the environment file root:root 0600.
func TestDebConfigModes(t *testing.T) {
	b := packages(t)
	want := map[string]string{
		"./etc/etcd-rejoin.toml":    "-rw-r----- root/root",
		"./etc/default/etcd-rejoin": "-rw------- root/root",
	}
	got := map[string]string{}
	for _, line := range strings.Split(mustRun(t, time.Minute, "", "dpkg-deb", "--contents", b.deb), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 {
			if _, ok := want[f[len(f)-1]]; ok {
				got[f[len(f)-1]] = f[0] + " " + f[1]
			}
		}
	}
	for path, w := range want {
		if got[path] != w {
			t.Errorf("%s in the .deb: %q, want %q", path, got[path], w)
		}
	}
}

// deleteData matches any removal of the state directory or of /var/lib as a
// whole in a maintainer script.
var deleteData = regexp.MustCompile(`\brm\b[^\n]*(/var/lib|\$\{?[A-Za-z_]*DIR)`)

// checkScript fails if a maintainer script is not valid sh or deletes data.
func checkScript(t *testing.T, path string) {
	t.Helper()
	if r := run(t, time.Minute, "", nil, "sh", "-n", path); r.Code != 0 {
		t.Errorf("%s: sh -n exit %d:\n%s", filepath.Base(path), r.Code, r.Out)
	}
	if m := deleteData.FindString(readFile(t, path)); m != "" {
		t.Errorf("%s deletes data: %q", filepath.Base(path), m)
	}
}

func rpmQuery(t *testing.T, b built, args ...string) string {
	t.Helper()
	needTool(t, "rpm")
	return mustRun(t, time.Minute, "", "rpm", append([]string{"-qp"}, append(args, b.rpm)...)...)
}

func TestRPMFileList(t *testing.T) {
	b := packages(t)
	got := strings.Fields(rpmQuery(t, b, "--list"))
	want := []string{
		"/etc/etcd-rejoin.toml",
		"/etc/sysconfig/etcd-rejoin",
		"/usr/bin/etcd-rejoin",
		"/usr/lib/systemd/system/etcd-rejoin.service",
		"/usr/lib/sysusers.d/etcd-rejoin.conf",
		"/usr/lib/tmpfiles.d/etcd-rejoin.conf",
		"/usr/share/man/man8/etcd-rejoin.8.gz",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rpm --list:\n got %q\nwant %q", got, want)
	}
	attrs := rpmQuery(t, b, "--qf", `[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME}\n]`)
	for _, want := range []string{
		"/etc/etcd-rejoin.toml cn -rw-r----- root etcd-rejoin",
		"/etc/sysconfig/etcd-rejoin cn -rw------- root root",
		"/usr/bin/etcd-rejoin  -rwxr-xr-x root root",
	} {
		if !strings.Contains(attrs, want+"\n") {
			t.Errorf("rpm file attributes lack %q:\n%s", want, attrs)
		}
	}
}

func TestRPMRequires(t *testing.T) {
	b := packages(t)
	var deps []string
	for _, line := range strings.Split(rpmQuery(t, b, "--requires"), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "rpmlib(") {
			deps = append(deps, line)
		}
	}
	slices.Sort(deps)
	if want := []string{"etcd", "systemd"}; !slices.Equal(deps, want) {
		t.Errorf("rpm --requires = %q, want %q", deps, want)
	}
}

// rpmScripts splits `rpm -qp --scripts` into scriptlets by name.
func rpmScripts(out string) map[string]string {
	re := regexp.MustCompile(`(?m)^(\w+) scriptlet \(using [^)]*\):$`)
	idx := re.FindAllStringSubmatchIndex(out, -1)
	got := map[string]string{}
	for i, m := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		got[out[m[2]:m[3]]] = out[m[1]:end]
	}
	return got
}

func TestRPMScripts(t *testing.T) {
	b := packages(t)
	s := rpmScripts(rpmQuery(t, b, "--scripts"))
	want := map[string][]string{
		"preinstall":    {"groupadd -r etcd-rejoin", "useradd -r -g etcd-rejoin"},
		"postinstall":   {"systemctl daemon-reload", `if [ "$1" -eq 1 ]`, "preset etcd-rejoin.service"},
		"preuninstall":  {`if [ "$1" -eq 0 ]`, "disable --now etcd-rejoin.service"},
		"postuninstall": {`if [ "$1" -ge 1 ]`, "try-restart etcd-rejoin.service"},
	}
	if len(s) != len(want) {
		t.Errorf("scriptlets %v, want exactly %d", keys(s), len(want))
	}
	for name, parts := range want {
		body, ok := s[name]
		if !ok {
			t.Errorf("no %s scriptlet", name)
			continue
		}
		for _, p := range parts {
			if !strings.Contains(body, p) {
				t.Errorf("%s scriptlet lacks %q:\n%s", name, p, body)
			}
		}
		if m := deleteData.FindString(body); m != "" {
			t.Errorf("%s scriptlet deletes data: %q", name, m)
		}
		if code := withoutComments(body); strings.Contains(code, "systemctl start") || strings.Contains(code, "enable --now") {
			t.Errorf("%s scriptlet starts the service; RPM distributions leave that to presets and the admin", name)
		}
	}
}

// withoutComments drops the comment lines of a shell script.
func withoutComments(script string) string {
	var out []string
	for _, line := range strings.Split(script, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	return strings.Fields(readFile(t, path))
}
