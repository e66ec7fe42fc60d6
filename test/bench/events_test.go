package bench

import (
	"testing"
	"time"
)

// Lines as the processes print them (etcd-rejoin's slog text, etcd 3.4's
// and 3.6's zap JSON) and as the notify socket turns datagrams into lines.
const (
	lineStarting  = `time=2026-11-24T09:16:25.362Z level=INFO msg="etcd-rejoin starting" version=5a955cb member=n3 notify=true`
	lineDecision  = `time=2026-11-24T09:18:32.403Z level=INFO msg=decision action=rejoin reason="no local data; the healthy cluster still lists stale entry e7544594d2c3de03: remove it and add this member again as a learner" data=none reachable=true quorum=true`
	lineRemoved   = `time=2026-11-24T09:16:25.561Z level=INFO msg="rejoining: removed stale member e7544594d2c3de03" member=e7544594d2c3de03`
	lineAdded     = `time=2026-11-24T09:16:25.578Z level=INFO msg="rejoining: added as learner 5f6ad020d8096446; starting etcd" member=5f6ad020d8096446`
	lineStarted   = `time=2026-11-24T09:18:32.441Z level=INFO msg="etcd started" pid=4689 state=existing action=rejoin`
	linePromoted  = `time=2026-11-24T09:16:33.451Z level=INFO msg="rejoining: promoted 5f6ad020d8096446 to voter"`
	lineWaiting   = `time=2026-11-24T09:03:41.519Z level=INFO msg="waiting: etcd refuses to add a member until every voter has been connected to the leader for a while" retry_in=500ms`
	lineSnap34    = `{"level":"info","ts":"2026-11-24T09:18:32.628Z","caller":"rafthttp/http.go:305","msg":"received and saved database snapshot","local-member-id":"d57d78c761267fac","incoming-snapshot-index":7104}`
	lineSnap36    = `{"level":"info","ts":"2026-11-24T09:06:25.042532Z","caller":"rafthttp/http.go:296","msg":"received and saved database snapshot","local-member-id":"abab08c397a36129","incoming-snapshot-index":2063}`
	linePublished = `{"level":"info","ts":"2026-11-24T09:18:15.880Z","caller":"etcdserver/server.go:2069","msg":"published local member to cluster through raft","local-member-id":"e7544594d2c3de03","publish-timeout":"7s"}`
	linePubLost   = `{"level":"warn","ts":"2026-11-24T09:16:33.407Z","caller":"etcdserver/server.go:2098","msg":"failed to publish local member to cluster through raft","local-member-id":"5f6ad020d8096446"}`
	lineRestarted = `time=2026-11-24T16:18:26.272Z level=INFO msg="rejoining: member 89d874e811a24400 is in the cluster and has the leader's snapshot, but etcd waits for its publish request that the snapshot already holds; restarting etcd on that data"`
	lineStatusRs  = `notify: STATUS=rejoining: member 89d874e811a24400 is in the cluster and has the leader's snapshot, but etcd waits for its publish request that the snapshot already holds; restarting etcd on that data`
	lineReady     = `notify: READY=1 STATUS=running: member 5f6ad020d8096446 of cluster a6f067ae8fd77bf, voting and caught up (rejoin, ready in 7.84s)`
	lineStatusRm  = `notify: STATUS=rejoining: removed stale member e7544594d2c3de03`
	lineWatchdog  = `notify: WATCHDOG=1`
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"start is no milestone", lineStarting, ""},
		{"decision", lineDecision, markDecision},
		{"removed", lineRemoved, markRemoved},
		{"added as learner", lineAdded, markAdded},
		{"etcd started", lineStarted, markEtcdStarted},
		{"promoted", linePromoted, markPromoted},
		{"waiting", lineWaiting, markWaiting},
		{"snapshot, etcd 3.4", lineSnap34, markSnapshot},
		{"snapshot, etcd 3.6", lineSnap36, markSnapshot},
		{"published", linePublished, markPublished},
		{"publish lost", linePubLost, markPublishLost},
		{"etcd restarted for a publish its snapshot held", lineRestarted, markRestarted},
		{"the same as STATUS= is not counted twice", lineStatusRs, ""},
		{"READY=1 on the socket", lineReady, markReady},
		{"STATUS= on the socket is not the log line", lineStatusRm, ""},
		{"watchdog", lineWatchdog, ""},
		{"READY in a log line is not READY=1", `time=x level=INFO msg="READY=1"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.line); got != tt.want {
				t.Errorf("classify(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestDecisionAction(t *testing.T) {
	if got := decisionAction(lineDecision); got != "rejoin" {
		t.Errorf("decisionAction = %q, want rejoin", got)
	}
	if got := decisionAction(lineStarted); got != "" {
		t.Errorf("decisionAction of a non-decision line = %q, want empty", got)
	}
}

func TestLaunchedPid(t *testing.T) {
	if got := launchedPid(lineStarted); got != 4689 {
		t.Errorf("launchedPid = %d, want 4689", got)
	}
	if got := launchedPid(lineDecision); got != 0 {
		t.Errorf("launchedPid of a decision line = %d, want 0", got)
	}
}

func TestPlanAction(t *testing.T) {
	if got := planAction(`{"action": "restart", "reason": "x"}`); got != "restart" {
		t.Errorf("planAction = %q, want restart", got)
	}
	if got := planAction("not json"); got != "" {
		t.Errorf("planAction of garbage = %q, want empty", got)
	}
}

func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	lines := []stamped{
		{at(-500), lineDecision}, // an earlier process's: ignored
		{at(30), lineDecision},
		{at(40), lineWaiting},
		{at(600), lineDecision}, // the second look: the first one counts
		{at(620), lineRemoved},
		{at(640), lineAdded},
		{at(700), lineStarted},
		{at(900), lineSnap34},
		{at(7900), linePubLost},
		{at(7950), linePublished},
		{at(8100), linePromoted},
		{at(8200), lineReady},
		{at(9000), lineWatchdog},
	}
	tl := newTimeline(t0, lines)
	want := map[string]time.Duration{
		markDecision: 30 * time.Millisecond, markRemoved: 620 * time.Millisecond, markAdded: 640 * time.Millisecond,
		markEtcdStarted: 700 * time.Millisecond, markSnapshot: 900 * time.Millisecond, markPublished: 7950 * time.Millisecond,
		markPromoted: 8100 * time.Millisecond, markReady: 8200 * time.Millisecond,
	}
	if len(tl.marks) != len(want) {
		t.Errorf("marks = %v, want %v", tl.marks, want)
	}
	for m, d := range want {
		if tl.marks[m] != d {
			t.Errorf("%s at %v, want %v", m, tl.marks[m], d)
		}
	}
	if tl.waiting != 1 || tl.publishLost != 1 {
		t.Errorf("waiting %d, publish lost %d; want 1 and 1", tl.waiting, tl.publishLost)
	}
}
