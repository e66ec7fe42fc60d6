// Package config builds etcd-rejoin's configuration from, lowest first,
// built-in defaults, the TOML file and the environment, and validates it,
// reporting every problem at once with the key and where its value came from.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
)

// DefaultPath is the configuration file read when no other is named.
const DefaultPath = "/etc/etcd-rejoin.toml"

// Environment variables that belong to etcd-rejoin, not to etcd.
const (
	EnvPrefix          = "ETCD_REJOIN_"
	EnvConfig          = "ETCD_REJOIN_CONFIG"
	EnvOtherPeers      = "ETCD_OTHER_PEERS_CLIENT_URLS"
	EnvCredentials     = "CREDENTIALS_DIRECTORY" // set by systemd for LoadCredential=
	envEtcdPrefix      = "ETCD_"
	stateFlag          = "initial-cluster-state"
	sourceDefault      = "default"
	sourceDerived      = "derived"
	defaultName        = "default"
	defaultClusterTok  = "etcd-cluster"
	defaultPeerURL     = "http://localhost:2380"
	defaultClientURL   = "http://localhost:2379"
	defaultKeepBackups = 3
)

// TLS is a client-side TLS setting used to talk to the cluster.
type TLS struct {
	CertFile           string `toml:"cert-file"`
	KeyFile            string `toml:"key-file"`
	TrustedCAFile      string `toml:"trusted-ca-file"`
	InsecureSkipVerify bool   `toml:"insecure-skip-verify"`
}

// Auth is the user etcd-rejoin authenticates as when etcd's auth is on. The
// password is never part of the configuration: only the file holding it,
// read at each use so that a rotated password is picked up.
type Auth struct {
	Username     string
	PasswordFile string // absolute once loaded
}

// Enabled reports whether a user is configured.
func (a Auth) Enabled() bool { return a.Username != "" }

// Enabled reports whether any TLS material is configured.
func (t TLS) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.TrustedCAFile != "" || t.InsecureSkipVerify
}

// Config is the validated configuration.
type Config struct {
	EtcdBinary     string
	PeerClientURLs []string
	Learner        bool
	KeepBackups    int
	BackupDir      string
	StateFile      string
	DialTimeout    time.Duration
	RequestTimeout time.Duration
	HealthInterval time.Duration
	WaitBackoffMax time.Duration
	StopTimeout    time.Duration
	JoinTimeout    time.Duration
	LogLevel       slog.Level
	LogFormat      string
	ClientTLS      TLS
	PeerTLS        TLS
	ClientAuth     Auth
	Snapshot       SnapshotConfig
	// MetricsAddress is host:port for /metrics; "" turns metrics off.
	MetricsAddress string
	Defrag         DefragConfig

	// Etcd holds etcd's settings by flag name, defaults included; never
	// initial-cluster-state.
	Etcd map[string]string
	// Sources says where each key's value came from: "default", the file
	// path, or "env NAME".
	Sources map[string]string
	// Warnings are non-fatal remarks (ignored or unknown variables).
	Warnings []string

	// Derived from Etcd, parsed and checked once.
	Name                string
	DataDir             string
	WALDir              string              // etcd's wal-dir; "" when the WAL is in the data dir
	PeerURLs            []string            // initial-advertise-peer-urls
	ListenPeerURLs      []string            // listen-peer-urls
	ListenClientURLs    []string            // listen-client-urls
	AdvertiseClientURLs []string            // advertise-client-urls
	InitialCluster      map[string][]string // name -> peer URLs
	// LocalClientURL is where etcd-rejoin reaches its own member: the first
	// listen URL, with a wildcard host replaced by loopback.
	LocalClientURL string
	// LocalAdvertisedURL, set when the client URLs use https, is the first
	// advertised client URL: the local member is named by it (its TLS
	// certificate is made for that host, not for the listen address) and
	// reached at LocalClientURL.
	LocalAdvertisedURL string
}

// ClientTLSOn reports whether the members' client URLs use https.
func (c *Config) ClientTLSOn() bool {
	return anyHTTPS(c.ListenClientURLs, c.AdvertiseClientURLs, c.PeerClientURLs)
}

// Problem is one configuration error: the key, where its value came from,
// and what is wrong.
type Problem struct {
	Key    string
	Source string
	Msg    string
}

func (p *Problem) Error() string {
	if p.Source == "" {
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	}
	return fmt.Sprintf("%s (%s): %s", p.Key, p.Source, p.Msg)
}

// ErrInvalid is matched (errors.Is) by every configuration error, so that
// callers can map it to exit code 2.
var ErrInvalid = errors.New("invalid configuration")

// Error holds every problem found.
type Error struct{ Problems []*Problem }

