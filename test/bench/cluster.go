package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Ports every member listens on, each on its own loopback address.
const (
	clientPort = 2379
	peerPort   = 2380
	// watchdogUSec is what systemd sets for the shipped unit (WatchdogSec=30s).
	watchdogUSec = "30000000"
	// stopGrace bounds a member's stop before SIGKILL.
	stopGrace = 30 * time.Second
	// probeKey is read to prove a member serves linearizable reads.
	probeKey = "bench/probe"
)

// node is one member's name, address, URLs and directories.
type node struct {
	name, ip, clientURL, peerURL string
	dir, dataDir                 string
}

func newNodes(prefix string, n int, dir string) []node {
	nodes := make([]node, n)
	for i := range nodes {
		name, ip := fmt.Sprintf("n%d", i+1), fmt.Sprintf("%s.%d", prefix, i+1)
		d := filepath.Join(dir, name)
		nodes[i] = node{
			name: name, ip: ip, dir: d, dataDir: filepath.Join(d, "data"),
			clientURL: fmt.Sprintf("http://%s:%d", ip, clientPort),
			peerURL:   fmt.Sprintf("http://%s:%d", ip, peerPort),
		}
	}
	return nodes
}

// host is what runs on one node: raw etcd, or etcd-rejoin owning etcd.
type host struct {
	rejoin bool
	proc   *proc
	out    *output
	notify *notifySocket
	file   *os.File
}

func (h *host) stop() {
	if h == nil {
		return
	}
	h.proc.stop(stopGrace)
	if h.notify != nil {
		h.notify.close()
	}
	_ = h.file.Close()
}

// cluster is a set of members on one loopback /24, each raw etcd or
// etcd-rejoin; the bench starts, stops and wipes them.
type cluster struct {
	cfg   *Config
	v     Version
	nodes []node
	hosts []*host
	seq   int
}

func newCluster(cfg *Config, v Version, prefix string, n int, dir string) (*cluster, error) {
	c := &cluster{cfg: cfg, v: v, nodes: newNodes(prefix, n, dir), hosts: make([]*host, n)}
	for _, nd := range c.nodes {
		if err := os.MkdirAll(nd.dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", nd.dir, err)
		}
	}
	return c, nil
}

func (c *cluster) initialCluster() string {
	parts := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		parts[i] = n.name + "=" + n.peerURL
	}
	return strings.Join(parts, ",")
}

// others are every node but i.
func (c *cluster) others(i int) []int {
	var out []int
	for j := range c.nodes {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}

func (c *cluster) clientURLs(idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = c.nodes[i].clientURL
	}
	return out
}

// etcdEnv is the etcd configuration common to both methods: etcd-rejoin
// hands these ETCD_* variables to its child, the manual procedure starts
// etcd with them.
func (c *cluster) etcdEnv(i int) []string {
	n := c.nodes[i]
	return []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"ETCD_NAME=" + n.name,
		"ETCD_DATA_DIR=" + n.dataDir,
		"ETCD_LISTEN_CLIENT_URLS=" + n.clientURL,
		"ETCD_ADVERTISE_CLIENT_URLS=" + n.clientURL,
		"ETCD_LISTEN_PEER_URLS=" + n.peerURL,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + n.peerURL,
		"ETCD_INITIAL_CLUSTER_TOKEN=bench",
		"ETCD_LOGGER=zap",
		"ETCD_LOG_LEVEL=info",
		fmt.Sprintf("ETCD_SNAPSHOT_COUNT=%d", c.cfg.SnapshotCount),
	}
}

// rejoinEnv is etcd-rejoin's environment for node i: the original
// entrypoint's variables and a NOTIFY_SOCKET with the unit's watchdog;
// every other setting is etcd-rejoin's default.
func (c *cluster) rejoinEnv(i int, socket string) []string {
	env := append(c.etcdEnv(i),
		"ETCD_INITIAL_CLUSTER="+c.initialCluster(),
		"ETCD_OTHER_PEERS_CLIENT_URLS="+strings.Join(c.clientURLs(c.others(i)), ","),
		"ETCD_REJOIN_ETCD_BINARY="+c.v.Binary,
		"NOTIFY_SOCKET="+socket,
		"WATCHDOG_USEC="+watchdogUSec,
	)
	return env
}

func (c *cluster) openLog(i int, kind string) (*os.File, error) {
	c.seq++
	p := filepath.Join(c.nodes[i].dir, fmt.Sprintf("%03d-%s.log", c.seq, kind))
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("create log %s: %w", p, err)
	}
	return f, nil
}

// startEtcd runs raw etcd on node i.
func (c *cluster) startEtcd(i int, state, initialCluster string) (*host, error) {
	if err := c.free(i); err != nil {
		return nil, err
	}
	f, err := c.openLog(i, "etcd")
	if err != nil {
		return nil, err
	}
	out := newOutput(f)
	env := append(c.etcdEnv(i), "ETCD_INITIAL_CLUSTER="+initialCluster, "ETCD_INITIAL_CLUSTER_STATE="+state)
	p, err := startProc("etcd "+c.nodes[i].name, c.v.Binary, nil, env, out)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	h := &host{proc: p, out: out, file: f}
	c.hosts[i] = h
	return h, nil
}

