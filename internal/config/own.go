package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type kind int

const (
	kString kind = iota
	kBool
	kInt
	kDuration
	kURLs
	kFloat
	kSize
)

// ownKey is one of etcd-rejoin's own settings: its TOML key (a dotted path
// for the TLS tables), its default as text, and its type.
type ownKey struct {
	name string
	def  string
	kind kind
	doc  string
}

// ownKeys lists etcd-rejoin's own settings with their defaults, in the order
// the documentation shows them.
var ownKeys = []ownKey{
	{"etcd-binary", "etcd", kString, "etcd server binary, a path or a name found on PATH"},
	{"peer-client-urls", "", kURLs, "client URLs of the other members; empty: discovered from the peers' /members"},
	{"learner", "true", kBool, "join as a learner and promote once caught up"},
	{"keep-backups", "3", kInt, "how many moved-aside data dirs to keep (at least 1)"},
	{"backup-dir", "", kString, "where data dirs are moved aside; empty: next to data-dir"},
	{"state-file", "", kString, "etcd-rejoin's memory of this member; empty: <data-dir>.rejoin-state.json"},
	{"dial-timeout", "2s", kDuration, "timeout to connect to a member"},
	{"request-timeout", "5s", kDuration, "timeout of one request to the cluster"},
	{"health-interval", "5s", kDuration, "how often the running member is checked (at most half the watchdog interval)"},
	{"wait-backoff-max", "30s", kDuration, "longest pause between two looks while waiting"},
	{"stop-timeout", "20s", kDuration, "how long etcd may take to stop before it is killed"},
	{"join-timeout", "5m", kDuration, "a joining member that does not answer at all within this time is stopped and the cluster looked at again"},
	{"snapshot-interval", "6h", kDuration, "how often the running member writes a snapshot; 0 turns periodic snapshots off"},
	{"snapshot-keep", "5", kInt, "how many of its own snapshots to keep in snapshot-dir (at least 1)"},
	{"snapshot-dir", "", kString, "where snapshots are written; empty: snapshots/ beside state-file"},
	{"snapshot-command", "", kString, "run through /bin/sh after each good snapshot, its path as $1 and $SNAPSHOT_PATH; empty: none"},
	{"snapshot-command-timeout", "15m", kDuration, "snapshot-command is killed after this long"},
	{"metrics-address", "", kString, "host:port to serve etcd-rejoin's Prometheus metrics on (/metrics); empty: no metrics"},
	{"defrag", "true", kBool, "defragment this member when much of its database file is free (one member at a time, followers first, never while the cluster is degraded)"},
	{"defrag-min-free-ratio", "0.5", kFloat, "defragment only when at least this fraction of the database file is free (above 0, below 1)"},
	{"defrag-min-free-bytes", "64MiB", kSize, "and only when at least this much of it is free (bytes, or with a unit: KB, MB, GB, KiB, MiB, GiB)"},
	{"defrag-check-interval", "10m", kDuration, "how often the running member's database is checked for defragmentation"},
	{"log-level", "info", kString, "debug, info, warn or error"},
	{"log-format", "text", kString, "text or json"},
	{"client-tls.cert-file", "", kString, "client certificate to talk to the cluster; default: etcd's client-cert-file or cert-file"},
	{"client-tls.key-file", "", kString, "its key; default: etcd's client-key-file or key-file"},
	{"client-tls.trusted-ca-file", "", kString, "CA of the members' client certificates; default: etcd's trusted-ca-file"},
	{"client-tls.insecure-skip-verify", "false", kBool, "do not verify the members' client certificates"},
	{"peer-tls.cert-file", "", kString, "certificate for the peers' /members; default: etcd's peer-client-cert-file or peer-cert-file"},
	{"peer-tls.key-file", "", kString, "its key; default: etcd's peer-client-key-file or peer-key-file"},
	{"peer-tls.trusted-ca-file", "", kString, "CA of the peer certificates; default: etcd's peer-trusted-ca-file"},
	{"peer-tls.insecure-skip-verify", "false", kBool, "do not verify the peers' certificates"},
	{"client-auth.username", "", kString, "user to authenticate as when etcd auth is on (it needs the root role); empty: none, or the client certificate's CN"},
	{"client-auth.password-file", "", kString, "file holding that user's password, read at each use; a relative name is a systemd credential under $CREDENTIALS_DIRECTORY (LoadCredential=)"},
}

func ownKeyByName(name string) (ownKey, bool) {
	for _, k := range ownKeys {
		if k.name == name {
			return k, true
		}
	}
	return ownKey{}, false
}

// ownKeyByEnv maps ETCD_REJOIN_CLIENT_TLS_CERT_FILE to client-tls.cert-file.
func ownKeyByEnv(suffix string) (ownKey, bool) {
	for _, k := range ownKeys {
		if ownEnvSuffix(k.name) == suffix {
			return k, true
		}
	}
	return ownKey{}, false
}

