package publish

import (
	"bytes"
	"testing"
	"time"
)

// The lines are etcd's own (3.6 with zap, 3.4 with capnslog), trimmed.
const (
	zapApplied   = `{"level":"info","caller":"etcdserver/server.go:1021","msg":"applied snapshot","current-snapshot-index":7104,"current-applied-index":7104}`
	zapFailed    = `{"level":"warn","caller":"etcdserver/server.go:1844","msg":"failed to publish local member to cluster through raft","local-member-id":"649e873e3dfd474f","error":"etcdserver: too many requests"}`
	zapPublished = `{"level":"info","caller":"etcdserver/server.go:2069","msg":"published local member to cluster through raft","local-member-id":"3770f3f262fe29fc"}`
	capApplied   = `2026-11-24 09:36:21.635 I | etcdserver: finished applying incoming snapshot at index 7103`
	capAdded     = `2026-11-24 09:36:21.525 I | etcdserver/membership: added member 8e9e05c52164694d [http://127.0.0.1:2380] to cluster cdf818194e3a8c32`
	capPublished = `2026-11-24 09:36:21.641 I | etcdserver: published {Name:n3 ClientURLs:[http://127.0.202.3:2379]} to cluster 96a9f643845c57ee`
	// Promotions applied: etcd 3.6 names the member, 3.4 with zap does not,
	// capnslog does.
	zap36Promote = `{"level":"info","caller":"membership/cluster.go:550","msg":"promote member","cluster-id":"9df7214a338fa310","local-member-id":"89d874e811a24400","promoted-member-id":"89d874e811a24400"}`
	zap36Other   = `{"level":"info","caller":"membership/cluster.go:550","msg":"promote member","cluster-id":"9df7214a338fa310","local-member-id":"89d874e811a24400","promoted-member-id":"22b212f1acc42a97"}`
	zap34Promote = `{"level":"info","ts":"2026-11-24T18:29:09.696Z","caller":"membership/cluster.go:497","msg":"promote member","cluster-id":"7153997600a77874","local-member-id":"c400ba4aaa24540f"}`
	capPromote   = `2026-11-24 09:36:21.640 N | etcdserver/membership: promote member 89d874e811a24400 in cluster 96a9f643845c57ee`
	zapRejecting = `{"level":"error","caller":"etcdserver/server.go:1602","msg":"rejecting promote learner: learner is not ready","learner-ready-percent":0}`
	self         = "89d874e811a24400"
)

func TestStuck(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 36, 21, 0, time.UTC)
	grace := 500 * time.Millisecond
	// Most of the publish wait remains: only the lines decide.
	policy := Policy{Started: t0, Timeout: time.Hour, Grace: grace, Member: self}
	rows := []struct {
		name      string
		lines     []string
		published bool
		stuckAt   []time.Duration // after t0: Stuck at these moments...
		freeAt    []time.Duration // ...and not at these
	}{
		{name: "zap: snapshot applied, publish timed out and refused",
			lines: []string{zapApplied, zapFailed}, stuckAt: []time.Duration{grace, 7 * time.Second}, freeAt: []time.Duration{grace - time.Millisecond}},
		{name: "zap: published after the snapshot", lines: []string{zapApplied, zapPublished}, published: true,
			freeAt: []time.Duration{grace, time.Minute}},
		{name: "capnslog: snapshot applied, not published", lines: []string{capApplied, capAdded}, stuckAt: []time.Duration{time.Second}},
		{name: "capnslog: published", lines: []string{capApplied, capPublished}, published: true, freeAt: []time.Duration{time.Second}},
		{name: "no snapshot: catching up from the log", lines: []string{capAdded, zapFailed}, freeAt: []time.Duration{time.Minute}},
		{name: "published before a later snapshot", lines: []string{zapPublished, zapApplied}, published: true, freeAt: []time.Duration{time.Minute}},
		{name: "etcd 3.6: its own promotion applied after the snapshot, not published", lines: []string{zapApplied, zap36Promote}, stuckAt: []time.Duration{0}},
		{name: "etcd 3.6: another member's promotion after the snapshot", lines: []string{zapApplied, zap36Other}, stuckAt: []time.Duration{grace}, freeAt: []time.Duration{0}},
		{name: "etcd 3.4 zap: a promotion after the snapshot (no member named)", lines: []string{zapApplied, zap34Promote}, stuckAt: []time.Duration{0}},
		{name: "capnslog: its own promotion after the snapshot", lines: []string{capApplied, capPromote}, stuckAt: []time.Duration{0}},
		{name: "promotion then publish", lines: []string{zapApplied, zap36Promote, zapPublished}, published: true, freeAt: []time.Duration{0, time.Minute}},
		{name: "promotion before the snapshot", lines: []string{zap36Promote, zapApplied}, stuckAt: []time.Duration{grace}, freeAt: []time.Duration{0}},
		{name: "the leader rejecting a promotion is no promotion", lines: []string{zapApplied, zapRejecting}, freeAt: []time.Duration{0}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWatcher(&out, func() time.Time { return t0 })
			want := ""
			for _, l := range r.lines {
				if n, err := w.Write([]byte(l + "\n")); err != nil || n != len(l)+1 {
					t.Fatalf("Write = %d, %v", n, err)
				}
				want += l + "\n"
			}
			if out.String() != want {
				t.Errorf("passed on %q, want %q", out.String(), want)
			}
			if w.Published() != r.published {
				t.Errorf("Published = %t, want %t", w.Published(), r.published)
			}
			for _, d := range r.stuckAt {
				if !w.Stuck(t0.Add(d), policy) {
					t.Errorf("not stuck %s after the lines", d)
				}
			}
			for _, d := range r.freeAt {
				if w.Stuck(t0.Add(d), policy) {
					t.Errorf("stuck %s after the lines", d)
				}
			}
		})
	}
}

