// Package e2e runs the real etcd-rejoin binary, each instance owning a real
// etcd member on its own loopback address, against both etcd versions.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// binary is the etcd-rejoin binary built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etcd-rejoin-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "etcd-rejoin")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/etcd-rejoin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build etcd-rejoin:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	readyTimeout = 150 * time.Second
	exitTimeout  = 45 * time.Second
)

// lab is a set of hosts, each an etcd-rejoin process owning one member.
type lab struct {
	t      testing.TB
	v      testetcd.Version
	nodes  []testetcd.Node
	hosts  []*host
	dir    string
	ca     *testetcd.CA
	certs  []testetcd.TLSFiles
	client testetcd.TLSFiles
	extra  []string // environment for every host
	// discover leaves ETCD_OTHER_PEERS_CLIENT_URLS out: etcd-rejoin then
	// finds the client URLs through the peers' /members.
	discover bool
	// hostEnv, when set, adds environment for host i (after extra).
	hostEnv func(i int) []string
	// user and password authenticate the test's own clients (etcd auth).
	user, password string
}

// newLab prepares n hosts on prefix.1..n; nothing runs yet.
func newLab(t testing.TB, v testetcd.Version, prefix string, n int) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{t: t, v: v, nodes: testetcd.Nodes(prefix, n, dir), dir: dir, hosts: make([]*host, n), certs: make([]testetcd.TLSFiles, n)}
	t.Cleanup(l.cleanup)
	return l
}

// withTLS switches every member to https with client and peer certificate
// authentication.
func (l *lab) withTLS() { l.withTLSAs("") }

// withTLSAs is withTLS with every certificate's CN set to cn (etcd's user
// under client certificate authentication).
func (l *lab) withTLSAs(cn string) {
	l.ca = testetcd.NewCA(l.t)
	for i := range l.nodes {
		n := &l.nodes[i]
		n.ClientURL = strings.Replace(n.ClientURL, "http://", "https://", 1)
		n.PeerURL = strings.Replace(n.PeerURL, "http://", "https://", 1)
		cert, key := l.ca.IssueCN(l.t, cn, []string{n.IP, "127.0.0.1"}) // peer connections come from 127.0.0.1
		l.certs[i] = testetcd.TLSFiles{CAFile: l.ca.File, CertFile: cert, KeyFile: key}
	}
	cert, key := l.ca.IssueCN(l.t, cn, []string{"127.0.0.1"})
	l.client = testetcd.TLSFiles{CAFile: l.ca.File, CertFile: cert, KeyFile: key}
}