// startRejoin runs `etcd-rejoin run` on node i, with extra environment.
func (c *cluster) startRejoin(i int, extra ...string) (*host, error) {
	if err := c.free(i); err != nil {
		return nil, err
	}
	f, err := c.openLog(i, "etcd-rejoin")
	if err != nil {
		return nil, err
	}
	out := newOutput(f)
	ns, err := listenNotify(filepath.Join(c.nodes[i].dir, "notify.sock"), out)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	env := append(c.rejoinEnv(i, ns.path), extra...)
	bin, err := c.rejoinBinary(i)
	var p *proc
	if err == nil {
		p, err = startProc("etcd-rejoin "+c.nodes[i].name, bin, []string{"run"}, env, out)
	}
	if err != nil {
		ns.close()
		_ = f.Close()
		return nil, err
	}
	h := &host{rejoin: true, proc: p, out: out, notify: ns, file: f}
	c.hosts[i] = h
	return h, nil
}

// rejoinBinary is node i's own copy of the etcd-rejoin binary, as each host
// has its own: processes of one file share its pages, which would make
// their resident memory look smaller than on separate hosts, and would keep
// the kernel from paging out what one of them no longer needs.
func (c *cluster) rejoinBinary(i int) (string, error) {
	dst := filepath.Join(c.nodes[i].dir, "etcd-rejoin")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := copySynced(c.cfg.Rejoin, dst); err != nil {
		return "", fmt.Errorf("copy etcd-rejoin for %s: %w", c.nodes[i].name, err)
	}
	return dst, nil
}

// copySynced copies an executable and syncs it to disk, as an installed
// binary is: the kernel pages out only clean file pages.
//
// No fork may happen while the copy is open for writing: a child forked then
// holds the written descriptor until it execs, and an exec of the copy
// meanwhile (another host starting) fails with "text file busy". Forks take
// syscall.ForkLock for writing, so holding it for reading keeps them out.
func copySynced(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// free fails when node i still runs something.
func (c *cluster) free(i int) error {
	if h := c.hosts[i]; h != nil && !h.proc.exited() {
		return fmt.Errorf("%s still runs %s", c.nodes[i].name, h.proc.name)
	}
	return nil
}

// stopHost stops whatever runs on node i.
func (c *cluster) stopHost(i int) {
	c.hosts[i].stop()
}

// stopAll stops every host, all at once.
func (c *cluster) stopAll() {
	done := make(chan struct{}, len(c.hosts))
	for _, h := range c.hosts {
		go func() { h.stop(); done <- struct{}{} }()
	}
	for range c.hosts {
		<-done
	}
}

// wipe deletes node i's data dir (and any copy etcd-rejoin moved aside):
// the host lost its disk. etcd-rejoin's state file beside it stays.
func (c *cluster) wipe(i int) error {
	n := c.nodes[i]
	moved, _ := filepath.Glob(n.dataDir + ".moved-*")
	for _, p := range append([]string{n.dataDir}, moved...) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("wipe %s: %w", p, err)
		}
	}
	return nil
}

// removeData deletes every node's data dir once the cluster is stopped;
// the logs stay.
func (c *cluster) removeData() {
	for i := range c.nodes {
		_ = c.wipe(i)
	}
}

// wipeAll deletes node i's data dir and state file: a host never used.
func (c *cluster) wipeAll(i int) error {
	if err := c.wipe(i); err != nil {
		return err
	}
	if err := os.Remove(c.nodes[i].dataDir + ".rejoin-state.json"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state file: %w", err)
	}
	return nil
}

// client connects to the nodes given.
func (c *cluster) client(idx ...int) (*clientv3.Client, error) {
	return newClient(c.clientURLs(idx))
}

func newClient(endpoints []string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}

// serves reports whether node i answers a linearizable read by itself.
func (c *cluster) serves(ctx context.Context, i int) error {
	if err := dialable(ctx, c.nodes[i].clientURL); err != nil {
		return err
	}
	cli, err := c.client(i)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, probeKey); err != nil {
		return fmt.Errorf("linearizable read through %s: %w", c.nodes[i].name, err)
	}
	return nil
}

// dialable fails at once when nothing listens on the URL's address.
func dialable(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("parse %s: %w", rawURL, err)
	}
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	return conn.Close()
}

// waitServing waits until every node given serves linearizable reads.
func (c *cluster) waitServing(ctx context.Context, timeout time.Duration, idx ...int) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, i := range idx {
		var err error
		for err = c.serves(ctx, i); err != nil; err = c.serves(ctx, i) {
			if !sleepCtx(ctx, 50*time.Millisecond) {
				return fmt.Errorf("%s does not serve reads within %s: %w", c.nodes[i].name, timeout, err)
			}
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
