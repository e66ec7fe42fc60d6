package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sys/unix"
)

// Member is one host of the campaign: its namespace, disk, unit and the
// campaign's own client to it.
type Member struct {
	Index     int
	Name      string
	IP        string
	ClientURL string
	PeerURL   string
	Disk      Disk
	DataDir   string
	WalDir    string // "" unless the member keeps its WAL apart
	StateFile string
	Unit      *Unit
	Ledger    *Ledger
	Log       *logFile

	cli *clientv3.Client // to this member only
}

// Cluster is the campaign's hosts, network and clients.
type Cluster struct {
	cfg     *Config
	Net     *Net
	Clock   *Clock
	Members []*Member
	all     *clientv3.Client // through every member
	base    string
	etcdExe string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Ports each member listens on, inside its own namespace.
const (
	clientPort = 2379
	peerPort   = 2380
)

// Timings of the emulated systemd unit and of etcd-rejoin, shortened so
// that hundreds of faults fit in an hour or two (the shipped unit has
// WatchdogSec=30s, RestartDelay=5s, TimeoutStopSec=40s).
const (
	unitWatchdog     = 6 * time.Second
	unitRestartDelay = time.Second
	unitStopTimeout  = 15 * time.Second
	unitAbortTimeout = 5 * time.Second
)

// newCluster lays out the members; nothing runs yet.
func newCluster(cfg *Config, clock *Clock, base string) (*Cluster, error) {
	c := &Cluster{cfg: cfg, Net: NewNet(cfg.Slot, cfg.Members), Clock: clock, base: base}
	exe, err := filepath.EvalSymlinks(cfg.EtcdBinary)
	if err != nil {
		return nil, fmt.Errorf("etcd binary: %w", err)
	}
	c.etcdExe = exe
	for i := 0; i < cfg.Members; i++ {
		c.Members = append(c.Members, c.newMember(i))
	}
	return c, nil
}

func (c *Cluster) newMember(i int) *Member {
	ip := c.Net.IP(i)
	disk := Disk{Dir: filepath.Join(c.base, fmt.Sprintf("m%d", i+1)), Size: c.cfg.DiskSize}
	m := &Member{
		Index: i, Name: fmt.Sprintf("m%d", i+1), IP: ip,
		ClientURL: fmt.Sprintf("http://%s:%d", ip, clientPort),
		PeerURL:   fmt.Sprintf("http://%s:%d", ip, peerPort),
		Disk:      disk,
		DataDir:   filepath.Join(disk.Dir, "data"),
	}
	m.StateFile = m.DataDir + ".rejoin-state.json"
	if i >= c.cfg.Members-c.cfg.WalDirMembers {
		m.WalDir = filepath.Join(disk.Dir, "wal")
	}
	live := []string{m.DataDir}
	if m.WalDir != "" {
		live = append(live, m.WalDir)
	}
	m.Ledger = NewLedger(m.Name, disk.Dir, live, c.cfg.KeepBackups)
	return m
}

// env is member m's environment: the original entrypoint's ETCD_*
// variables and etcd-rejoin's own, with short timings.
func (c *Cluster) env(m *Member) []string {
	var initial, others []string
	for _, o := range c.Members {
		initial = append(initial, o.Name+"="+o.PeerURL)
		if o != m {
			others = append(others, o.ClientURL)
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"ETCD_NAME=" + m.Name,
		"ETCD_DATA_DIR=" + m.DataDir,
		"ETCD_LISTEN_CLIENT_URLS=" + m.ClientURL,
		"ETCD_ADVERTISE_CLIENT_URLS=" + m.ClientURL,
		"ETCD_LISTEN_PEER_URLS=" + m.PeerURL,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + m.PeerURL,
		"ETCD_INITIAL_CLUSTER=" + strings.Join(initial, ","),
		fmt.Sprintf("ETCD_INITIAL_CLUSTER_TOKEN=faults-%d", c.cfg.Slot),
		"ETCD_OTHER_PEERS_CLIENT_URLS=" + strings.Join(others, ","),
		"ETCD_LOGGER=zap",
		"ETCD_LOG_LEVEL=" + c.cfg.EtcdLogLevel,
		"ETCD_SNAPSHOT_COUNT=2000",
		"ETCD_AUTO_COMPACTION_MODE=revision",
		"ETCD_AUTO_COMPACTION_RETENTION=5000",
		"ETCD_REJOIN_ETCD_BINARY=" + c.cfg.EtcdBinary,
		"ETCD_REJOIN_HEALTH_INTERVAL=1s",
		"ETCD_REJOIN_WAIT_BACKOFF_MAX=2s",
		"ETCD_REJOIN_STOP_TIMEOUT=10s",
		"ETCD_REJOIN_JOIN_TIMEOUT=45s",
		fmt.Sprintf("ETCD_REJOIN_KEEP_BACKUPS=%d", c.cfg.KeepBackups),
		"ETCD_REJOIN_LOG_LEVEL=debug",
	}
	if m.WalDir != "" {
		env = append(env, "ETCD_WAL_DIR="+m.WalDir)
	}
	return env
}

// Up creates the network and the disks and starts every unit: the first
// boot of a new cluster.
func (c *Cluster) Up(ctx context.Context, logDir string) error {
	if err := c.Net.Create(); err != nil {
		return err
	}
	ctx, c.cancel = context.WithCancel(ctx)
	for _, m := range c.Members {
		if err := c.prepare(m, logDir); err != nil {
			return err
		}
	}
	for _, m := range c.Members {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			m.Unit.Run(ctx)
		}()
		m.Unit.Start()
	}
	all, err := newClient(c.ClientURLs(), c.Net.Dial)
	if err != nil {
		return fmt.Errorf("campaign client: %w", err)
	}
	c.all = all
	return nil
}

func (c *Cluster) prepare(m *Member, logDir string) error {
	if err := m.Disk.Mount(); err != nil {
		return err
	}
	lf, err := openLog(filepath.Join(logDir, m.Name+".log"), c.Clock)
	if err != nil {
		return err
	}
	m.Log = lf
	u, err := NewUnit(UnitConfig{
		Name: m.Name,
		Command: func() *exec.Cmd {
			return c.Net.Command(m.Index, c.cfg.Binary, "run")
		},
		Env:          c.env(m),
		Log:          lf,
		SocketPath:   filepath.Join(c.base, m.Name+".notify"),
		Watchdog:     unitWatchdog,
		RestartDelay: unitRestartDelay,
		StopTimeout:  unitStopTimeout,
		AbortTimeout: unitAbortTimeout,
		Clock:        c.Clock,
	})
	if err != nil {
		return err
	}
	m.Unit = u
	cli, err := newClient([]string{m.ClientURL}, c.Net.Dial)
	if err != nil {
		return fmt.Errorf("client of %s: %w", m.Name, err)
	}
	m.cli = cli
	return nil
}

// ClientURLs lists every member's client URL.
func (c *Cluster) ClientURLs() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Down stops everything the cluster started and removes the network and
// the disks, whatever state they are in.
func (c *Cluster) Down() error {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	var errs []error
	for _, m := range c.Members {
		if m.cli != nil {
			m.cli.Close()
		}
		if m.Unit != nil {
			m.Unit.Close()
		}
		if m.Log != nil {
			m.Log.Close()
		}
	}
	if c.all != nil {
		c.all.Close()
	}
	errs = append(errs, c.Net.Destroy(), unmountUnder(c.base))
	return errors.Join(errs...)
}

// memberStatus is what one member says about itself through its client URL.
type memberStatus struct {
	ok                      bool
	err                     error
	member, cluster, leader uint64
	learner                 bool
	raftIndex, appliedIndex uint64
}

func (c *Cluster) status(ctx context.Context, m *Member) memberStatus {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := m.cli.Status(ctx, m.ClientURL)
	if err != nil {
		return memberStatus{err: err}
	}
	return memberStatus{ok: true, member: st.Header.MemberId, cluster: st.Header.ClusterId, leader: st.Leader,
		learner: st.IsLearner, raftIndex: st.RaftIndex, appliedIndex: st.RaftAppliedIndex}
}

// statuses asks every member at once.
func (c *Cluster) statuses(ctx context.Context) []memberStatus {
	out := make([]memberStatus, len(c.Members))
	var wg sync.WaitGroup
	for i, m := range c.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.status(ctx, m)
		}()
	}
	wg.Wait()
	return out
}

