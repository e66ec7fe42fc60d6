package status

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
	"github.com/etcd-rejoin/etcd-rejoin/internal/urlset"
)

// DefaultQuotaBytes is etcd's backend quota when quota-backend-bytes is not
// set (or 0): 2 GiB.
const DefaultQuotaBytes = 2 << 30

// Source says where Gather finds its facts.
type Source struct {
	// Name and PeerURLs are this member's, as configured: they find its
	// entry in the live list when it does not answer itself.
	Name     string
	PeerURLs []string
	// Local is the local member's client endpoint, asked with LocalOptions.
	Local        string
	LocalOptions member.Options
	// Cluster says how the peers are reached (member.Observe).
	Cluster member.Options
	// QuotaBytes is etcd's quota-backend-bytes as configured; 0 for etcd's
	// default.
	QuotaBytes int64
	// RecordPath is the service's record (RecordPath of the state file).
	RecordPath string
	// SnapshotDir is where snapshots are; "" for none.
	SnapshotDir string
	// DataDir and BackupDir locate the moved-aside copies (BackupDir "":
	// beside the data dir).
	DataDir, BackupDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Gather builds the report. It does not fail: what could not be learnt is
// said in the report (Member.Error, Cluster.Errors, Problems, Warnings).
func Gather(ctx context.Context, src Source) Report {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	g := &gatherer{src: src, rep: Report{Schema: SchemaVersion, Time: now().UTC(), Problems: []string{}, Warnings: []string{},
		Alarms: []Alarm{}, MovedAside: []Copy{}}}
	g.local(ctx)
	g.cluster(ctx)
	g.self()
	g.alarms(ctx)
	g.files()
	g.verdict()
	return g.rep
}

type gatherer struct {
	src Source
	rep Report
	// st is the local member's status when it answered; statuses holds
	// every member's answer by ID.
	st       *member.Status
	health   member.Health
	herr     error
	list     plan.Cluster
	statuses map[uint64]member.Status
}

func (g *gatherer) warn(format string, args ...any) {
	g.rep.Warnings = append(g.rep.Warnings, fmt.Sprintf(format, args...))
}

// local asks the local member for its status and its health.
func (g *gatherer) local(ctx context.Context) {
	m := &g.rep.Member
	m.Name, m.Endpoint, m.Source, m.Role = g.src.Name, g.src.Local, SourceNone, RoleUnknown
	st, err := member.EndpointStatus(ctx, g.src.Local, g.src.LocalOptions)
	if err != nil {
		m.Error = err.Error()
		return
	}
	g.st = &st
	g.health, g.herr = member.LocalHealth(ctx, g.src.Local, g.src.LocalOptions)
	m.Source, m.ID, m.Leader, m.Version = SourceLocal, hexID(st.MemberID), hexOrEmpty(st.Leader), st.Version
	m.Role = roleOf(st)
	m.RaftTerm, m.RaftIndex, m.AppliedIndex = st.RaftTerm, st.RaftIndex, st.AppliedIndex
	m.DBSize, m.DBSizeInUse = st.DBSize, st.DBSizeInUse
}

func roleOf(st member.Status) string {
	switch {
	case st.IsLearner:
		return RoleLearner
	case st.IsLeader():
		return RoleLeader
	default:
		return RoleFollower
	}
}

// hexID is a member or cluster ID as 16 hex digits, as etcdctl prints them.
func hexID(id uint64) string { return fmt.Sprintf("%016x", id) }

func hexOrEmpty(id uint64) string {
	if id == 0 {
		return ""
	}
	return hexID(id)
}

// cluster observes the live cluster and asks every listed member for its
// status.
func (g *gatherer) cluster(ctx context.Context) {
	o := g.src.Cluster
	if g.st != nil {
		// The local member answered: ask it too (a cluster of one has no
		// other member to ask). The list then names the others.
		o.ClientURLs = append(append([]string{}, o.ClientURLs...), g.src.Local)
	}
	c, err := member.Observe(ctx, o)
	if err != nil {
		g.rep.Cluster.Errors = []string{err.Error()}
		return
	}
	g.list = c
	g.rep.Cluster.ID, g.rep.Cluster.Quorum = hexOrEmpty(c.ClusterID), c.Quorum
	g.rep.Cluster.Errors = append([]string{}, c.Errors...)
	if c.Conflict != "" {
		g.rep.Cluster.Errors = append(g.rep.Cluster.Errors, "more than one cluster answered: "+c.Conflict)
	}
	g.statuses = g.memberStatuses(ctx, c.Members)
	sort.Slice(c.Members, func(i, j int) bool {
		a, b := c.Members[i], c.Members[j]
		return a.Name < b.Name || a.Name == b.Name && a.ID < b.ID
	})
	for _, m := range c.Members {
		g.rep.Cluster.Members = append(g.rep.Cluster.Members, g.clusterMember(m))
	}
	g.rep.Cluster.Leader = g.leader()
}

// memberStatuses asks each listed member (through its first client URL)
// for its status, concurrently; the local member's answer is reused.
func (g *gatherer) memberStatuses(ctx context.Context, members []plan.Member) map[uint64]member.Status {
	out := map[uint64]member.Status{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range members {
		if g.st != nil && g.st.MemberID == m.ID {
			out[m.ID] = *g.st
			continue
		}
		if len(m.ClientURLs) == 0 {
			continue
		}
		wg.Go(func() {
			st, err := member.EndpointStatus(ctx, m.ClientURLs[0], g.src.Cluster)
			if err != nil || st.MemberID != m.ID || st.ClusterID != g.list.ClusterID {
				return
			}
			mu.Lock()
			out[m.ID] = st
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (g *gatherer) clusterMember(m plan.Member) ClusterMember {
	cm := ClusterMember{ID: hexID(m.ID), Name: m.Name, PeerURLs: nonNil(m.PeerURLs), ClientURLs: nonNil(m.ClientURLs),
		Healthy: m.Healthy, Self: g.isSelf(m), Role: RoleUnknown}
	if m.IsLearner {
		cm.Role = RoleLearner
	}
	if st, ok := g.statuses[m.ID]; ok {
		cm.Role, cm.RaftIndex, cm.DBSize, cm.DBSizeInUse, cm.Version = roleOf(st), st.RaftIndex, st.DBSize, st.DBSizeInUse, st.Version
	}
	return cm
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// isSelf: the entry is this member's by the ID it reported, else by peer
// URL, else by name.
func (g *gatherer) isSelf(m plan.Member) bool {
	if g.st != nil {
		return m.ID == g.st.MemberID
	}
	if urlset.Intersect(m.PeerURLs, g.src.PeerURLs) {
		return true
	}
	return m.Name != "" && m.Name == g.src.Name
}

// leader is the leader's ID: as the local member sees it, else as the
// answering members see it.
func (g *gatherer) leader() string {
	if g.st != nil && g.st.Leader != 0 {
		return hexID(g.st.Leader)
	}
	for _, st := range g.statuses {
		if st.Leader != 0 {
			return hexID(st.Leader)
		}
	}
	return ""
}

// self completes this member's facts from the cluster: its ID and role
// from the list when it did not answer, the leader's name, term and index.
func (g *gatherer) self() {
	m := &g.rep.Member
	for _, cm := range g.rep.Cluster.Members {
		if cm.Self && m.ID == "" {
			m.ID, m.Role, m.Source = cm.ID, cm.Role, SourcePeers
		}
	}
	if m.Leader == "" {
		m.Leader = g.rep.Cluster.Leader
	}
	for _, cm := range g.list.Members {
		if hexID(cm.ID) == m.Leader {
			m.LeaderName = cm.Name
			if st, ok := g.statuses[cm.ID]; ok {
				m.LeaderRaftTerm, m.LeaderRaftIndex = st.RaftTerm, st.RaftIndex
			}
		}
	}
	m.QuotaBytes = g.quota()
}

func (g *gatherer) quota() int64 {
	switch {
	case g.st != nil && g.st.DBSizeQuota > 0:
		return g.st.DBSizeQuota
	case g.src.QuotaBytes > 0:
		return g.src.QuotaBytes
	default:
		return DefaultQuotaBytes
	}
}

// alarms lists the active alarms through the local member, else through a
// healthy peer, else as any member's own view in its status errors.
func (g *gatherer) alarms(ctx context.Context) {
	list, err := g.alarmList(ctx)
	if err != nil {
		g.warn("alarm list: %v", err)
		list = g.alarmsInStatuses()
	}
	for _, a := range list {
		g.rep.Alarms = append(g.rep.Alarms, Alarm{Name: a.Name, MemberID: hexID(a.MemberID),
			MemberName: g.nameOf(a.MemberID), DBSize: g.sizeOf(a.MemberID)})
	}
}

func (g *gatherer) alarmList(ctx context.Context) ([]member.Alarm, error) {
	var errs []error
	if g.st != nil {
		list, err := member.Alarms(ctx, []string{g.src.Local}, g.src.LocalOptions)
		if err == nil {
			return list, nil
		}
		errs = append(errs, err)
	}
	var healthy []string
	for _, m := range g.list.Members {
		if m.Healthy && !g.isSelf(m) {
			healthy = append(healthy, m.ClientURLs...)
		}
	}
	if len(healthy) > 0 {
		list, err := member.Alarms(ctx, healthy, g.src.Cluster)
		if err == nil {
			return list, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no member answered")
	}
	return nil, errors.Join(errs...)
}

func (g *gatherer) alarmsInStatuses() []member.Alarm {
	if g.st != nil {
		return member.AlarmsInErrors(g.st.Errors)
	}
	for _, st := range g.statuses {
		return member.AlarmsInErrors(st.Errors)
	}
	return nil
}

// sizeOf is member id's database size as it reported it; 0 if it did not.
func (g *gatherer) sizeOf(id uint64) int64 {
	if g.st != nil && g.st.MemberID == id {
		return g.st.DBSize
	}
	return g.statuses[id].DBSize
}

func (g *gatherer) nameOf(id uint64) string {
	for _, m := range g.list.Members {
		if m.ID == id {
			return m.Name
		}
	}
	return ""
}

// files reads the service's record, the newest snapshot and the
// moved-aside copies.
func (g *gatherer) files() {
	g.record()
	g.snapshot()
	g.copies()
}

func (g *gatherer) record() {
	if g.src.RecordPath == "" {
		return
	}
	r, err := Load(g.src.RecordPath)
	switch {
	case err != nil:
		g.warn("%v", err)
	case r.State == "":
		return
	default:
		g.rep.Service = &r
		if r.PID > 0 && !alive(r.PID) {
			g.warn("the service (pid %d) that wrote the record is not running; the record is as it left it", r.PID)
		}
	}
}

// alive reports whether a process pid exists (EPERM: it does, as another
// user's).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (g *gatherer) snapshot() {
	if g.src.SnapshotDir == "" {
		return
	}
	files, err := snapshot.List(g.src.SnapshotDir)
	if err != nil {
		g.warn("%v", err)
		return
	}
	if len(files) > 0 {
		f := files[0]
		g.rep.Snapshot = &Snapshot{Path: f.Path, SizeBytes: f.Size, TakenAt: f.TakenAt.UTC()}
	}
}

func (g *gatherer) copies() {
	if g.src.DataDir == "" {
		return
	}
	data := filepath.Clean(g.src.DataDir)
	dir := filepath.Dir(data)
	if g.src.BackupDir != "" {
		dir = filepath.Clean(g.src.BackupDir)
	}
	copies, err := datadir.Copies(dir, filepath.Base(data))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		g.warn("moved-aside copies in %s: %v", dir, err)
	}
	for _, c := range copies {
		g.rep.MovedAside = append(g.rep.MovedAside, Copy{Path: filepath.Join(dir, c.Name), Kind: c.Kind})
	}
}

// verdict decides whether this member is healthy, and says why not.
func (g *gatherer) verdict() {
	r := &g.rep
	switch {
	case g.st == nil:
		r.Problems = append(r.Problems, "the local member does not answer: "+r.Member.Error)
	case g.herr != nil:
		r.Problems = append(r.Problems, g.herr.Error())
	case g.health.IsLearner:
		r.Problems = append(r.Problems, "the local member is a learner (not voting yet)")
	}
	for _, a := range r.Alarms {
		r.Problems = append(r.Problems, alarmProblem(a, r.Member.QuotaBytes))
	}
	r.Healthy = len(r.Problems) == 0 && g.health.Ready()
}

// alarmProblem says what an alarm means and what to do.
func alarmProblem(a Alarm, quota int64) string {
	who := a.MemberID
	if a.MemberName != "" {
		who = a.MemberName + " (" + a.MemberID + ")"
	}
	switch a.Name {
	case "NOSPACE":
		return fmt.Sprintf("alarm NOSPACE on %s: the cluster refuses writes (database %s of quota %s); "+
			"compact, defragment, then disarm (etcdctl alarm disarm)", who, Bytes(a.DBSize), Bytes(quota))
	case "CORRUPT":
		return fmt.Sprintf("alarm CORRUPT on %s: its data differs from the others'; it must be replaced", who)
	default:
		return fmt.Sprintf("alarm %s on %s", a.Name, who)
	}
}
