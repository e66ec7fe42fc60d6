// Package testetcd runs real etcd servers for tests: every supported etcd
// version (3.4, 3.5, 3.6), loopback addresses per test package, optional TLS with
// certificates made in-process, and the servers' output printed when a test
// fails.
package testetcd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// Default binary paths; the environment variables below override them. The
// 3.5 and 3.6 builds live under $REJOIN_DEV_CACHE when that is set, where
// scripts/deps.sh puts them (etcd-<version>/etcd, and etcd-<version>/etcdutl
// beside it).
const (
	DefaultEtcd34  = "/usr/bin/etcd"
	DefaultEtcd35  = DefaultCache + "/etcd-v3.5.35/etcd"
	DefaultEtcd36  = DefaultCache + "/etcd-v3.6.16/etcd"
	DefaultEtcdctl = "/usr/bin/etcdctl"
	DefaultCache   = "/var/cache/etcd-rejoin-dev"

	EnvEtcd34  = "REJOIN_TEST_ETCD34"
	EnvEtcd35  = "REJOIN_TEST_ETCD35"
	EnvEtcd36  = "REJOIN_TEST_ETCD36"
	EnvEtcdctl = "REJOIN_TEST_ETCDCTL"
	EnvCache   = "REJOIN_DEV_CACHE"
)

// Ports every member listens on, each on its own loopback address.
const (
	ClientPort = 2379
	PeerPort   = 2380
)

// Version is one etcd server release the tests run against.
type Version struct {
	Name   string // "3.4", "3.5", "3.6"
	Binary string // the etcd server
	// Etcdutl is the etcdutl of the same release: the file named etcdutl
	// beside Binary (for a build of scripts/deps.sh, a symlink to it). It is
	// "" for 3.4: Debian's etcd 3.4 has no etcdutl, its `etcdctl snapshot
	// restore` (Etcdctl) does that job.
	Etcdutl string
}

// Versions returns every etcd version whose binaries are present, oldest
// first. A missing binary fails the test when CI=true; otherwise that
// version is left out with a log line, and the test is skipped when none is
// left. A release that has an etcdutl counts as present only with it.
func Versions(t testing.TB) []Version {
	t.Helper()
	var found []Version
	for _, v := range all() {
		if err := v.check(); err != nil {
			missing(t, fmt.Sprintf("etcd %s: %v (run scripts/deps.sh etcd)", v.Name, err))
			continue
		}
		found = append(found, v)
	}
	if len(found) == 0 {
		t.Skip("no etcd binary found (run scripts/deps.sh)")
	}
	return found
}

// all lists every supported release with its binaries' paths.
func all() []Version {
	v35 := envOr(EnvEtcd35, inCache(DefaultEtcd35))
	v36 := envOr(EnvEtcd36, inCache(DefaultEtcd36))
	return []Version{
		{Name: "3.4", Binary: envOr(EnvEtcd34, DefaultEtcd34)},
		{Name: "3.5", Binary: v35, Etcdutl: filepath.Join(filepath.Dir(v35), "etcdutl")},
		{Name: "3.6", Binary: v36, Etcdutl: filepath.Join(filepath.Dir(v36), "etcdutl")},
	}
}

func (v Version) check() error {
	if err := executable(v.Binary); err != nil {
		return err
	}
	if v.Etcdutl == "" {
		return nil
	}
	if err := executable(v.Etcdutl); err != nil {
		return fmt.Errorf("etcdutl: %w", err)
	}
	return nil
}

// inCache moves a default path under $REJOIN_DEV_CACHE when that is set.
func inCache(p string) string {
	cache := os.Getenv(EnvCache)
	if cache == "" {
		return p
	}
	rel, err := filepath.Rel(DefaultCache, p)
	if err != nil {
		return p
	}
	return filepath.Join(cache, rel)
}

// Etcdctl returns the etcdctl binary (use it with ETCDCTL_API=3).
func Etcdctl(t testing.TB) string {
	t.Helper()
	p := envOr(EnvEtcdctl, DefaultEtcdctl)
	if err := executable(p); err != nil {
		missing(t, fmt.Sprintf("etcdctl: %v (run scripts/deps.sh)", err))
		t.Skip("etcdctl missing")
	}
	return p
}

// SnapshotTool returns the program that checks and restores this release's
// snapshots: its etcdutl, or for 3.4 (no etcdutl) Etcdctl. Both take
// `snapshot status FILE` and `snapshot restore FILE --data-dir DIR --name ...
// --initial-cluster ... --initial-advertise-peer-urls ...`; etcdctl 3.4 speaks
// the v3 API by default.
func (v Version) SnapshotTool(t testing.TB) string {
	t.Helper()
	if v.Etcdutl != "" {
		return v.Etcdutl
	}
	return Etcdctl(t)
}

// InCI reports whether the tests run under CI (CI=true), where a missing
// tool is a failure, not a skip.
func InCI() bool { return testcmd.InCI() }

func missing(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatal(msg)
	}
	t.Log("skipping: " + msg)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// Node is one member's name, loopback address, URLs and data dir.
type Node struct {
	Name      string
	IP        string
	ClientURL string
	PeerURL   string
	DataDir   string
}

// Nodes returns n nodes named n1..nN on prefix.1 .. prefix.N (prefix is a
// /24 such as "127.0.10", one per test package), with data dirs under dir.
func Nodes(prefix string, n int, dir string) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = NewNode(fmt.Sprintf("n%d", i+1), fmt.Sprintf("%s.%d", prefix, i+1), dir)
	}
	return nodes
}

// NewNode returns one node with plain http URLs on ip.
func NewNode(name, ip, dir string) Node {
	return Node{
		Name:      name,
		IP:        ip,
		ClientURL: fmt.Sprintf("http://%s:%d", ip, ClientPort),
		PeerURL:   fmt.Sprintf("http://%s:%d", ip, PeerPort),
		DataDir:   filepath.Join(dir, name+".etcd"),
	}
}

// InitialCluster renders nodes as etcd's --initial-cluster value.
func InitialCluster(nodes []Node) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = n.Name + "=" + n.PeerURL
	}
	return strings.Join(parts, ",")
}

// ClientURLs returns the nodes' client URLs.
func ClientURLs(nodes []Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ClientURL
	}
	return out
}

// PeerURLs returns the nodes' peer URLs.
func PeerURLs(nodes []Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.PeerURL
	}
	return out
}

func withScheme(url, scheme string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		return scheme + url[i:]
	}
	return scheme + "://" + url
}