// Leader returns the index of the member the others call leader, or -1.
func (c *Cluster) Leader(ctx context.Context) int {
	sts := c.statuses(ctx)
	votes := map[uint64]int{}
	for _, st := range sts {
		if st.ok && st.leader != 0 {
			votes[st.leader]++
		}
	}
	for i, st := range sts {
		if st.ok && votes[st.member] > 0 && votes[st.member] >= len(c.Members)/2+1 {
			return i
		}
	}
	return -1
}

// convergence says why the cluster has not converged yet; "" once every
// member is a healthy started voter of one cluster, listed under its own
// name and peer URL with nothing else listed, and every unit is READY.
func (c *Cluster) convergence(ctx context.Context) string {
	for _, m := range c.Members {
		if st := m.Unit.State(); !st.Healthy() {
			return fmt.Sprintf("%s: unit not ready (running %t, ready %t, status %q)", m.Name, st.Running, st.Ready, st.Status)
		}
	}
	sts := c.statuses(ctx)
	for i, st := range sts {
		switch {
		case !st.ok:
			return fmt.Sprintf("%s: status: %v", c.Members[i].Name, st.err)
		case st.learner:
			return fmt.Sprintf("%s: still a learner", c.Members[i].Name)
		case st.leader == 0 || st.leader != sts[0].leader:
			return fmt.Sprintf("%s: leader %x, %s says %x", c.Members[i].Name, st.leader, c.Members[0].Name, sts[0].leader)
		case st.cluster != sts[0].cluster:
			return fmt.Sprintf("%s: cluster %x, %s is in %x", c.Members[i].Name, st.cluster, c.Members[0].Name, sts[0].cluster)
		}
	}
	for i, m := range c.Members {
		if why := c.checkList(ctx, m, sts); why != "" {
			return why
		}
		if err := c.readThrough(ctx, m); err != nil {
			return fmt.Sprintf("%s: linearizable read: %v (member %x)", m.Name, err, sts[i].member)
		}
	}
	return ""
}