func (e *Error) Error() string {
	var m multierror.Error
	for _, p := range e.Problems {
		m.Errors = append(m.Errors, p)
	}
	m.ErrorFormat = func(es []error) string {
		lines := make([]string, len(es))
		for i, err := range es {
			lines[i] = "  - " + err.Error()
		}
		return fmt.Sprintf("invalid configuration, %d problem(s):\n%s", len(es), strings.Join(lines, "\n"))
	}
	return m.Error()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Input is everything Load reads.
type Input struct {
	// Path is the file named with --config; "" means $ETCD_REJOIN_CONFIG,
	// else DefaultPath if it exists.
	Path string
	// Environ is the process environment (os.Environ()).
	Environ []string
	// ReadFile reads the configuration file (os.ReadFile).
	ReadFile func(string) ([]byte, error)
	// Stat checks files named in the configuration (os.Stat); nil skips
	// those checks.
	Stat func(string) (os.FileInfo, error)
}

// ResolvePath returns the configuration file to read and whether it must
// exist.
func ResolvePath(flagPath string, getenv func(string) string, exists func(string) bool) (string, bool) {
	if flagPath != "" {
		return flagPath, true
	}
	if p := getenv(EnvConfig); p != "" {
		return p, true
	}
	if exists(DefaultPath) {
		return DefaultPath, true
	}
	return "", false
}

// Load builds and validates the configuration.
func Load(in Input) (*Config, error) {
	b := newBuilder()
	b.defaults()
	if in.Path != "" {
		b.file(in.Path, in.ReadFile)
	}
	b.environment(in.Environ)
	cfg := b.finish()
	if in.Stat != nil {
		b.checkFiles(cfg, in.Stat)
	}
	if len(b.problems) > 0 {
		return nil, &Error{Problems: b.problems}
	}
	return cfg, nil
}

// builder accumulates values, their sources and problems.
type builder struct {
	own      map[string]string // own keys, as text
	ownSrc   map[string]string
	etcd     map[string]string
	etcdSrc  map[string]string
	warnings []string
	problems []*Problem
	// credDir is $CREDENTIALS_DIRECTORY: where systemd puts the
	// credentials of LoadCredential=.
	credDir string
}

func newBuilder() *builder {
	return &builder{
		own: map[string]string{}, ownSrc: map[string]string{},
		etcd: map[string]string{}, etcdSrc: map[string]string{},
	}
}

func (b *builder) problem(key, source, format string, args ...any) {
	b.problems = append(b.problems, &Problem{Key: key, Source: source, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) setOwn(key, value, source string) {
	b.own[key] = value
	b.ownSrc[key] = source
}

func (b *builder) setEtcd(key, value, source string) {
	b.etcd[key] = value
	b.etcdSrc[key] = source
}

// defaults sets every own key; etcd's defaults that depend on other keys are
// filled in finish.
func (b *builder) defaults() {
	for _, k := range ownKeys {
		b.setOwn(k.name, k.def, sourceDefault)
	}
	b.setEtcd("name", defaultName, sourceDefault)
	b.setEtcd("initial-advertise-peer-urls", defaultPeerURL, sourceDefault)
	b.setEtcd("listen-peer-urls", defaultPeerURL, sourceDefault)
	b.setEtcd("advertise-client-urls", defaultClientURL, sourceDefault)
	b.setEtcd("listen-client-urls", defaultClientURL, sourceDefault)
	b.setEtcd("initial-cluster-token", defaultClusterTok, sourceDefault)
}

// environment applies ETCD_REJOIN_*, ETCD_OTHER_PEERS_CLIENT_URLS and the
// ETCD_* variables, in a deterministic order.
func (b *builder) environment(environ []string) {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, envEtcdPrefix) {
			env[k] = v
		}
		if ok && k == EnvCredentials {
			b.credDir = v
		}
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.envVar(k, env[k])
	}
}

func (b *builder) envVar(name, value string) {
	src := "env " + name
	switch {
	case name == EnvConfig:
		return
	case name == EnvOtherPeers:
		b.setOwn("peer-client-urls", value, src)
	case strings.HasPrefix(name, EnvPrefix):
		k, ok := ownKeyByEnv(strings.TrimPrefix(name, EnvPrefix))
		if !ok {
			b.problem(name, "env", "unknown etcd-rejoin variable")
			return
		}
		b.setOwn(k.name, value, src)
	case !plainEnvName(name):
		b.warnings = append(b.warnings, fmt.Sprintf("%q is ignored: not a variable name etcd reads", name))
	default:
		flag := envToKey(strings.TrimPrefix(name, envEtcdPrefix))
		if flag == stateFlag {
			b.warnings = append(b.warnings, name+" is ignored: etcd-rejoin decides the initial cluster state")
			return
		}
		if !etcdFlags[flag] {
			b.warnings = append(b.warnings, name+" is not a flag etcd-rejoin knows; passed to etcd as is")
		}
		b.setEtcd(flag, value, src)
	}
}

// plainEnvName reports whether name is ETCD_ followed by upper-case letters,
// digits and underscores: the only names that map to etcd flags.
func plainEnvName(name string) bool {
	rest := strings.TrimPrefix(name, envEtcdPrefix)
	if rest == "" {
		return false
	}
	for _, r := range rest {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

func envToKey(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// EnvName returns the ETCD_* variable that carries an etcd flag.
func EnvName(flag string) string {
	return envEtcdPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// finish derives the dependent defaults, parses every value and validates.
func (b *builder) finish() *Config {
	name := b.etcd["name"]
	if _, ok := b.etcd["initial-cluster"]; !ok {
		b.setEtcd("initial-cluster", name+"="+b.etcd["initial-advertise-peer-urls"], sourceDerived)
	}
	if _, ok := b.etcd["data-dir"]; !ok {
		b.setEtcd("data-dir", name+".etcd", sourceDerived)
	}
	cfg := &Config{Etcd: b.etcd, Sources: map[string]string{}, Warnings: b.warnings}
	b.parseOwn(cfg)
	b.parseEtcd(cfg)
	for k, v := range b.ownSrc {
		cfg.Sources[k] = v
	}
	for k, v := range b.etcdSrc {
		cfg.Sources["etcd."+k] = v
	}
	b.validate(cfg)
	cfg.Warnings = b.warnings
	return cfg
}

// parseEtcd derives the member's identity and URLs from the etcd settings.
func (b *builder) parseEtcd(cfg *Config) {
	cfg.Name = b.etcd["name"]
	cfg.DataDir = b.etcd["data-dir"]
	cfg.WALDir = strings.TrimSpace(b.etcd["wal-dir"])
	cfg.PeerURLs = b.urlList("initial-advertise-peer-urls")
	cfg.ListenClientURLs = b.urlList("listen-client-urls")
	cfg.ListenPeerURLs = b.urlList("listen-peer-urls")
	cfg.AdvertiseClientURLs = b.urlList("advertise-client-urls")
	cfg.InitialCluster = b.initialCluster()
	if l := localListenURL(cfg); l != "" {
		cfg.LocalClientURL = localURL(l)
	}
	if len(cfg.AdvertiseClientURLs) > 0 && anyHTTPS(cfg.AdvertiseClientURLs) {
		cfg.LocalAdvertisedURL = cfg.AdvertiseClientURLs[0]
	}
}

// urlList parses a comma-separated list of URLs of an etcd flag.
func (b *builder) urlList(flag string) []string {
	v, ok := b.etcd[flag]
	if !ok {
		return nil
	}
	urls, err := ParseURLs(v)
	if err != nil {
		b.problem("etcd."+flag, b.etcdSrc[flag], "%v", err)
		return nil
	}
	return urls
}

// ParseURLs splits a comma-separated list of http(s) URLs and checks each.
func ParseURLs(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if err := checkURL(part); err != nil {
			return nil, err
		}
		out = append(out, part)
	}
	if len(out) == 0 {
		return nil, errors.New("no URL given")
	}
	return out, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL %q: scheme must be http or https", s)
	}
	if u.User != nil {
		return fmt.Errorf("invalid URL %q: must not carry a user name or password (etcd auth goes in client-auth)", redact(u))
	}
	if u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("invalid URL %q: needs a host and a port", s)
	}
	if _, err := strconv.ParseUint(u.Port(), 10, 16); err != nil {
		return fmt.Errorf("invalid URL %q: bad port", s)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("invalid URL %q: must not have a path", s)
	}
	return nil
}

// localListenURL is the first listen URL of the scheme the member is
// advertised with (a plain loopback listener beside https ones is for local
// tools; etcd-rejoin talks TLS when the member is advertised with it).
func localListenURL(cfg *Config) string {
	want := schemeOf(cfg.AdvertiseClientURLs)
	for _, u := range cfg.ListenClientURLs {
		if want == "" || schemeOf([]string{u}) == want {
			return u
		}
	}
	if len(cfg.ListenClientURLs) > 0 {
		return cfg.ListenClientURLs[0]
	}
	return ""
}

// redact is the URL without its password, for messages.
func redact(u *url.URL) string {
	return u.Redacted()
}

// localURL turns a listen URL into one etcd-rejoin can dial on this host.
func localURL(listen string) string {
	u, err := url.Parse(listen)
	if err != nil {
		return listen
	}
	switch u.Hostname() {
	case "0.0.0.0", "":
		u.Host = "127.0.0.1:" + u.Port()
	case "::":
		u.Host = "[::1]:" + u.Port()
	}
	return u.String()
}

// initialCluster parses name=url,name=url.
func (b *builder) initialCluster() map[string][]string {
	const key = "initial-cluster"
	src := b.etcdSrc[key]
	out := map[string][]string{}
	seen := map[string]string{}
	for _, part := range strings.Split(b.etcd[key], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, u, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			b.problem("etcd."+key, src, "entry %q is not name=peer-url", part)
			continue
		}
		if err := checkURL(u); err != nil {
			b.problem("etcd."+key, src, "member %s: %v", name, err)
			continue
		}
		if other, dup := seen[u]; dup && other != name {
			b.problem("etcd."+key, src, "peer URL %s is listed for both %s and %s", u, other, name)
			continue
		}
		seen[u] = name
		out[name] = append(out[name], u)
	}
	if len(out) == 0 {
		b.problem("etcd."+key, src, "no members listed")
	}
	return out
}