// env is host i's environment: the original entrypoint's variables, plus
// short timings so that tests are quick.
func (l *lab) env(i int) []string {
	n := l.nodes[i]
	var others []string
	for j, o := range l.nodes {
		if j != i {
			others = append(others, o.ClientURL)
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"ETCD_NAME=" + n.Name,
		"ETCD_DATA_DIR=" + n.DataDir,
		"ETCD_LISTEN_CLIENT_URLS=" + n.ClientURL,
		"ETCD_ADVERTISE_CLIENT_URLS=" + n.ClientURL,
		"ETCD_LISTEN_PEER_URLS=" + n.PeerURL,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + n.PeerURL,
		"ETCD_INITIAL_CLUSTER=" + testetcd.InitialCluster(l.nodes),
		"ETCD_INITIAL_CLUSTER_TOKEN=e2e",
		"ETCD_LOGGER=zap",
		"ETCD_LOG_LEVEL=warn",
		"ETCD_REJOIN_ETCD_BINARY=" + l.v.Binary,
		"ETCD_REJOIN_HEALTH_INTERVAL=1s",
		"ETCD_REJOIN_WAIT_BACKOFF_MAX=2s",
		"ETCD_REJOIN_STOP_TIMEOUT=10s",
		"ETCD_REJOIN_JOIN_TIMEOUT=45s",
		"ETCD_REJOIN_LOG_LEVEL=debug",
	}
	if !l.discover {
		env = append(env, "ETCD_OTHER_PEERS_CLIENT_URLS="+strings.Join(others, ","))
	}
	if f := l.certs[i]; f.CertFile != "" {
		env = append(env,
			"ETCD_CERT_FILE="+f.CertFile, "ETCD_KEY_FILE="+f.KeyFile, "ETCD_TRUSTED_CA_FILE="+f.CAFile,
			"ETCD_CLIENT_CERT_AUTH=true",
			"ETCD_PEER_CERT_FILE="+f.CertFile, "ETCD_PEER_KEY_FILE="+f.KeyFile, "ETCD_PEER_TRUSTED_CA_FILE="+f.CAFile,
			"ETCD_PEER_CLIENT_CERT_AUTH=true")
	}
	env = append(env, l.extra...)
	if l.hostEnv != nil {
		env = append(env, l.hostEnv(i)...)
	}
	return env
}

// start runs etcd-rejoin for host i with extra environment.
func (l *lab) start(i int, extra ...string) *host {
	l.t.Helper()
	if h := l.hosts[i]; h != nil && !h.exited() {
		l.t.Fatalf("host %s is still running", l.nodes[i].Name)
	}
	h := &host{name: l.nodes[i].Name, node: l.nodes[i], done: make(chan struct{})}
	h.cmd = exec.Command(binary, "run")
	h.cmd.Env = append(l.env(i), extra...)
	h.cmd.Stdout, h.cmd.Stderr = &h.out, &h.out
	if err := h.cmd.Start(); err != nil {
		l.t.Fatalf("start etcd-rejoin for %s: %v", h.name, err)
	}
	go func() {
		err := h.cmd.Wait()
		h.code = h.cmd.ProcessState.ExitCode()
		h.err = err
		close(h.done)
	}()
	l.hosts[i] = h
	return h
}

// startAll starts every host at once and waits until each is ready.
func (l *lab) startAll() {
	l.t.Helper()
	for i := range l.nodes {
		l.start(i)
	}
	for _, h := range l.hosts {
		h.waitReady(l.t)
	}
}

func (l *lab) cleanup() {
	for _, h := range l.hosts {
		if h == nil {
			continue
		}
		h.stop(20 * time.Second)
	}
	if l.t.Failed() {
		for _, h := range l.hosts {
			if h != nil {
				l.t.Logf("---- last output of %s (exit %d) ----\n%s", h.name, h.code, h.tail(60))
			}
		}
	}
}

// wipe stops host i and deletes its data dir: the host lost its disk.
func (l *lab) wipe(i int) {
	l.t.Helper()
	l.hosts[i].stop(20 * time.Second)
	if err := os.RemoveAll(l.nodes[i].DataDir); err != nil {
		l.t.Fatal(err)
	}
}

// plan runs `etcd-rejoin plan --json` for host i.
func (l *lab) plan(i int) (map[string]any, int) {
	l.t.Helper()
	cmd := exec.Command(binary, "plan", "--json")
	cmd.Env = l.env(i)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	var p map[string]any
	if err := json.Unmarshal(out, &p); err != nil {
		l.t.Fatalf("plan --json printed no JSON (%v): %s\nstderr: %s", err, out, stderr.String())
	}
	return p, cmd.ProcessState.ExitCode()
}

// cli returns a client for the members given (all when none).
func (l *lab) cli(idx ...int) *clientv3.Client {
	l.t.Helper()
	if len(idx) == 0 {
		for i := range l.nodes {
			idx = append(idx, i)
		}
	}
	var eps []string
	for _, i := range idx {
		eps = append(eps, l.nodes[i].ClientURL)
	}
	cfg := clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), Username: l.user, Password: l.password}
	if l.client.CertFile != "" {
		tc, err := l.client.Config()
		if err != nil {
			l.t.Fatal(err)
		}
		cfg.TLS = tc
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		l.t.Fatalf("client: %v", err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c
}

// member is a compact view of a live member list entry.
type member struct {
	ID      uint64
	Name    string
	Peer    string
	Learner bool
	Started bool
}

// members lists the live members, through the hosts given.
func (l *lab) members(idx ...int) []member {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := l.cli(idx...).MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		l.t.Fatalf("member list: %v", err)
	}
	var out []member
	for _, m := range resp.Members {
		out = append(out, member{ID: m.ID, Name: m.Name, Peer: strings.Join(m.PeerURLs, ","), Learner: m.IsLearner, Started: len(m.ClientURLs) > 0})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// memberID returns the live ID of host i (by peer URL).
func (l *lab) memberID(i int, ms []member) uint64 {
	for _, m := range ms {
		if m.Peer == l.nodes[i].PeerURL {
			return m.ID
		}
	}
	l.t.Fatalf("no member with peer URL %s in %+v", l.nodes[i].PeerURL, ms)
	return 0
}

// put writes keys through the hosts given.
func (l *lab) put(n int, prefix string, idx ...int) {
	l.t.Helper()
	c := l.cli(idx...)
	for k := 0; k < n; k++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Put(ctx, fmt.Sprintf("%s/%03d", prefix, k), fmt.Sprintf("value-%d", k))
		cancel()
		if err != nil {
			l.t.Fatalf("put %s/%03d: %v", prefix, k, err)
		}
	}
}

// count counts the keys under prefix through one member only, with a
// linearizable read.
func (l *lab) count(i int, prefix string) int64 {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := l.cli(i).Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		l.t.Fatalf("count %s through %s: %v", prefix, l.nodes[i].Name, err)
	}
	return resp.Count
}

