// Package publish watches a starting etcd's output for two moments: it
// applied the leader's snapshot, and it published itself to the cluster
// (etcd serves clients only after that).
//
// A member joining a cluster whose log was compacted gets the leader's
// snapshot. etcd proposes its publish request as soon as it knows the
// leader; when the leader applies that request before it cuts the snapshot,
// the request arrives inside the snapshot and etcd never sees it applied:
// it waits its request timeout (7 s with the default election timeout), and
// etcd 3.6 then refuses the retry ("too many requests") until the member
// applies another entry (3.6 does not count the snapshot as applied; 3.5
// publishes through its v2 request path, which has no such check, and
// succeeds on the retry). The cluster lists the member as published
// meanwhile. Stuck tells the service when it looks like that, so that it
// can restart etcd on the data it just received, which publishes at once.
//
// It looks like that a grace period after the snapshot is applied, or at
// once when etcd applies the member's own promotion after the snapshot:
// the promotion is accepted only once the leader has seen the learner take
// the snapshot, so it was proposed well after the publish request, which
// etcd sends as soon as it knows the leader. An entry after it applied and
// the publish still not seen: the publish request is inside the snapshot.
package publish

import (
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Lines that mark the two moments, as etcd 3.4 to 3.6 log them with the zap
// logger and as etcd 3.4's capnslog logger does.
var (
	snapshotApplying = []string{`"msg":"applying snapshot"`, "applying snapshot at index"}
	snapshotApplied  = []string{`"msg":"applied snapshot"`, "finished applying incoming snapshot at index"}
	published        = []string{"published local member to cluster through raft", "published {Name:"}
	// promoteApplied: etcd applied a promotion to its own store (etcd 3.6
	// logs the member, 3.4 and 3.5 with zap do not, capnslog does).
	promoteApplied = []string{`"msg":"promote member"`, "membership: promote member "}
	promotedID     = regexp.MustCompile(`"promoted-member-id":"([0-9a-f]+)"|promote member ([0-9a-f]+) in`)
)

// Watcher passes etcd's output through to out and notes the moments.
type Watcher struct {
	out io.Writer
	now func() time.Time

	// events gets a value each time etcd applied a snapshot or a promotion
	// after it, and when it published itself (dropped when one is still
	// waiting).
	events chan struct{}

	mu         sync.Mutex
	applyingAt time.Time
	appliedAt  time.Time
	published  bool
	// promoted are the members whose promotion etcd applied after the
	// last snapshot ("": the line does not say).
	promoted []string
}

// NewWatcher returns a Watcher writing to out (nil: nowhere); now stamps the
// lines (nil: time.Now).
func NewWatcher(out io.Writer, now func() time.Time) *Watcher {
	if out == nil {
		out = io.Discard
	}
	if now == nil {
		now = time.Now
	}
	return &Watcher{out: out, now: now, events: make(chan struct{}, 1)}
}

// Events signals each time etcd said it applied a snapshot (from then on it
// has Grace to publish itself before it counts as stuck) or a promotion
// after it: Stuck may have become true. It also signals once when etcd said
// it published itself: it serves clients from then on, so a check of the
// member need not wait for the next poll.
func (w *Watcher) Events() <-chan struct{} { return w.events }

func (w *Watcher) signal() {
	select {
	case w.events <- struct{}{}:
	default:
	}
}

// Write takes one line of etcd's output (supervise writes a line per call).
func (w *Watcher) Write(p []byte) (int, error) {
	line := string(p)
	w.mu.Lock()
	switch {
	case w.published:
	case containsAny(line, published) && !strings.Contains(line, "failed to publish"):
		w.published = true
		w.signal()
	case containsAny(line, snapshotApplied):
		w.appliedAt = w.now()
		w.promoted = nil
		w.signal()
	case containsAny(line, promoteApplied) && !w.appliedAt.IsZero():
		id := ""
		if m := promotedID.FindStringSubmatch(line); m != nil {
			id = m[1] + m[2]
		}
		w.promoted = append(w.promoted, id)
		w.signal()
	case containsAny(line, snapshotApplying):
		w.applyingAt = w.now()
	}
	w.mu.Unlock()
	return w.out.Write(p)
}

// Published reports whether etcd said it published itself.
func (w *Watcher) Published() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.published
}

// Policy is when a joining etcd that has not published itself after
// applying a snapshot is restarted.
type Policy struct {
	// Started is when etcd started, Timeout how long it waits for its
	// publish request before it tries again (its request timeout).
	Started time.Time
	Timeout time.Duration
	// Grace is how long after applying the snapshot etcd may take to
	// publish itself (a request that came after the snapshot is applied
	// within milliseconds).
	Grace time.Duration
	// Member is the joining member's ID in hex, as etcd logs it: its
	// promotion applied after the snapshot ends the grace at once.
	Member string
}

// Restarting costs about what applying the snapshot took (etcd opens the
// same backend and rebuilds the same index at its start) plus restartMargin;
// once the publish request timed out, etcd retries, and only when it still
// has not published retryGrace later is its retry being refused.
const (
	restartMargin = 500 * time.Millisecond
	retryGrace    = time.Second
)

// Stuck reports whether etcd applied a snapshot at least p.Grace before
// now (or applied p.Member's promotion after it), has not published itself
// since, and restarting it saves time: more of its publish wait remains
// than a restart costs, or the wait is over and etcd still has not
// published.
func (w *Watcher) Stuck(now time.Time, p Policy) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.published || w.appliedAt.IsZero() {
		return false
	}
	if now.Sub(w.appliedAt) < p.Grace && !w.promotedAfter(p.Member) {
		return false
	}
	cost := restartMargin
	if !w.applyingAt.IsZero() && w.appliedAt.After(w.applyingAt) {
		cost += w.appliedAt.Sub(w.applyingAt)
	}
	remaining := p.Started.Add(p.Timeout).Sub(now)
	return remaining > cost || remaining < -retryGrace
}

// promotedAfter reports whether etcd applied member's promotion (or one
// whose line names no member) after the last snapshot.
func (w *Watcher) promotedAfter(member string) bool {
	for _, id := range w.promoted {
		if id == "" || id == member {
			return true
		}
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