// checkList compares the member list as m sees it with the configuration
// and with the member IDs the members report.
func (c *Cluster) checkList(ctx context.Context, m *Member, sts []memberStatus) string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := m.cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return fmt.Sprintf("%s: member list: %v", m.Name, err)
	}
	if len(resp.Members) != len(c.Members) {
		return fmt.Sprintf("%s lists %d members: %s", m.Name, len(resp.Members), describeMembers(resp))
	}
	for _, e := range resp.Members {
		o := c.byPeerURL(e.PeerURLs)
		switch {
		case o == nil:
			return fmt.Sprintf("%s lists an unknown member %x %q %v", m.Name, e.ID, e.Name, e.PeerURLs)
		case e.IsLearner:
			return fmt.Sprintf("%s lists %s (%x) as a learner", m.Name, o.Name, e.ID)
		case len(e.ClientURLs) == 0 || e.Name != o.Name:
			return fmt.Sprintf("%s lists %s (%x) as unstarted (name %q)", m.Name, o.Name, e.ID, e.Name)
		case sts[o.Index].member != e.ID:
			return fmt.Sprintf("%s lists %s as %x, but it runs as %x", m.Name, o.Name, e.ID, sts[o.Index].member)
		}
	}
	return ""
}

func describeMembers(resp *clientv3.MemberListResponse) string {
	var parts []string
	for _, e := range resp.Members {
		parts = append(parts, fmt.Sprintf("%x %q %v learner=%t started=%t", e.ID, e.Name, e.PeerURLs, e.IsLearner, len(e.ClientURLs) > 0))
	}
	return strings.Join(parts, "; ")
}

func (c *Cluster) byPeerURL(urls []string) *Member {
	for _, m := range c.Members {
		if len(urls) == 1 && strings.TrimSuffix(urls[0], "/") == m.PeerURL {
			return m
		}
	}
	return nil
}

func (c *Cluster) readThrough(ctx context.Context, m *Member) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := m.cli.Get(ctx, "campaign/probe")
	return err
}

// memberIDs returns the member IDs listed by a member that answers, for
// "nothing changed in the membership" checks; nil if none answers.
func (c *Cluster) memberIDs(ctx context.Context) []uint64 {
	for _, m := range c.Members {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := m.cli.MemberList(cctx, clientv3.WithSerializable())
		cancel()
		if err != nil {
			continue
		}
		var ids []uint64
		for _, e := range resp.Members {
			ids = append(ids, e.ID)
		}
		slices.Sort(ids)
		return ids
	}
	return nil
}

// etcdProcess is an etcd found running in a member's namespace.
type etcdProcess struct {
	member *Member
	pid    int
	ids    walIDs // from its data (or wal) dir; zero if unreadable
}

