package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// runIn runs the command line with a clean environment plus env, in a fresh
// working directory, and returns exit code, stdout and stderr.
func runIn(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ETCD") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Bad configurations exit 78 (EX_CONFIG), name every problem, and touch no
// file: no data dir, no state file appears.
func TestBadConfigurationExits78(t *testing.T) {
	cases := []struct {
		name string
		toml string
		env  []string
		want []string
	}{
		{"malformed TOML", "learner = \n", nil, []string{"not valid TOML"}},
		{"unknown key and bad value together", "keep-backupz = 1\nstop-timeout = \"x\"\n", nil,
			[]string{"keep-backupz", "unknown key", "stop-timeout", "not a duration", "2 problem(s)"}},
		{"name missing from the initial cluster", "", []string{"ETCD_NAME=etcd9", "ETCD_INITIAL_CLUSTER=etcd1=http://127.0.0.1:2380"},
			[]string{"does not list this member's name \"etcd9\""}},
		{"invalid URL", "[etcd]\nadvertise-client-urls = \"localhost:2379\"\n", nil, []string{"etcd.advertise-client-urls", "invalid URL"}},
		{"conflicting settings", "", []string{"ETCD_PEER_CLIENT_CERT_AUTH=true", "ETCD_LISTEN_PEER_URLS=https://127.0.0.1:2380"},
			[]string{"peer-client-cert-auth", "peer-trusted-ca-file is not set", "uses https but etcd.peer-cert-file is not set"}},
	}
	for _, c := range cases {
		for _, cmd := range []string{"check", "run", "plan"} {
			t.Run(c.name+"/"+cmd, func(t *testing.T) {
				args := []string{cmd}
				if c.toml != "" {
					args = append([]string{"--config", writeFile(t, "c.toml", c.toml)}, args...)
				}
				code, _, stderr := runIn(t, c.env, args...)
				if code != 78 {
					t.Errorf("exit code = %d, want 78; stderr:\n%s", code, stderr)
				}
				for _, w := range c.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("stderr does not mention %q:\n%s", w, stderr)
					}
				}
				if left := dirNames(t, "."); len(left) != 0 {
					t.Errorf("files created: %v", left)
				}
			})
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestCheckAcceptsDockerEnvironment(t *testing.T) {
	code, out, stderr := runIn(t, []string{
		"ETCD_NAME=etcd1",
		"ETCD_ADVERTISE_CLIENT_URLS=http://192.168.99.100:1379",
		"ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://192.168.99.100:1380",
		"ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380",
		"ETCD_INITIAL_CLUSTER_TOKEN=etcd-cluster-1",
		"ETCD_INITIAL_CLUSTER=etcd1=http://192.168.99.100:1380,etcd2=http://192.168.99.100:2380,etcd3=http://192.168.99.100:3380",
		"ETCD_OTHER_PEERS_CLIENT_URLS=http://192.168.99.100:2379,http://192.168.99.100:3379",
	}, "check")
	if code != 0 || !strings.Contains(out, "configuration OK: member etcd1, data dir etcd1.etcd, 3 member(s)") {
		t.Errorf("check = %d\nstdout %s\nstderr %s", code, out, stderr)
	}
}

// A bad command line exits 64 (EX_USAGE) with the usage on stderr.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"check", "extra"}, `check takes no arguments, got "extra"`},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"plan", "--yaml"}, "plan: flag provided but not defined: -yaml"},
	} {
		code, stdout, stderr := runIn(t, nil, tc.args...)
		if code != 64 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "usage: etcd-rejoin") || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 64 and %q", tc.args, code, stdout, stderr, tc.want)
		}
		if strings.Count(stderr, "usage: etcd-rejoin") != 1 {
			t.Errorf("%v: usage printed %d times", tc.args, strings.Count(stderr, "usage: etcd-rejoin"))
		}
	}
}

// Asking for help is no error: the usage goes to stdout, exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"plan", "--help"}, {"check", "-h"}} {
		code, stdout, stderr := runIn(t, nil, args...)
		if code != 0 || !strings.HasPrefix(stdout, "usage: etcd-rejoin") || !strings.Contains(stdout, "78 invalid configuration") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// plan prints each configuration warning once.
