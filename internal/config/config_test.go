package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// dockerEnv is the environment of etcd2 in the original entrypoint's
// `docker run` example: it must keep working unchanged.
var dockerEnv = []string{
	"PATH=/usr/bin",
	"ETCD_NAME=etcd2",
	"ETCD_ADVERTISE_CLIENT_URLS=http://192.168.99.100:2379",
	"ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379",
	"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://192.168.99.100:2380",
	"ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380",
	"ETCD_INITIAL_CLUSTER_TOKEN=etcd-cluster-1",
	"ETCD_INITIAL_CLUSTER=etcd1=http://192.168.99.100:1380,etcd2=http://192.168.99.100:2380,etcd3=http://192.168.99.100:3380",
	"ETCD_OTHER_PEERS_CLIENT_URLS=http://192.168.99.100:1379,http://192.168.99.100:3379",
	"ETCD_INITIAL_CLUSTER_STATE=new",
}

func load(t *testing.T, toml string, env ...string) (*Config, error) {
	t.Helper()
	in := Input{Environ: env, ReadFile: os.ReadFile}
	if toml != "" {
		in.Path = filepath.Join(t.TempDir(), "etcd-rejoin.toml")
		if err := os.WriteFile(in.Path, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Load(in)
}

func TestDockerEntrypointEnvironment(t *testing.T) {
	cfg, err := load(t, "", dockerEnv...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Name != "etcd2" {
		t.Errorf("Name = %q, want etcd2", cfg.Name)
	}
	if want := []string{"http://192.168.99.100:1379", "http://192.168.99.100:3379"}; !reflect.DeepEqual(cfg.PeerClientURLs, want) {
		t.Errorf("PeerClientURLs = %v, want %v", cfg.PeerClientURLs, want)
	}
	if cfg.Sources["peer-client-urls"] != "env ETCD_OTHER_PEERS_CLIENT_URLS" {
		t.Errorf("source of peer-client-urls = %q", cfg.Sources["peer-client-urls"])
	}
	if cfg.DataDir != "etcd2.etcd" || cfg.StateFile != "etcd2.etcd.rejoin-state.json" {
		t.Errorf("DataDir %q StateFile %q, want etcd's default etcd2.etcd", cfg.DataDir, cfg.StateFile)
	}
	if cfg.LocalClientURL != "http://127.0.0.1:2379" {
		t.Errorf("LocalClientURL = %q, want http://127.0.0.1:2379 (0.0.0.0 made dialable)", cfg.LocalClientURL)
	}
	if len(cfg.InitialCluster) != 3 || cfg.InitialCluster["etcd3"][0] != "http://192.168.99.100:3380" {
		t.Errorf("InitialCluster = %v", cfg.InitialCluster)
	}
	if _, ok := cfg.Etcd[stateFlag]; ok {
		t.Errorf("initial-cluster-state must never be taken from the environment")
	}
	if !strings.Contains(strings.Join(cfg.Warnings, "\n"), "ETCD_INITIAL_CLUSTER_STATE is ignored") {
		t.Errorf("no warning about ETCD_INITIAL_CLUSTER_STATE: %v", cfg.Warnings)
	}
	if cfg.Etcd["initial-cluster-token"] != "etcd-cluster-1" {
		t.Errorf("token = %q", cfg.Etcd["initial-cluster-token"])
	}
}

func TestBuiltInDefaults(t *testing.T) {
	cfg, err := load(t, "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		EtcdBinary: "etcd", Learner: true, KeepBackups: 3,
		DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second, HealthInterval: 5 * time.Second,
		WaitBackoffMax: 30 * time.Second, StopTimeout: 20 * time.Second, JoinTimeout: 5 * time.Minute, LogFormat: "text",
		StateFile: "default.etcd.rejoin-state.json",
		Snapshot:  SnapshotConfig{Interval: 6 * time.Hour, Keep: 5, Dir: "snapshots", CommandTimeout: 15 * time.Minute},
		Defrag:    DefragConfig{Enabled: true, MinFreeRatio: 0.5, MinFreeBytes: 64 << 20, CheckInterval: 10 * time.Minute},
		Name:      "default", DataDir: "default.etcd", PeerURLs: []string{"http://localhost:2380"},
		ListenPeerURLs: []string{"http://localhost:2380"}, ListenClientURLs: []string{"http://localhost:2379"},
		AdvertiseClientURLs: []string{"http://localhost:2379"},
		InitialCluster:      map[string][]string{"default": {"http://localhost:2380"}},
		LocalClientURL:      "http://localhost:2379",
	}
	got := *cfg
	got.Etcd, got.Sources, got.Warnings = nil, nil, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", &got, want)
	}
	if cfg.Sources["etcd.data-dir"] != "derived" || cfg.Sources["keep-backups"] != "default" {
		t.Errorf("sources: %v", cfg.Sources)
	}
}

func TestPrecedenceDefaultsFileEnv(t *testing.T) {
	file := `
keep-backups = 5
learner = false
stop-timeout = "45s"
peer-client-urls = ["http://127.0.0.2:2379", "http://127.0.0.3:2379"]

[etcd]
name = "n1"
data-dir = "/var/lib/x/n1"
initial-advertise-peer-urls = "http://127.0.0.1:2380"
initial-cluster = "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380"
heartbeat-interval = 200
`
	cfg, err := load(t, file, "ETCD_REJOIN_KEEP_BACKUPS=7", "ETCD_DATA_DIR=/srv/n1", "ETCD_REJOIN_CLIENT_TLS_INSECURE_SKIP_VERIFY=true")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.KeepBackups != 7 || !strings.HasPrefix(cfg.Sources["keep-backups"], "env ") {
		t.Errorf("env must win over the file: keep-backups %d from %s", cfg.KeepBackups, cfg.Sources["keep-backups"])
	}
	if cfg.Learner || cfg.StopTimeout != 45*time.Second {
		t.Errorf("file must win over defaults: learner %v stop %s", cfg.Learner, cfg.StopTimeout)
	}
	if cfg.DataDir != "/srv/n1" || cfg.StateFile != "/srv/n1.rejoin-state.json" {
		t.Errorf("DataDir %q StateFile %q", cfg.DataDir, cfg.StateFile)
	}
	if cfg.Etcd["heartbeat-interval"] != "200" {
		t.Errorf("integer flag = %q", cfg.Etcd["heartbeat-interval"])
	}
	if !cfg.ClientTLS.InsecureSkipVerify {
		t.Errorf("ETCD_REJOIN_CLIENT_TLS_INSECURE_SKIP_VERIFY not applied")
	}
	if len(cfg.PeerClientURLs) != 2 {
		t.Errorf("PeerClientURLs = %v", cfg.PeerClientURLs)
	}
}

func TestTLSDefaultsFromEtcd(t *testing.T) {
	dir := t.TempDir()
	f := func(n string) string {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := []string{
		"ETCD_NAME=a", "ETCD_INITIAL_CLUSTER=a=https://127.0.0.1:2380",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=https://127.0.0.1:2380", "ETCD_LISTEN_PEER_URLS=https://127.0.0.1:2380",
		"ETCD_LISTEN_CLIENT_URLS=https://127.0.0.1:2379", "ETCD_ADVERTISE_CLIENT_URLS=https://127.0.0.1:2379",
		"ETCD_CERT_FILE=" + f("s.crt"), "ETCD_KEY_FILE=" + f("s.key"), "ETCD_TRUSTED_CA_FILE=" + f("ca.crt"),
		"ETCD_CLIENT_CERT_AUTH=true",
		"ETCD_PEER_CERT_FILE=" + f("p.crt"), "ETCD_PEER_KEY_FILE=" + f("p.key"), "ETCD_PEER_TRUSTED_CA_FILE=" + f("pca.crt"),
		"ETCD_PEER_CLIENT_CERT_AUTH=true",
	}
	cfg, err := Load(Input{Environ: env, Stat: os.Stat})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.ClientTLS != (TLS{CertFile: f("s.crt"), KeyFile: f("s.key"), TrustedCAFile: f("ca.crt")}) {
		t.Errorf("client TLS = %+v", cfg.ClientTLS)
	}
	if cfg.PeerTLS != (TLS{CertFile: f("p.crt"), KeyFile: f("p.key"), TrustedCAFile: f("pca.crt")}) {
		t.Errorf("peer TLS = %+v", cfg.PeerTLS)
	}
}

// TestInvalidConfigurations: every problem is reported, each naming its key
// and source, and the error maps to exit code 2 (ErrInvalid).
func TestInvalidConfigurations(t *testing.T) {
	cases := []struct {
		name string
		toml string
		env  []string
		want []string // substrings, each must appear
	}{
		{"malformed TOML", "keep-backups = = 3\n", nil, []string{"config file", "not valid TOML: line 1"}},
		{"unknown top-level key", "keep-backup = 3\n", nil, []string{"keep-backup (file ", "unknown key"}},
		{"unknown etcd flag", "[etcd]\ndata_dir = \"/x\"\n", nil, []string{"etcd.data_dir", "unknown etcd flag"}},
		{"unknown TLS key", "[client-tls]\ncert = \"/x\"\n", nil, []string{"client-tls.cert", "unknown key"}},
		{"state decided by etcd-rejoin", "[etcd]\ninitial-cluster-state = \"new\"\n", nil, []string{"etcd.initial-cluster-state", "decided by etcd-rejoin"}},
		{"name missing from initial cluster", "", []string{"ETCD_NAME=etcd4", "ETCD_INITIAL_CLUSTER=etcd1=http://10.0.0.1:2380"},
			[]string{"etcd.initial-cluster (env ETCD_INITIAL_CLUSTER)", `does not list this member's name "etcd4"`}},
		{"peer URL differs from initial cluster", "", []string{"ETCD_NAME=a", "ETCD_INITIAL_CLUSTER=a=http://10.0.0.1:2380", "ETCD_INITIAL_ADVERTISE_PEER_URLS=http://10.0.0.9:2380"},
			[]string{"lists http://10.0.0.1:2380 for a, but etcd.initial-advertise-peer-urls"}},
		{"invalid URL", "", []string{"ETCD_OTHER_PEERS_CLIENT_URLS=http://10.0.0.2:2379,ftp://x:1"},
			[]string{"peer-client-urls (env ETCD_OTHER_PEERS_CLIENT_URLS)", `"ftp://x:1": scheme must be http or https`}},
		{"URL without port", "[etcd]\nlisten-client-urls = \"http://127.0.0.1\"\n", nil, []string{"etcd.listen-client-urls", "needs a host and a port"}},
		{"bad numbers and durations", "keep-backups = 0\nstop-timeout = \"soon\"\nhealth-interval = \"-1s\"\n", nil,
			[]string{"keep-backups (file", "must be at least 1, got 0", `stop-timeout (file`, `"soon" is not a duration`, "health-interval", "longer than zero"}},
		{"bad env value", "", []string{"ETCD_REJOIN_LEARNER=maybe", "ETCD_REJOIN_NOPE=1"},
			[]string{`learner (env ETCD_REJOIN_LEARNER): "maybe" is not true or false`, "ETCD_REJOIN_NOPE (env): unknown etcd-rejoin variable"}},
		{"https without certificate", "", []string{"ETCD_LISTEN_CLIENT_URLS=https://127.0.0.1:2379"}, []string{"uses https but etcd.cert-file is not set"}},
		{"cert auth without CA", "", []string{"ETCD_CLIENT_CERT_AUTH=true"}, []string{"etcd.client-cert-auth (env ETCD_CLIENT_CERT_AUTH): is true but etcd.trusted-ca-file is not set"}},
		{"cert without key", "[client-tls]\ncert-file = \"/c\"\n", nil, []string{"client-tls.cert-file", "without its partner"}},
		{"list where a value belongs", "learner = [true]\n", nil, []string{"learner", "must be a single value"}},
		{"duplicate peer URL", "", []string{"ETCD_INITIAL_CLUSTER=default=http://localhost:2380,b=http://localhost:2380"}, []string{"is listed for both"}},
		{"log settings", "log-level = \"loud\"\nlog-format = \"xml\"\n", nil, []string{`"loud" is not one of`, `"xml" is not one of text, json`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.toml, c.env...)
			if err == nil {
				t.Fatal("Load accepted an invalid configuration")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	_, err := load(t, "bogus = 1\nkeep-backups = -2\n[etcd]\nnope = 1\n", "ETCD_REJOIN_STOP_TIMEOUT=x")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if len(ce.Problems) != 4 {
		t.Errorf("got %d problems, want 4:\n%v", len(ce.Problems), err)
	}
	if !strings.Contains(err.Error(), "4 problem(s)") {
		t.Errorf("summary line missing: %v", err)
	}
}

func TestMissingFiles(t *testing.T) {
	_, err := Load(Input{Environ: []string{"ETCD_CERT_FILE=/nonexistent/s.crt", "ETCD_KEY_FILE=/nonexistent/s.key"}, Stat: os.Stat})
	if err == nil || !strings.Contains(err.Error(), "etcd.cert-file (env ETCD_CERT_FILE): file /nonexistent/s.crt: no such file or directory") {
		t.Errorf("err = %v", err)
	}
}

func TestResolvePath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	cases := []struct {
		name, flag string
		env        map[string]string
		exists     func(string) bool
		want       string
		must       bool
	}{
		{"flag wins", "/a.toml", map[string]string{EnvConfig: "/b.toml"}, yes, "/a.toml", true},
		{"env next", "", map[string]string{EnvConfig: "/b.toml"}, yes, "/b.toml", true},
		{"default if present", "", nil, yes, DefaultPath, true},
		{"none", "", nil, no, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, must := ResolvePath(c.flag, env(c.env), c.exists)
			if got != c.want || must != c.must {
				t.Errorf("got %q,%v want %q,%v", got, must, c.want, c.must)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("initial-advertise-peer-urls"); got != "ETCD_INITIAL_ADVERTISE_PEER_URLS" {
		t.Errorf("EnvName = %s", got)
	}
	if got := OwnEnvName("client-tls.cert-file"); got != "ETCD_REJOIN_CLIENT_TLS_CERT_FILE" {
		t.Errorf("OwnEnvName = %s", got)
	}
}

func TestOddEnvironmentNamesIgnored(t *testing.T) {
	cfg, err := load(t, "", "ETCD_=x", "ETCD_\x00=y", "ETCD_lower=z", "ETCD_HEARTBEAT_INTERVAL=150")
	if err != nil {
		t.Fatal(err)
	}
	for flag := range cfg.Etcd {
		if flag == "" || flag == "\x00" || flag == "lower" {
			t.Errorf("flag %q taken from an odd variable name", flag)
		}
	}
	if cfg.Etcd["heartbeat-interval"] != "150" {
		t.Errorf("heartbeat-interval = %q", cfg.Etcd["heartbeat-interval"])
	}
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, `"ETCD_lower" is ignored`) {
		t.Errorf("warnings = %q", w)
	}
}

// etcd auth: a user comes with the file of its password; a relative file is
// a systemd credential under $CREDENTIALS_DIRECTORY.
func TestClientAuth(t *testing.T) {
	base := []string{"ETCD_NAME=n1", "ETCD_INITIAL_CLUSTER=n1=http://127.0.0.1:2380", "ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380"}
	tests := []struct {
		name string
		env  []string
		file string // want ClientAuth.PasswordFile
		prob string // or a problem
	}{
		{"user and absolute file", []string{"ETCD_REJOIN_CLIENT_AUTH_USERNAME=root", "ETCD_REJOIN_CLIENT_AUTH_PASSWORD_FILE=/etc/etcd-rejoin/pw"}, "/etc/etcd-rejoin/pw", ""},
		{"systemd credential", []string{"ETCD_REJOIN_CLIENT_AUTH_USERNAME=root", "ETCD_REJOIN_CLIENT_AUTH_PASSWORD_FILE=etcd-password",
			"CREDENTIALS_DIRECTORY=/run/credentials/etcd-rejoin.service"}, "/run/credentials/etcd-rejoin.service/etcd-password", ""},
		{"relative file without credentials", []string{"ETCD_REJOIN_CLIENT_AUTH_USERNAME=root", "ETCD_REJOIN_CLIENT_AUTH_PASSWORD_FILE=etcd-password"}, "",
			`client-auth.password-file (env ETCD_REJOIN_CLIENT_AUTH_PASSWORD_FILE): "etcd-password" is relative, which names a systemd credential, but $CREDENTIALS_DIRECTORY is not set`},
		{"user without file", []string{"ETCD_REJOIN_CLIENT_AUTH_USERNAME=root"}, "",
			"client-auth.password-file (default): must be set with client-auth.username (env ETCD_REJOIN_CLIENT_AUTH_USERNAME): the password is read from a file"},
		{"file without user", []string{"ETCD_REJOIN_CLIENT_AUTH_PASSWORD_FILE=/pw"}, "", "client-auth.username (default): must be set with client-auth.password-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Input{Environ: append(base, tt.env...)})
			if tt.prob != "" {
				if err == nil || !strings.Contains(err.Error(), tt.prob) {
					t.Fatalf("Load = %v, want a problem %q", err, tt.prob)
				}
				return
			}
			if err != nil || cfg.ClientAuth.PasswordFile != tt.file || cfg.ClientAuth.Username != "root" {
				t.Fatalf("Load = %+v, %v; want user root with %s", cfg.ClientAuth, err, tt.file)
			}
		})
	}
}

// One scheme for every URL etcd-rejoin talks to, plain listeners on
// loopback beside https ones excepted; no credentials in URLs; a warning
// when certificates are not verified.
func TestSchemesAndURLs(t *testing.T) {
	tls := []string{"ETCD_CERT_FILE=/c", "ETCD_KEY_FILE=/k", "ETCD_PEER_CERT_FILE=/c", "ETCD_PEER_KEY_FILE=/k"}
	base := func(client, peer string) []string {
		return append([]string{"ETCD_NAME=n1", "ETCD_INITIAL_CLUSTER=n1=" + peer, "ETCD_INITIAL_ADVERTISE_PEER_URLS=" + peer,
			"ETCD_LISTEN_PEER_URLS=" + peer, "ETCD_ADVERTISE_CLIENT_URLS=" + client, "ETCD_LISTEN_CLIENT_URLS=" + client}, tls...)
	}
	tests := []struct {
		name  string
		env   []string
		prob  string
		local string
	}{
		{"all https", base("https://10.0.0.1:2379", "https://10.0.0.1:2380"), "", "https://10.0.0.1:2379"},
		{"https clients, http peers", base("https://10.0.0.1:2379", "http://10.0.0.1:2380"),
			"etcd.initial-advertise-peer-urls (env ETCD_INITIAL_ADVERTISE_PEER_URLS): uses http but etcd.advertise-client-urls (env ETCD_ADVERTISE_CLIENT_URLS) uses https", ""},
		{"mixed advertise", base("https://10.0.0.1:2379,http://10.0.0.1:22379", "https://10.0.0.1:2380"),
			"etcd.advertise-client-urls (env ETCD_ADVERTISE_CLIENT_URLS): mixes http and https URLs", ""},
		{"http peer client URLs with TLS", append(base("https://10.0.0.1:2379", "https://10.0.0.1:2380"), "ETCD_OTHER_PEERS_CLIENT_URLS=http://10.0.0.2:2379"),
			"peer-client-urls (env ETCD_OTHER_PEERS_CLIENT_URLS): uses http", ""},
		{"plain loopback listener beside https", append(base("https://10.0.0.1:2379", "https://10.0.0.1:2380"),
			"ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:2379,https://0.0.0.0:2379"), "", "https://127.0.0.1:2379"},
		{"plain listener elsewhere", append(base("https://10.0.0.1:2379", "https://10.0.0.1:2380"),
			"ETCD_LISTEN_CLIENT_URLS=http://10.0.0.1:22379,https://0.0.0.0:2379"), "etcd.listen-client-urls (env ETCD_LISTEN_CLIENT_URLS): mixes http and https", ""},
		{"credentials in a URL", append(base("http://10.0.0.1:2379", "http://10.0.0.1:2380"), "ETCD_OTHER_PEERS_CLIENT_URLS=http://root:secret@10.0.0.2:2379"),
			`invalid URL "http://root:xxxxx@10.0.0.2:2379": must not carry a user name or password`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Input{Environ: tt.env})
			if tt.prob != "" {
				if err == nil || !strings.Contains(err.Error(), tt.prob) {
					t.Fatalf("Load = %v, want a problem %q", err, tt.prob)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the password shows in %q", err)
				}
				return
			}
			if err != nil || cfg.LocalClientURL != tt.local {
				t.Fatalf("Load: %v; local client URL %q, want %q", err, cfg.LocalClientURL, tt.local)
			}
		})
	}
	cfg, err := Load(Input{Environ: append(base("https://10.0.0.1:2379", "https://10.0.0.1:2380"), "ETCD_REJOIN_CLIENT_TLS_INSECURE_SKIP_VERIFY=true")})
	if err != nil || !strings.Contains(strings.Join(cfg.Warnings, "\n"), "insecure-skip-verify is on") {
		t.Errorf("insecure-skip-verify: %v, warnings %q", err, cfg.Warnings)
	}
}
