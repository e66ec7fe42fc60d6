package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/notify"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// fakeCluster is the membership seam's fake: a member list that membership
// calls change, errors to inject, and the calls it saw, in order.
type fakeCluster struct {
	members []plan.Member
	calls   []string
	nextID  uint64

	dialErr, removeErr, addErr, membersErr, updateErr, lockErr error
	// addListStale makes Add answer with the list as it was before the add
	// (a lagging member's applied state).
	addListStale bool
	// membersStale makes Members answer without the added entry too.
	membersStale bool
	// promoteErrs are the answers to the next Promote calls, in order
	// (nil once they run out).
	promoteErrs []error
}

var _ membership = (*fakeCluster)(nil)

func (f *fakeCluster) call(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeCluster) Members(context.Context) ([]plan.Member, error) {
	f.call("members")
	if f.membersErr != nil {
		return nil, f.membersErr
	}
	if f.membersStale && len(f.members) > 0 {
		return f.members[:len(f.members)-1], nil
	}
	return append([]plan.Member(nil), f.members...), nil
}

func (f *fakeCluster) Remove(_ context.Context, id uint64) error {
	f.call("remove %x", id)
	if f.removeErr != nil {
		return f.removeErr
	}
	for i, m := range f.members {
		if m.ID == id {
			f.members = append(f.members[:i], f.members[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("remove member %x: %w", id, member.ErrMemberNotFound)
}

func (f *fakeCluster) Add(_ context.Context, peerURLs []string, learner bool) (plan.Member, []plan.Member, error) {
	f.call("add %s learner=%t", strings.Join(peerURLs, ","), learner)
	if f.addErr != nil {
		return plan.Member{}, nil, f.addErr
	}
	before := append([]plan.Member(nil), f.members...)
	m := plan.Member{ID: f.nextID, PeerURLs: peerURLs, IsLearner: learner}
	f.members = append(f.members, m)
	if f.addListStale {
		return m, before, nil
	}
	return m, append([]plan.Member(nil), f.members...), nil
}

func (f *fakeCluster) Update(_ context.Context, id uint64, peerURLs []string) error {
	f.call("update %x %s", id, strings.Join(peerURLs, ","))
	return f.updateErr
}

func (f *fakeCluster) Promote(_ context.Context, id uint64) error {
	f.call("promote %x", id)
	if len(f.promoteErrs) == 0 {
		return nil
	}
	err := f.promoteErrs[0]
	f.promoteErrs = f.promoteErrs[1:]
	return err
}

func (f *fakeCluster) Lock(_ context.Context, name string) (func(), error) {
	f.call("lock %s", name)
	if f.lockErr != nil {
		return nil, f.lockErr
	}
	return func() { f.call("unlock %s", name) }, nil
}

func (f *fakeCluster) DisarmAlarms(_ context.Context, id uint64) ([]string, error) {
	f.call("disarm %x", id)
	return nil, nil
}

func (f *fakeCluster) Close() error { f.call("close"); return nil }

const (
	selfPeer = "http://127.0.0.1:2380"
	idOld    = 0x8e9e05c52164694d
	idN2     = 0x91bc3c398fb3c146
	idN3     = 0xfd422379fda50e48
	idAdded  = 0xa1
	cid      = 0xc1
)

func voter(id uint64, name, ip string, healthy bool) plan.Member {
	return plan.Member{ID: id, Name: name, PeerURLs: []string{"http://" + ip + ":2380"},
		ClientURLs: []string{"http://" + ip + ":2379"}, Healthy: healthy}
}

// testService is a service for n1 on 127.0.0.1 whose cluster is f.
func testService(t *testing.T, f *fakeCluster, extraEnv ...string) *Service {
	t.Helper()
	dir := t.TempDir()
	env := append([]string{
		"ETCD_NAME=n1", "ETCD_DATA_DIR=" + filepath.Join(dir, "n1.etcd"),
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + selfPeer,
		"ETCD_INITIAL_CLUSTER=n1=" + selfPeer + ",n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380",
	}, extraEnv...)
	cfg, err := config.Load(config.Input{Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	s := New(cfg, log, notify.New(func(string) string { return "" }, log), nil)
	s.dial = func(context.Context, []string) (membership, error) {
		f.call("dial")
		if f.dialErr != nil {
			return nil, f.dialErr
		}
		return f, nil
	}
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestAct(t *testing.T) {
	old := voter(idOld, "n1", "127.0.0.1", false)
	n2, n3 := voter(idN2, "n2", "127.0.0.2", true), voter(idN3, "n3", "127.0.0.3", true)
	healthy := plan.Cluster{Reachable: true, Quorum: true, ClusterID: cid, Members: []plan.Member{old, n2, n3}}
	rejoin := plan.Plan{Action: plan.Rejoin, Remove: []uint64{idOld}, AsLearner: true}
	voterRejoin := plan.Plan{Action: plan.Rejoin, Remove: []uint64{idOld}}
	unhealthy := fmt.Errorf("add member: %w: etcdserver: unhealthy cluster", member.ErrClusterUnhealthy)
	rows := []struct {
		name     string
		fake     fakeCluster
		cluster  plan.Cluster
		plan     plan.Plan
		calls    []string
		cluster0 string // the initial cluster of the launch; "" for a look again
		learner  bool   // the launch starts a learner entry (promoted once in sync)
		again    string // substring of the look-again reason
		soon     bool
	}{
		{name: "rejoin: remove the stale entry, add a learner, start with the add's list",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}}, cluster: healthy, plan: rejoin,
			calls:    []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "add " + selfPeer + " learner=true", "close"},
			cluster0: "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380", learner: true},
		{name: "rejoin: the stale entry is already gone",
			fake: fakeCluster{members: []plan.Member{n2, n3}}, cluster: healthy, plan: rejoin,
			calls:    []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "add " + selfPeer + " learner=true", "close"},
			cluster0: "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380", learner: true},
		{name: "rejoin: the add's list lacks the new entry (lagging member): read a current list",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}, addListStale: true}, cluster: healthy, plan: rejoin,
			calls:    []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "add " + selfPeer + " learner=true", "members", "close"},
			cluster0: "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380", learner: true},
		{name: "rejoin: no list holds the new entry yet: look again, never start etcd",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}, addListStale: true, membersStale: true}, cluster: healthy, plan: rejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "add " + selfPeer + " learner=true", "members", "close"},
			again: "no current member list holds it yet"},
		{name: "rejoin: the cluster cannot be reached",
			fake: fakeCluster{dialErr: fmt.Errorf("dial: %w", member.ErrNoEndpoint)}, cluster: healthy, plan: rejoin,
			calls: []string{"dial"}, again: "connect to the cluster at http://127.0.0.2:2379,http://127.0.0.3:2379"},
		{name: "rejoin: the removal is refused for now",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}, removeErr: unhealthy}, cluster: healthy, plan: rejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "close"}, again: "remove stale member 8e9e05c52164694d", soon: true},
		{name: "rejoin: too many learners",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}, addErr: fmt.Errorf("add: %w", member.ErrTooManyLearners)}, cluster: healthy, plan: rejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "add " + selfPeer + " learner=true", "close"}, again: "waiting for its promotion"},
		{name: "rejoin: an entry with this peer URL appeared",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}, addErr: fmt.Errorf("add: %w", member.ErrPeerURLExists)}, cluster: healthy, plan: rejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "add " + selfPeer + " learner=true", "close"}, again: "peer URL appeared"},
		{name: "rejoin: unhealthy cluster names the voter that is down",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}, addErr: unhealthy},
			cluster: plan.Cluster{Reachable: true, Quorum: true, ClusterID: cid, Members: []plan.Member{old, n2, n3,
				voter(0x44, "n4", "127.0.0.4", false), voter(0x55, "n5", "127.0.0.5", true)}},
			plan:  rejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "add " + selfPeer + " learner=true", "close"},
			again: "not healthy: n4 (http://127.0.0.4:2380)", soon: true},
		{name: "rejoin as a voter: lock, re-check the quorum on a current list, add",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}}, cluster: healthy, plan: voterRejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "lock add-voter", "members", "add " + selfPeer + " learner=false",
				"unlock add-voter", "close"},
			cluster0: "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380"},
		{name: "rejoin as a voter: others added voters meanwhile, one more would cost quorum",
			fake: fakeCluster{members: []plan.Member{old, n2, n3, {ID: 0x66, PeerURLs: []string{"http://127.0.0.6:2380"}},
				{ID: 0x77, PeerURLs: []string{"http://127.0.0.7:2380"}}}}, cluster: healthy, plan: voterRejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "lock add-voter", "members", "unlock add-voter", "close"},
			again: "would leave 2 healthy of 5 voters (need 3)"},
		{name: "rejoin as a voter: the lock is held elsewhere",
			fake:    fakeCluster{members: []plan.Member{old, n2, n3}, lockErr: fmt.Errorf("lock add-voter: %w", member.ErrLockBusy)},
			cluster: healthy, plan: voterRejoin,
			calls: []string{"dial", "remove 8e9e05c52164694d", "disarm 8e9e05c52164694d", "lock add-voter", "close"}, again: "holds the lock"},
		{name: "join: reuse the unstarted entry with a current list",
			fake: fakeCluster{members: []plan.Member{n2, n3, {ID: 0x99, PeerURLs: []string{selfPeer}, IsLearner: true}}}, cluster: healthy,
			plan:     plan.Plan{Action: plan.Join, Existing: &plan.Member{ID: 0x99}},
			calls:    []string{"dial", "members", "close"},
			cluster0: "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380", learner: true},
		{name: "join: the entry vanished meanwhile",
			fake: fakeCluster{members: []plan.Member{n2, n3}}, cluster: healthy,
			plan:  plan.Plan{Action: plan.Join, Existing: &plan.Member{ID: 0x99}},
			calls: []string{"dial", "members", "close"}, again: "entry 99 to join is no longer listed"},
		{name: "restart at a new address: update the peer URLs first",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}}, cluster: healthy,
			plan:  plan.Plan{Action: plan.Restart, Existing: &old, UpdatePeerURLs: true},
			calls: []string{"dial", "update 8e9e05c52164694d " + selfPeer, "close"}},
		{name: "restart at a new address: the update is refused",
			fake: fakeCluster{members: []plan.Member{old, n2, n3}, updateErr: errors.New("etcdserver: request timed out")}, cluster: healthy,
			plan:  plan.Plan{Action: plan.Restart, Existing: &old, UpdatePeerURLs: true},
			calls: []string{"dial", "update 8e9e05c52164694d " + selfPeer, "close"}, again: "request timed out"},
		{name: "restart: no membership call at all",
			fake: fakeCluster{}, cluster: healthy, plan: plan.Plan{Action: plan.Restart, Existing: &old}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			f := r.fake
			f.nextID = idAdded
			s := testService(t, &f)
			obs := plan.Observation{Self: plan.Self{Name: "n1", PeerURLs: []string{selfPeer}}, Data: plan.LocalData{Kind: plan.DataNone},
				Cluster: r.cluster, Learner: r.plan.AsLearner}
			l, err := s.act(context.Background(), obs, r.plan)
			if !reflect.DeepEqual(f.calls, r.calls) {
				t.Errorf("calls =\n %q\nwant\n %q", f.calls, r.calls)
			}
			var again *errLookAgain
			switch {
			case r.again != "":
				if !errors.As(err, &again) || !strings.Contains(again.why, r.again) || again.soon != r.soon {
					t.Fatalf("err = %#v, want a look again (soon %t) saying %q", err, r.soon, r.again)
				}
			case err != nil:
				t.Fatalf("act: %v", err)
			case l.initialCluster != r.cluster0:
				t.Errorf("initial cluster = %q, want %q", l.initialCluster, r.cluster0)
			case l.learner != r.learner:
				t.Errorf("launch as a learner = %t, want %t", l.learner, r.learner)
			}
		})
	}
}