// TestStuckWorthRestart: a restart pays when more of etcd's publish wait remains
// than applying the snapshot took (what a restart costs again), or when the
// wait is over and etcd still has not published (its retry is refused).
func TestStuckWorthRestart(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 16, 6, 55, 0, time.UTC)
	const timeout = 7 * time.Second
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	rows := []struct {
		name              string
		applying, applied time.Duration // after the start; applying < 0: no line
		published         bool
		now               time.Duration
		want              bool
	}{
		{name: "small snapshot early: most of the 7 s remain", applying: 150 * time.Millisecond, applied: 160 * time.Millisecond, now: 450 * time.Millisecond, want: true},
		{name: "767 MB snapshot applied in 3.1 s, 0.4 s of the wait left", applying: 3200 * time.Millisecond, applied: 6300 * time.Millisecond, now: 6600 * time.Millisecond},
		{name: "large snapshot applied early: more wait left than it cost", applying: 500 * time.Millisecond, applied: 2 * time.Second, now: 2300 * time.Millisecond, want: true},
		{name: "no applying line: the margin alone", applying: -1, applied: 6 * time.Second, now: 6300 * time.Millisecond, want: true},
		{name: "no applying line, too late", applying: -1, applied: 6500 * time.Millisecond, now: 6700 * time.Millisecond},
		{name: "the wait is over, still not published: the retry is refused", applying: 6 * time.Second, applied: 6900 * time.Millisecond, now: 8100 * time.Millisecond, want: true},
		{name: "just after the wait: etcd is retrying", applying: 6 * time.Second, applied: 6900 * time.Millisecond, now: 7500 * time.Millisecond},
		{name: "published", applying: 0, applied: 100 * time.Millisecond, published: true, now: time.Second},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var now time.Time
			w := NewWatcher(nil, func() time.Time { return now })
			if r.applying >= 0 {
				now = at(r.applying)
				_, _ = w.Write([]byte(`{"msg":"applying snapshot","current-snapshot-index":0}` + "\n"))
			}
			now = at(r.applied)
			_, _ = w.Write([]byte(zapApplied + "\n"))
			if r.published {
				_, _ = w.Write([]byte(zapPublished + "\n"))
			}
			if got := w.Stuck(at(r.now), Policy{Started: t0, Timeout: timeout}); got != r.want {
				t.Errorf("Stuck at %s = %t, want %t", r.now, got, r.want)
			}
		})
	}
	if NewWatcher(nil, nil).Stuck(at(time.Second), Policy{Started: t0, Timeout: timeout}) {
		t.Error("worth a restart before any snapshot")
	}
}

// TestEvents: each applied snapshot or promotion after it is signalled,
// without blocking the output when nobody takes the signal.
func TestEvents(t *testing.T) {
	w := NewWatcher(nil, nil)
	if signalled(w) {
		t.Fatal("signalled before any snapshot")
	}
	for range 3 { // a second and third signal are dropped, never blocking
		if _, err := w.Write([]byte(capApplied + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if !signalled(w) {
		t.Fatal("not signalled after the snapshot")
	}
	if signalled(w) {
		t.Fatal("signalled twice")
	}
	_, _ = w.Write([]byte(zapApplied + "\n"))
	if !signalled(w) {
		t.Fatal("a later snapshot is not signalled")
	}
	_, _ = w.Write([]byte(zap36Promote + "\n"))
	if !signalled(w) {
		t.Fatal("a promotion after the snapshot is not signalled")
	}
	for _, line := range []string{zapFailed, zapPublished, zapPublished} {
		_, _ = w.Write([]byte(line + "\n"))
	}
	if !signalled(w) {
		t.Fatal("the publish is not signalled")
	}
	if signalled(w) {
		t.Fatal("signalled again after the publish")
	}
}

// TestEventsPublishedAlone: a restart publishes without any snapshot, in
// either log format, and that alone signals; a failed publish does not.
func TestEventsPublishedAlone(t *testing.T) {
	for _, line := range []string{zapPublished, capPublished} {
		w := NewWatcher(nil, nil)
		_, _ = w.Write([]byte(zapFailed + "\n"))
		if signalled(w) {
			t.Fatal("a failed publish is signalled")
		}
		_, _ = w.Write([]byte(line + "\n"))
		if !signalled(w) {
			t.Fatalf("publish %q is not signalled", line)
		}
		if !w.Published() {
			t.Errorf("Published false after %q", line)
		}
	}
}

// signalled takes a pending signal from w's Events, if there is one.
func signalled(w *Watcher) bool {
	select {
	case <-w.Events():
		return true
	default:
		return false
	}
}