// host is one etcd-rejoin process.
type host struct {
	name string
	node testetcd.Node
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	code int
	err  error
}

func (h *host) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// waitLog waits until the output contains s.
func (h *host) waitLog(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(h.out.String(), s) {
			return
		}
		if h.exited() {
			t.Fatalf("%s exited (code %d) before logging %q", h.name, h.code, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not log %q within %s", h.name, s, timeout)
}

// waitReady waits for the READY line: voting and caught up.
func (h *host) waitReady(t testing.TB) {
	t.Helper()
	h.waitLog(t, "voting and caught up", readyTimeout)
}

// waitExit waits for the process to end and returns its exit code.
func (h *host) waitExit(t testing.TB) int {
	t.Helper()
	select {
	case <-h.done:
		return h.code
	case <-time.After(exitTimeout):
		t.Fatalf("%s did not exit within %s", h.name, exitTimeout)
		return -1
	}
}

// stop sends SIGTERM and waits; SIGKILL after grace.
func (h *host) stop(grace time.Duration) int {
	if h.exited() {
		return h.code
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(grace):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	return h.code
}

func (h *host) tail(n int) string {
	lines := strings.Split(strings.TrimRight(h.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// netsPerTest is how many loopback /24s each test reserves from its base:
// one per etcd version.
const netsPerTest = 3

// forEachVersion runs f as a parallel subtest per etcd version, each with
// its own loopback /24: base for the first version found (3.4), base+1 for
// the next (3.5), base+2 for the last (3.6).
func forEachVersion(t *testing.T, base int, f func(t *testing.T, v testetcd.Version, prefix string)) {
	versions := testetcd.Versions(t)
	if len(versions) > netsPerTest {
		t.Fatalf("%d etcd versions but each test reserves only %d /24s: renumber the net* constants", len(versions), netsPerTest)
	}
	for i, v := range versions {
		v, prefix := v, fmt.Sprintf("127.0.%d", base+i)
		t.Run("etcd"+v.Name, func(t *testing.T) {
			t.Parallel()
			f(t, v, prefix)
		})
	}
}

// dirEntries lists the names in dir.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// versionPassThrough starts a shell wrapper around v's etcd that answers
// `etcd --version` (which etcd-rejoin asks before each start) with the real
// binary, so that a wrapper counting or stalling its runs sees only the
// starts of a server.
func versionPassThrough(v testetcd.Version) string {
	return "#!/bin/sh\nif [ \"$1\" = --version ]; then exec " + v.Binary + " --version; fi\n"
}

// startedVoters fails the test unless ms holds want members, each a
// started voter.
func startedVoters(t testing.TB, ms []member, want int) {
	t.Helper()
	if len(ms) != want {
		t.Fatalf("members = %+v, want %d", ms, want)
	}
	for _, m := range ms {
		if m.Learner || !m.Started {
			t.Errorf("member %+v is not a started voter", m)
		}
	}
}