// TestPromoter: the learner is promoted over one connection, asked again
// while etcd says it is not in sync; any other refusal drops the connection
// (the endpoint that answered may be gone) and the next try dials again; a
// member that is a voter already counts as promoted.
func TestPromoter(t *testing.T) {
	notReady := fmt.Errorf("promote: %w", member.ErrLearnerNotReady)
	notLearner := fmt.Errorf("promote: %w", member.ErrMemberNotLearner)
	f := &fakeCluster{promoteErrs: []error{notReady, notReady, errors.New("etcdserver: request timed out"), nil, notLearner}}
	s := testService(t, f)
	p := s.newPromoter([]string{"http://127.0.0.2:2379"})
	var got []bool
	for range 5 {
		got = append(got, p.try(context.Background(), idAdded))
	}
	p.close()
	if want := []bool{false, false, false, true, true}; !reflect.DeepEqual(got, want) {
		t.Errorf("promoted = %v, want %v", got, want)
	}
	want := []string{"dial", "promote a1", "promote a1", "promote a1", "close", "dial", "promote a1", "promote a1", "close"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls =\n %q\nwant\n %q", f.calls, want)
	}
}

// TestAddIsRecordedBeforeEtcdStarts: the entry a rejoin added is in the state
// file before etcd runs, with what the state file held before.
func TestAddIsRecordedBeforeEtcdStarts(t *testing.T) {
	f := &fakeCluster{members: []plan.Member{voter(idN2, "n2", "127.0.0.2", true)}, nextID: idAdded}
	s := testService(t, f)
	obs := plan.Observation{Memory: plan.Memory{MemberID: idOld, ClusterID: cid},
		Cluster: plan.Cluster{Reachable: true, Quorum: true, ClusterID: cid, Members: f.members}}
	if _, err := s.act(context.Background(), obs, plan.Plan{Action: plan.Rejoin, AsLearner: true}); err != nil {
		t.Fatal(err)
	}
	got, err := datadir.LoadMemory(s.cfg.StateFile)
	want := plan.Memory{MemberID: idOld, ClusterID: cid, Added: &plan.Added{ID: idAdded, ClusterID: cid, PeerURLs: []string{selfPeer}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("state file = %+v (added %+v), %v; want %+v (added %+v)", got, got.Added, err, want, want.Added)
	}
}

func TestInitialClusterFromLiveMembers(t *testing.T) {
	members := []plan.Member{
		{ID: 0x2, Name: "n2", PeerURLs: []string{"http://127.0.0.2:2380"}, ClientURLs: []string{"http://127.0.0.2:2379"}},
		{ID: 0xa, PeerURLs: []string{"http://127.0.0.1:2380"}, IsLearner: true}, // this member, just added, no name yet
		{ID: 0xb, PeerURLs: []string{"http://127.0.0.4:2380", "http://10.0.0.4:2380"}, IsLearner: true},
		{ID: 0x3, Name: "n3", PeerURLs: []string{"http://127.0.0.3:2380"}},
	}
	got := InitialCluster(members, 0xa, "n1")
	want := "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,n3=http://127.0.0.3:2380," +
		"unstarted-b=http://10.0.0.4:2380,unstarted-b=http://127.0.0.4:2380"
	if got != want {
		t.Errorf("InitialCluster =\n %s\nwant\n %s", got, want)
	}
}

func TestSettingsDecideStateAndCluster(t *testing.T) {
	cfg, err := config.Load(config.Input{Environ: []string{
		"ETCD_NAME=n1", "ETCD_INITIAL_CLUSTER=n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380", "ETCD_INITIAL_CLUSTER_STATE=new",
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := settings(cfg, launch{state: "existing", initialCluster: "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,unstarted-b=http://x:2380"})
	if got["ETCD_INITIAL_CLUSTER_STATE"] != "existing" {
		t.Errorf("state = %q, want existing (decided by etcd-rejoin, not the environment)", got["ETCD_INITIAL_CLUSTER_STATE"])
	}
	if got["ETCD_INITIAL_CLUSTER"] != "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380,unstarted-b=http://x:2380" {
		t.Errorf("initial cluster not rebuilt: %q", got["ETCD_INITIAL_CLUSTER"])
	}
	if got["ETCD_NAME"] != "n1" || got["ETCD_DATA_DIR"] != "n1.etcd" {
		t.Errorf("name %q data dir %q", got["ETCD_NAME"], got["ETCD_DATA_DIR"])
	}
	kept := settings(cfg, launch{state: "new"})
	if kept["ETCD_INITIAL_CLUSTER"] != "n1=http://127.0.0.1:2380,n2=http://127.0.0.2:2380" || kept["ETCD_INITIAL_CLUSTER_STATE"] != "new" {
		t.Errorf("bootstrap settings = %v", kept)
	}
}

// Membership requests go to healthy voters other than this member: a
// learner refuses them.
func TestVoterEndpointsSkipSelfLearnersAndUnhealthy(t *testing.T) {
	learner := voter(4, "n4", "127.0.0.4", true)
	learner.IsLearner = true
	c := plan.Cluster{Members: []plan.Member{
		voter(1, "n1", "127.0.0.1", true), voter(2, "n2", "127.0.0.2", true), voter(3, "n3", "127.0.0.3", false), learner,
	}}
	got := voterEndpoints(c, []string{"http://127.0.0.1:2380/"})
	if want := []string{"http://127.0.0.2:2379"}; !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
}

func TestMembershipRefusalsLookAgain(t *testing.T) {
	for _, line := range []string{
		`{"level":"fatal","msg":"failed to start etcd","error":"couldn't find local name \"n1\" in the initial cluster configuration"}`,
		`... error validating peerURLs {ClusterID:abc Members:[...]}: member count is unequal`,
		`... cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs`,
	} {
		if refusal([]string{line}) == "" {
			t.Errorf("%q is not taken as a membership refusal", line)
		}
	}
	if refusal([]string{`listen tcp 127.0.0.1:2379: bind: address already in use`}) != "" {
		t.Errorf("a port in use is not a membership refusal")
	}
}

// Short retries while etcd refuses a change for a few seconds last at most
// soonWindow; then the backoff doubles up to its maximum.
func TestPacer(t *testing.T) {
	p := pacer{backoff: time.Second, max: 4 * time.Second}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var got []time.Duration
	for _, step := range []struct {
		soon bool
		at   time.Duration
	}{{true, 0}, {true, 5 * time.Second}, {true, 9 * time.Second}, {true, 10 * time.Second}, {true, 12 * time.Second},
		{true, 20 * time.Second}, {true, 30 * time.Second}, {false, 31 * time.Second}, {true, 40 * time.Second}} {
		got = append(got, p.next(step.soon, start.Add(step.at)))
	}
	want := []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, time.Second,
		2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 500 * time.Millisecond}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pauses = %v, want %v", got, want)
	}
}

// A starting member that makes progress (its applied index rises, or its
// data grows while a snapshot is received) gets more time from systemd and
// a STATUS= line saying how far it is; one that makes none gets neither.
func TestCatchingUp(t *testing.T) {
	s := testService(t, &fakeCluster{})
	sock := listenNotify(t)
	s.notify = notify.New(func(k string) string {
		if k == notify.EnvSocket {
			return sock.path
		}
		return ""
	}, s.log)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	var c catchUp
	look := func(after time.Duration, applied uint64) string {
		now = now.Add(after)
		return s.catchingUp(context.Background(), &c, member.Health{AppliedIndex: applied}, launch{})
	}
	if got := look(0, 10); got != "" {
		t.Errorf("first look = %q, want nothing (no progress known yet)", got)
	}
	if got := look(2*time.Second, 50); got != "" {
		t.Errorf("a look within %s = %q, want nothing", extendEvery, got)
	}
	if got := look(4*time.Second, 50); !strings.Contains(got, "catching up, applied index 50") {
		t.Errorf("after progress: %q", got)
	}
	if got := look(6*time.Second, 50); got != "" {
		t.Errorf("without progress: %q, want nothing", got)
	}
	if got := sock.read(t); got != "EXTEND_TIMEOUT_USEC=90000000" {
		t.Errorf("notify messages = %q, want one extension of 90 s", got)
	}
	// From the baseline taken at etcd's launch, the first look already
	// sees progress.
	c = s.startCatchUp()
	if got := look(extendEvery, 5); !strings.Contains(got, "catching up, applied index 5") {
		t.Errorf("first look after the launch baseline: %q", got)
	}
	if got := sock.read(t); got != "EXTEND_TIMEOUT_USEC=90000000" {
		t.Errorf("notify messages = %q, want one extension of 90 s", got)
	}
}

// notifySocket is a real unixgram socket standing in for systemd's.
type notifySocket struct {
	path string
	conn *net.UnixConn
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifySocket{path: path, conn: conn}
}

// read returns the messages received so far, joined by " | ".
func (s *notifySocket) read(t *testing.T) string {
	t.Helper()
	var msgs []string
	buf := make([]byte, 4096)
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _, err := s.conn.ReadFromUnix(buf)
		if err != nil {
			return strings.Join(msgs, " | ")
		}
		msgs = append(msgs, string(buf[:n]))
	}
}

// TestPublishTimeout: etcd's request timeout, 5 s and two election timeouts.
func TestPublishTimeout(t *testing.T) {
	if got := testService(t, &fakeCluster{}).publishTimeout(); got != 7*time.Second {
		t.Errorf("default = %s, want 7s", got)
	}
	if got := testService(t, &fakeCluster{}, "ETCD_ELECTION_TIMEOUT=2500").publishTimeout(); got != 10*time.Second {
		t.Errorf("election timeout 2500 ms: %s, want 10s", got)
	}
}
