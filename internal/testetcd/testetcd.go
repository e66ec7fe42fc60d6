// Package testetcd runs real etcd servers for tests: both supported etcd
// versions, loopback addresses per test package, optional TLS with
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

// Default binary paths; the environment variables below override them.
const (
	DefaultEtcd34  = "/usr/bin/etcd"
	DefaultEtcd36  = "/var/cache/etcd-rejoin-dev/etcd-v3.6.16/etcd" // under $REJOIN_DEV_CACHE when set
	DefaultEtcdctl = "/usr/bin/etcdctl"

	EnvEtcd34  = "REJOIN_TEST_ETCD34"
	EnvEtcd36  = "REJOIN_TEST_ETCD36"
	EnvEtcdctl = "REJOIN_TEST_ETCDCTL"
)

// Ports every member listens on, each on its own loopback address.
const (
	ClientPort = 2379
	PeerPort   = 2380
)

// Version is one etcd server release the tests run against.
type Version struct {
	Name   string // "3.4", "3.6"
	Binary string
}

// Versions returns every etcd version whose binary is present. A missing
// binary fails the test when CI=true; otherwise that version is left out
// with a log line, and the test is skipped when none is left.
func Versions(t testing.TB) []Version {
	t.Helper()
	all := []Version{
		{Name: "3.4", Binary: envOr(EnvEtcd34, DefaultEtcd34)},
		{Name: "3.6", Binary: envOr(EnvEtcd36, etcd36())},
	}
	var found []Version
	for _, v := range all {
		if err := executable(v.Binary); err != nil {
			missing(t, fmt.Sprintf("etcd %s: %v (run scripts/deps.sh)", v.Name, err))
			continue
		}
		found = append(found, v)
	}
	if len(found) == 0 {
		t.Skip("no etcd binary found (run scripts/deps.sh)")
	}
	return found
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

// etcd36 is where scripts/deps.sh caches the etcd 3.6 build.
func etcd36() string {
	if cache := os.Getenv("REJOIN_DEV_CACHE"); cache != "" {
		return filepath.Join(cache, filepath.Base(filepath.Dir(DefaultEtcd36)), "etcd")
	}
	return DefaultEtcd36
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
