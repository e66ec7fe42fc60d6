package testetcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Bounds of the harness's waits.
const (
	ReadyTimeout = 30 * time.Second
	StopGrace    = 10 * time.Second
)

// TLSFiles names a certificate, its key and the CA to trust.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Config returns a tls.Config that presents the certificate and trusts the CA.
func (f TLSFiles) Config() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load key pair %s: %w", f.CertFile, err)
	}
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA %s: %w", f.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", f.CAFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Option changes how a Cluster runs its members.
type Option func(*settings)

type settings struct {
	tls  bool
	ca   *CA
	args []string
}

// TLS runs every member with https client and peer URLs, certificates from
// a CA made for the test, and client-cert-auth and peer-client-cert-auth on.
func TLS() Option { return func(s *settings) { s.tls = true } }

// WithCA is TLS with a CA of the caller's.
func WithCA(ca *CA) Option { return func(s *settings) { s.tls, s.ca = true, ca } }

// Args adds etcd flags to every member.
func Args(args ...string) Option { return func(s *settings) { s.args = append(s.args, args...) } }

// Cluster is a set of raw etcd members (no etcd-rejoin) run by a test.
// Members are addressed by their index in Nodes.
type Cluster struct {
	Version Version
	// Nodes holds the members' names, URLs (https under TLS) and data dirs.
	Nodes []Node
	// CA is the CA of a TLS cluster, nil otherwise.
	CA *CA
	// ClientTLS is a client certificate of a TLS cluster; zero otherwise.
	ClientTLS TLSFiles

	t     testing.TB
	set   settings
	mu    sync.Mutex
	procs []*proc
	logs  []*lineRing
	certs []TLSFiles
}

// NewCluster prepares a cluster of nodes without starting any; t.Cleanup
// stops whatever runs and prints each member's last output lines if the
// test failed.
func NewCluster(t testing.TB, v Version, nodes []Node, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{Version: v, t: t}
	for _, o := range opts {
		o(&c.set)
	}
	if c.set.tls {
		c.CA = c.set.ca
		if c.CA == nil {
			c.CA = NewCA(t)
		}
		cert, key := c.CA.Issue(t, []string{"127.0.0.1"})
		c.ClientTLS = TLSFiles{CAFile: c.CA.File, CertFile: cert, KeyFile: key}
	}
	for _, n := range nodes {
		c.AddNode(t, n)
	}
	t.Cleanup(c.cleanup)
	return c
}

// StartCluster starts all nodes as a new cluster, waits until each is
// ready, and stops them when the test ends.
func StartCluster(t testing.TB, v Version, nodes []Node, opts ...Option) *Cluster {
	t.Helper()
	c := NewCluster(t, v, nodes, opts...)
	for i := range c.Nodes {
		c.Launch(t, i, "new", "")
	}
	for i := range c.Nodes {
		c.WaitReady(t, i)
	}
	return c
}

// AddNode adds a node (not started) and returns its index. Under TLS its
// URLs become https and it gets a certificate for its IP.
func (c *Cluster) AddNode(t testing.TB, n Node) int {
	t.Helper()
	var files TLSFiles
	if c.set.tls {
		n.ClientURL = withScheme(n.ClientURL, "https")
		n.PeerURL = withScheme(n.PeerURL, "https")
		// Peers connect from 127.0.0.1 (the source address loopback picks),
		// and peer-client-cert-auth checks the certificate against it.
		cert, key := c.CA.Issue(t, []string{n.IP, "127.0.0.1"})
		files = TLSFiles{CAFile: c.CA.File, CertFile: cert, KeyFile: key}
	}
	out := &lineRing{}
	if err := os.MkdirAll(filepath.Dir(n.DataDir), 0o700); err != nil {
		t.Fatalf("create dir for %s: %v", n.Name, err)
	}
	f, err := os.Create(filepath.Join(filepath.Dir(n.DataDir), n.Name+".log"))
	if err != nil {
		t.Fatalf("create log of %s: %v", n.Name, err)
	}
	out.file = f
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Nodes = append(c.Nodes, n)
	c.procs = append(c.procs, nil)
	c.logs = append(c.logs, out)
	c.certs = append(c.certs, files)
	return len(c.Nodes) - 1
}

// Start starts member i with initial-cluster-state state ("new" or
// "existing") and the initial cluster of all Nodes, and waits until it is
// ready (answers Status and sees a leader).
func (c *Cluster) Start(t testing.TB, i int, state string) {
	t.Helper()
	c.Launch(t, i, state, "")
	c.WaitReady(t, i)
}