func ownEnvSuffix(key string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return strings.ToUpper(r.Replace(key))
}

// OwnEnvName returns the environment variable of one of etcd-rejoin's keys.
func OwnEnvName(key string) string { return EnvPrefix + ownEnvSuffix(key) }

// Key describes one of etcd-rejoin's own settings for documentation.
type Key struct{ Name, Default, Env, Doc string }

// Keys lists etcd-rejoin's own settings with their defaults.
func Keys() []Key {
	out := make([]Key, len(ownKeys))
	for i, k := range ownKeys {
		out[i] = Key{Name: k.name, Default: k.def, Env: OwnEnvName(k.name), Doc: k.doc}
	}
	return out
}

// parseOwn turns the text values of the own keys into typed fields.
func (b *builder) parseOwn(cfg *Config) {
	p := ownParser{b: b}
	cfg.EtcdBinary = p.str("etcd-binary")
	cfg.PeerClientURLs = p.urls("peer-client-urls")
	cfg.Learner = p.boolean("learner")
	cfg.KeepBackups = p.integer("keep-backups")
	cfg.BackupDir = p.str("backup-dir")
	cfg.StateFile = p.str("state-file")
	cfg.DialTimeout = p.duration("dial-timeout")
	cfg.RequestTimeout = p.duration("request-timeout")
	cfg.HealthInterval = p.duration("health-interval")
	cfg.WaitBackoffMax = p.duration("wait-backoff-max")
	cfg.StopTimeout = p.duration("stop-timeout")
	cfg.JoinTimeout = p.duration("join-timeout")
	cfg.LogLevel = p.level("log-level")
	cfg.LogFormat = p.oneOf("log-format", "text", "json")
	cfg.ClientTLS = p.tls("client-tls")
	cfg.PeerTLS = p.tls("peer-tls")
	cfg.ClientAuth = Auth{Username: p.str("client-auth.username"), PasswordFile: p.str("client-auth.password-file")}
	if cfg.StateFile == "" && b.etcd["data-dir"] != "" {
		cfg.StateFile = filepath.Clean(b.etcd["data-dir"]) + ".rejoin-state.json"
	}
	cfg.Snapshot = p.snapshot(cfg.StateFile)
	cfg.MetricsAddress = p.address("metrics-address")
	cfg.Defrag = p.defrag()
}

// SnapshotConfig is the periodic snapshots' configuration.
type SnapshotConfig struct {
	// Interval between two snapshots; 0: no periodic snapshots.
	Interval time.Duration
	// Keep is how many of its own snapshots are kept in Dir (at least 1).
	Keep int
	// Dir holds the snapshots: snapshot-dir, or snapshots/ beside the
	// state file.
	Dir string
	// Command is run after each good snapshot; "" for none.
	Command string
	// CommandTimeout bounds Command.
	CommandTimeout time.Duration
}

// minSnapshotInterval is the shortest snapshot-interval that is not 0: a
// snapshot streams the whole database.
const minSnapshotInterval = time.Second

// snapshot parses the snapshot-* keys; stateFile is the parsed state-file.
func (p ownParser) snapshot(stateFile string) SnapshotConfig {
	s := SnapshotConfig{
		Interval:       p.interval("snapshot-interval", minSnapshotInterval),
		Keep:           p.atLeast("snapshot-keep", 1),
		Dir:            p.str("snapshot-dir"),
		Command:        p.str("snapshot-command"),
		CommandTimeout: p.duration("snapshot-command-timeout"),
	}
	if s.Dir == "" && stateFile != "" {
		s.Dir = filepath.Join(filepath.Dir(stateFile), "snapshots")
	}
	p.checkSnapshotDir(s.Dir)
	return s
}

// interval parses a duration that may be 0 (off), else at least min.
func (p ownParser) interval(key string, min time.Duration) time.Duration {
	v, err := time.ParseDuration(p.str(key))
	if err != nil {
		p.fail(key, "%q is not a duration like \"6h\" (0 turns it off)", p.b.own[key])
		return 0
	}
	if v != 0 && v < min {
		p.fail(key, "must be 0 (off) or at least %s, got %s", min, v)
	}
	return v
}

// atLeast parses a whole number of at least min.
func (p ownParser) atLeast(key string, min int) int {
	v, err := strconv.Atoi(p.str(key))
	switch {
	case err != nil:
		p.fail(key, "%q is not a whole number", p.b.own[key])
	case v < min:
		p.fail(key, "must be at least %d, got %d", min, v)
	}
	return v
}