func TestPlanWarnsOnce(t *testing.T) {
	_, _, stderr := runIn(t, []string{"ETCD_INITIAL_CLUSTER_STATE=new", "ETCD_REJOIN_DIAL_TIMEOUT=100ms",
		"ETCD_INITIAL_CLUSTER=default=http://127.0.0.1:2380", "ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380"}, "plan")
	if n := strings.Count(stderr, "ETCD_INITIAL_CLUSTER_STATE is ignored"); n != 1 {
		t.Errorf("warning printed %d times:\n%s", n, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runIn(t, []string{"ETCD_REJOIN_ETCD_BINARY=/nonexistent/etcd"}, "version")
	if code != 0 || !strings.HasPrefix(out, "etcd-rejoin dev (commit unknown, go1.") || !strings.Contains(out, "etcd: not found (/nonexistent/etcd") {
		t.Errorf("version = %d %q", code, out)
	}
}

// --config works before and after the command.
func TestConfigFlagEitherSide(t *testing.T) {
	path := writeFile(t, "c.toml", "[etcd]\nname = \"x1\"\ninitial-cluster = \"x1=http://127.0.0.1:2380\"\ninitial-advertise-peer-urls = \"http://127.0.0.1:2380\"\n")
	for _, args := range [][]string{{"--config", path, "check"}, {"check", "--config", path}, {"check", "--config=" + path}} {
		code, out, stderr := runIn(t, nil, args...)
		if code != 0 || !strings.Contains(out, "member x1") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
}

func TestOverriddenNamesKeysNotValues(t *testing.T) {
	cfg := mustLoad(t, "ETCD_NAME=n1", "ETCD_INITIAL_CLUSTER=n1=http://localhost:2380", "ETCD_REJOIN_CLIENT_TLS_KEY_FILE=/secret/key.pem", "ETCD_REJOIN_CLIENT_TLS_CERT_FILE=/secret/c.pem")
	got := overridden(cfg)
	for _, want := range []string{"etcd.name (env ETCD_NAME)", "client-tls.key-file (env ETCD_REJOIN_CLIENT_TLS_KEY_FILE)"} {
		if !strings.Contains(got, want) {
			t.Errorf("overridden = %q, lacks %q", got, want)
		}
	}
	if strings.Contains(got, "/secret") || strings.Contains(got, "keep-backups") {
		t.Errorf("overridden = %q shows a value or a default", got)
	}
}

func mustLoad(t *testing.T, env ...string) *config.Config {
	t.Helper()
	cfg, err := config.Load(config.Input{Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestJournalLinesCarryNoTimestamp(t *testing.T) {
	cfg := mustLoad(t)
	for _, journal := range []string{"", "8:1234"} {
		t.Setenv("JOURNAL_STREAM", journal)
		var buf bytes.Buffer
		(&app{stderr: &buf}).logger(cfg).Info("decision", "action", "restart")
		hasTime := strings.Contains(buf.String(), "time=")
		if hasTime != (journal == "") {
			t.Errorf("JOURNAL_STREAM=%q: line %q", journal, buf.String())
		}
		if !strings.Contains(buf.String(), "msg=decision action=restart") {
			t.Errorf("line %q", buf.String())
		}
	}
}

// check, run as root, reads every certificate and key as the service's user:
// one only root may read is a configuration problem that names the file,
// the user and what to change.
func TestCheckReadsFilesAsTheServiceUser(t *testing.T) {
	testcmd.NeedRoot(t, "check reading files as another user")
	dir, err := os.MkdirTemp("/var/lib", "check-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "etcd.key")
	cert := filepath.Join(dir, "etcd.crt")
	for p, mode := range map[string]os.FileMode{key: 0o600, cert: 0o644} {
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"ETCD_NAME=n1", "ETCD_INITIAL_CLUSTER=n1=https://10.0.0.1:2380", "ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.1:2380",
		"ETCD_LISTEN_PEER_URLS=https://10.0.0.1:2380", "ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.1:2379", "ETCD_LISTEN_CLIENT_URLS=https://10.0.0.1:2379",
		"ETCD_CERT_FILE=" + cert, "ETCD_KEY_FILE=" + key, "ETCD_PEER_CERT_FILE=" + cert, "ETCD_PEER_KEY_FILE=" + key}
	code, _, stderr := runIn(t, env, "check", "--user", "nobody")
	if code != 78 {
		t.Fatalf("check = %d, want 78; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"etcd.key-file (env ETCD_KEY_FILE): " + key + " cannot be read by user nobody", "permission denied",
		"setfacl -m u:nobody:r FILE", "LoadCredential="} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, cert+" cannot") {
		t.Errorf("the readable certificate is reported:\n%s", stderr)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runIn(t, env, "check", "--user", "nobody"); code != 0 {
		t.Errorf("check with readable files = %d\n%s%s", code, out, stderr)
	}
}