// Launch starts member i without waiting. An empty initialCluster means
// InitialCluster(c.Nodes).
func (c *Cluster) Launch(t testing.TB, i int, state, initialCluster string) {
	t.Helper()
	if initialCluster == "" {
		initialCluster = InitialCluster(c.Nodes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[i]; p != nil && !p.exited() {
		t.Fatalf("start %s: already running", c.Nodes[i].Name)
	}
	args := c.args(i, state, initialCluster)
	p, err := startProc(c.Version.Binary, args, c.logs[i])
	if err != nil {
		t.Fatalf("start etcd %s %s: %v", c.Version.Name, c.Nodes[i].Name, err)
	}
	c.procs[i] = p
}

func (c *Cluster) args(i int, state, initialCluster string) []string {
	n := c.Nodes[i]
	args := []string{
		"--name=" + n.Name,
		"--data-dir=" + n.DataDir,
		"--listen-client-urls=" + n.ClientURL,
		"--advertise-client-urls=" + n.ClientURL,
		"--listen-peer-urls=" + n.PeerURL,
		"--initial-advertise-peer-urls=" + n.PeerURL,
		"--initial-cluster=" + initialCluster,
		"--initial-cluster-state=" + state,
		"--initial-cluster-token=testetcd",
		"--logger=zap",
		"--log-outputs=stderr",
	}
	if f := c.certs[i]; f.CertFile != "" {
		args = append(args,
			"--cert-file="+f.CertFile, "--key-file="+f.KeyFile,
			"--trusted-ca-file="+f.CAFile, "--client-cert-auth",
			"--peer-cert-file="+f.CertFile, "--peer-key-file="+f.KeyFile,
			"--peer-trusted-ca-file="+f.CAFile, "--peer-client-cert-auth",
		)
	}
	return append(args, c.set.args...)
}

// Running reports whether member i's process is running.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i] != nil && !c.procs[i].exited()
}

// Stop stops member i with SIGTERM (SIGKILL after StopGrace). Stopping a
// member that does not run is a no-op.
func (c *Cluster) Stop(t testing.TB, i int) {
	t.Helper()
	if p := c.proc(i); p != nil {
		p.stop(StopGrace)
	}
}

// Kill kills member i with SIGKILL.
func (c *Cluster) Kill(t testing.TB, i int) {
	t.Helper()
	if p := c.proc(i); p != nil {
		p.kill()
	}
}

func (c *Cluster) proc(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i]
}

// Output returns member i's last output lines.
func (c *Cluster) Output(i int) string { return c.logs[i].Last() }

// ClientTLSConfig returns the client's tls.Config, nil for a plain cluster.
func (c *Cluster) ClientTLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	if c.ClientTLS.CertFile == "" {
		return nil
	}
	cfg, err := c.ClientTLS.Config()
	if err != nil {
		t.Fatalf("client TLS: %v", err)
	}
	return cfg
}

// Client returns a clientv3 client over every node's client URL, closed
// when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return c.client(t, ClientURLs(c.Nodes))
}

// MemberClient returns a client that talks to member i only.
func (c *Cluster) MemberClient(t testing.TB, i int) *clientv3.Client {
	t.Helper()
	return c.client(t, []string{c.Nodes[i].ClientURL})
}

func (c *Cluster) client(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli := c.newClient(t, endpoints)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func (c *Cluster) newClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		TLS:         c.ClientTLSConfig(t),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client for %v: %v", endpoints, err)
	}
	return cli
}

// WaitReady polls Status on member i's client URL until it answers and
// sees a leader, for at most ReadyTimeout.
func (c *Cluster) WaitReady(t testing.TB, i int) {
	t.Helper()
	url := c.Nodes[i].ClientURL
	cli := c.newClient(t, []string{url})
	defer func() { _ = cli.Close() }()
	c.poll(t, i, "ready", func(ctx context.Context) error {
		st, err := cli.Status(ctx, url)
		if err != nil {
			return err
		}
		if st.Leader == 0 {
			return fmt.Errorf("no leader")
		}
		return nil
	})
}

// WaitPeer polls GET <peer URL>/members of member i until it answers 200:
// the peer port serves before the member has joined a formed cluster.
func (c *Cluster) WaitPeer(t testing.TB, i int) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	if cfg := c.ClientTLSConfig(t); cfg != nil {
		hc.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	url := c.Nodes[i].PeerURL + "/members"
	c.poll(t, i, "peer port", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
}

// poll calls check every 100ms until it succeeds, the member exits, or
// ReadyTimeout passes; the last two fail the test with the member's output.
func (c *Cluster) poll(t testing.TB, i int, what string, check func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(ReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p := c.proc(i); p == nil || p.exited() {
			t.Fatalf("etcd %s %s exited while waiting for %s:\n%s", c.Version.Name, c.Nodes[i].Name, what, c.Output(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = check(ctx)
		cancel()
		if last == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("etcd %s %s not %s within %v: %v\n%s", c.Version.Name, c.Nodes[i].Name, what, ReadyTimeout, last, c.Output(i))
}

func (c *Cluster) cleanup() {
	var wg sync.WaitGroup
	for i := range c.Nodes {
		if p := c.proc(i); p != nil {
			wg.Go(func() { p.stop(StopGrace) })
		}
	}
	wg.Wait()
	for i, n := range c.Nodes {
		if c.t.Failed() {
			c.t.Logf("last output of etcd %s %s:\n%s", c.Version.Name, n.Name, c.Output(i))
		}
		if f := c.logs[i].file; f != nil {
			_ = f.Close()
		}
	}
}