// checkSnapshotDir: snapshots must not live where a move aside of the data
// dir or WAL dir would take them along. (A snapshot dir that holds the data
// dir is fine: only snapshot files are ever listed or pruned in it.)
func (p ownParser) checkSnapshotDir(dir string) {
	if dir == "" {
		return
	}
	snap := filepath.Clean(dir)
	for _, flag := range []string{"data-dir", "wal-dir"} {
		d := strings.TrimSpace(p.b.etcd[flag])
		if d == "" {
			continue
		}
		d = filepath.Clean(d)
		if snap == d || strings.HasPrefix(snap, d+string(filepath.Separator)) {
			p.fail("snapshot-dir", "%s is inside etcd.%s %s, which is moved aside as a whole when it must go", snap, flag, d)
		}
	}
}

// DefragConfig is the defragmentation policy's configuration.
type DefragConfig struct {
	// Enabled turns defragmentation on (defrag).
	Enabled bool
	// MinFreeRatio and MinFreeBytes: a member is defragmented only when at
	// least this fraction of its database file, and this many bytes, are
	// free.
	MinFreeRatio float64
	MinFreeBytes int64
	// CheckInterval is how often the running member is checked.
	CheckInterval time.Duration
}

func (p ownParser) defrag() DefragConfig {
	return DefragConfig{
		Enabled:       p.boolean("defrag"),
		MinFreeRatio:  p.ratio("defrag-min-free-ratio"),
		MinFreeBytes:  p.size("defrag-min-free-bytes"),
		CheckInterval: p.duration("defrag-check-interval"),
	}
}

// address parses host:port with a port from 1 to 65535 (an empty host
// means every address); empty is off.
func (p ownParser) address(key string) string {
	v := p.str(key)
	if v == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(key, "%q is not host:port (e.g. 127.0.0.1:9101, or :9101 for every address)", v)
		return v
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.fail(key, "port %q is not a number from 1 to 65535", port)
	}
	return v
}

// ratio parses a fraction strictly between 0 and 1.
func (p ownParser) ratio(key string) float64 {
	v, err := strconv.ParseFloat(p.str(key), 64)
	if err != nil || v <= 0 || v >= 1 {
		p.fail(key, "%q is not a fraction above 0 and below 1 (e.g. 0.5)", p.b.own[key])
	}
	return v
}

// sizeUnits are the units a size may carry, longest first.
var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// size parses a number of bytes, optionally with a unit (64MiB, 100 MB).
func (p ownParser) size(key string) int64 {
	v, err := ParseSize(p.str(key))
	if err != nil {
		p.fail(key, "%v", err)
	}
	return v
}

// ParseSize parses a number of bytes, optionally followed by a unit: B, KB,
// MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func ParseSize(s string) (int64, error) {
	num, factor := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/factor {
		return 0, fmt.Errorf("%q is not a size like 64MiB or 67108864 (bytes)", s)
	}
	return n * factor, nil
}

type ownParser struct{ b *builder }

func (p ownParser) fail(key, format string, args ...any) {
	p.b.problem(key, p.b.ownSrc[key], format, args...)
}

func (p ownParser) str(key string) string { return strings.TrimSpace(p.b.own[key]) }

func (p ownParser) boolean(key string) bool {
	v, err := strconv.ParseBool(p.str(key))
	if err != nil {
		p.fail(key, "%q is not true or false", p.b.own[key])
	}
	return v
}

func (p ownParser) integer(key string) int {
	v, err := strconv.Atoi(p.str(key))
	if err != nil {
		p.fail(key, "%q is not a whole number", p.b.own[key])
	}
	return v
}

func (p ownParser) duration(key string) time.Duration {
	v, err := time.ParseDuration(p.str(key))
	if err != nil {
		p.fail(key, "%q is not a duration like \"5s\"", p.b.own[key])
		return 0
	}
	if v <= 0 {
		p.fail(key, "must be longer than zero, got %s", v)
	}
	return v
}

func (p ownParser) urls(key string) []string {
	if p.str(key) == "" {
		return nil
	}
	urls, err := ParseURLs(p.str(key))
	if err != nil {
		p.fail(key, "%v", err)
	}
	return urls
}

func (p ownParser) level(key string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(p.str(key))); err != nil {
		p.fail(key, "%q is not one of debug, info, warn, error", p.b.own[key])
	}
	return l
}

func (p ownParser) oneOf(key string, allowed ...string) string {
	v := p.str(key)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return allowed[0]
}

func (p ownParser) tls(table string) TLS {
	return TLS{
		CertFile:           p.str(table + ".cert-file"),
		KeyFile:            p.str(table + ".key-file"),
		TrustedCAFile:      p.str(table + ".trusted-ca-file"),
		InsecureSkipVerify: p.boolean(table + ".insecure-skip-verify"),
	}
}