// etcdProcesses lists the etcd servers running in the members' namespaces
// (processes of the etcd binary that listen on a member port), in one pass
// over /proc.
func (c *Cluster) etcdProcesses() []etcdProcess {
	byNS := map[uint64]*Member{}
	for _, m := range c.Members {
		var st unix.Stat_t
		if unix.Stat(c.Net.NSPath(m.Index), &st) == nil {
			byNS[st.Ino] = m
		}
	}
	var out []etcdProcess
	for _, pid := range allPids() {
		if exePath(pid) != c.etcdExe || !alive(pid) || !listens(pid, clientPort, peerPort) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil || byNS[st.Ino] == nil {
			continue
		}
		env := environOf(pid)
		ids, _ := dataIDs(env["ETCD_DATA_DIR"], env["ETCD_WAL_DIR"])
		out = append(out, etcdProcess{member: byNS[st.Ino], pid: pid, ids: ids})
	}
	return out
}

// identityProblems checks that no two running etcd processes serve one
// member ID and that every running member is in one cluster, from the data
// each process runs on and from what each member answers.
func (c *Cluster) identityProblems(ctx context.Context) []string {
	var problems []string
	byMember := map[uint64][]string{}
	clusters := map[uint64][]string{}
	for _, p := range c.etcdProcesses() {
		if p.ids.Member == 0 {
			continue
		}
		who := fmt.Sprintf("%s (etcd pid %d, data)", p.member.Name, p.pid)
		byMember[p.ids.Member] = append(byMember[p.ids.Member], who)
		clusters[p.ids.Cluster] = append(clusters[p.ids.Cluster], who)
	}
	for i, st := range c.statuses(ctx) {
		if !st.ok {
			continue
		}
		who := c.Members[i].Name + " (status)"
		byMember[st.member] = append(byMember[st.member], who)
		clusters[st.cluster] = append(clusters[st.cluster], who)
	}
	for id, who := range byMember {
		if hosts := distinctHosts(who); len(hosts) > 1 {
			problems = append(problems, fmt.Sprintf("member ID %x served by two hosts at once: %s", id, strings.Join(who, ", ")))
		}
	}
	if len(clusters) > 1 {
		var parts []string
		for id, who := range clusters {
			parts = append(parts, fmt.Sprintf("%x: %s", id, strings.Join(who, ", ")))
		}
		sort.Strings(parts)
		problems = append(problems, "running members in more than one cluster: "+strings.Join(parts, "; "))
	}
	return problems
}

// distinctHosts returns the host names ("m2") in descriptions "m2 (...)".
func distinctHosts(who []string) []string {
	var out []string
	for _, w := range who {
		h, _, _ := strings.Cut(w, " ")
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// agree checks that every member holds the same keys and values at one
// revision: the latest one, read linearizably, then read serializably from
// each member alone once it has applied it.
// It returns that revision.
func (c *Cluster) agree(ctx context.Context) (int64, error) {
	var last error
	for attempt := 0; attempt < 30; attempt++ {
		rev, err := c.agreeOnce(ctx)
		var v *violation
		if err == nil || errors.As(err, &v) {
			return rev, err
		}
		last = err
		if !sleepCtx(ctx, 300*time.Millisecond) {
			return 0, ctx.Err()
		}
	}
	return 0, fmt.Errorf("members do not all serve the latest revision: %w", last)
}

func (c *Cluster) agreeOnce(ctx context.Context) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	head, err := c.all.Get(cctx, "campaign/probe")
	if err != nil {
		return 0, fmt.Errorf("read the latest revision: %w", err)
	}
	rev := head.Header.Revision
	var first []string
	for i, m := range c.Members {
		resp, err := m.cli.Get(cctx, "\x00", clientv3.WithFromKey(), clientv3.WithRev(rev), clientv3.WithSerializable())
		if err != nil {
			return 0, fmt.Errorf("%s at revision %d: %w", m.Name, rev, err)
		}
		var kvs []string
		for _, kv := range resp.Kvs {
			kvs = append(kvs, fmt.Sprintf("%s=%s@%d", kv.Key, kv.Value, kv.ModRevision))
		}
		if i == 0 {
			first = kvs
			continue
		}
		if !slices.Equal(kvs, first) {
			return 0, &violation{what: fmt.Sprintf("%s and %s hold different data at revision %d: %s", c.Members[0].Name, m.Name, rev, firstDiff(first, kvs))}
		}
	}
	return rev, nil
}

// firstDiff describes where two key lists part.
func firstDiff(a, b []string) string {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("entry %d: %q vs %q (%d vs %d keys)", i, trunc(x), trunc(y), len(a), len(b))
		}
	}
	return "no difference"
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
