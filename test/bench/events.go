package bench

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// Milestones of a heal, as offsets from its start. etcd-rejoin's come from
// its own log lines and NOTIFY_SOCKET messages, the manual procedure's from
// the moments its commands returned; both read etcd's own log lines for the
// snapshot and the catch-up, and the bench's poll for "serving".
const (
	markListed       = "member list"       // manual: the stale entry's ID is known
	markDecision     = "decision"          // etcd-rejoin: "decision" logged
	markRemoved      = "removed"           // stale entry removed
	markAdded        = "added"             // new entry added (learner or voter)
	markEtcdStarted  = "etcd started"      // etcd launched
	markSnapshot     = "snapshot received" // etcd: "received and saved database snapshot"
	markPublished    = "caught up"         // etcd: "published local member to cluster through raft"
	markPromoted     = "promoted"          // etcd-rejoin: learner promoted to voter
	markServing      = "serving"           // bench poll: a started voter serving a linearizable read
	markReady        = "READY"             // etcd-rejoin: READY=1 on NOTIFY_SOCKET
	markWaiting      = "waiting"           // etcd-rejoin looked again after a refusal (counted, not a milestone)
	markPublishLost  = "publish lost"      // etcd: its first publish timed out and was retried (counted)
	markRestarted    = "restarted"         // etcd-rejoin restarted etcd waiting for a publish its snapshot held (counted)
	notifyLinePrefix = "notify: "
)

// milestoneOrder is the order milestones are reported in.
var milestoneOrder = []string{
	markListed, markDecision, markRemoved, markAdded, markEtcdStarted,
	markSnapshot, markPublished, markPromoted, markServing, markReady,
}

// lineRules map a line to a milestone by a fragment that only that line
// carries. etcd-rejoin logs logfmt (slog's text handler); etcd logs JSON
// (zap), relayed through etcd-rejoin's output or read from its own.
var lineRules = []struct{ mark, fragment string }{
	{markDecision, "msg=decision "},
	{markRemoved, `msg="rejoining: removed stale member `},
	{markAdded, `msg="rejoining: added as `},
	{markEtcdStarted, `msg="etcd started"`},
	{markPromoted, `msg="rejoining: promoted `},
	{markWaiting, `msg="waiting: `},
	{markSnapshot, `"msg":"received and saved database snapshot"`},
	{markPublished, `"msg":"published local member to cluster through raft"`},
	{markPublishLost, `"msg":"failed to publish local member to cluster through raft"`},
	{markRestarted, `restarting etcd on that data"`},
}

// classify names the milestone a line of output marks, or "".
func classify(line string) string {
	if msg, ok := strings.CutPrefix(line, notifyLinePrefix); ok {
		for _, f := range strings.Fields(msg) {
			if f == "READY=1" {
				return markReady
			}
		}
		return ""
	}
	for _, r := range lineRules {
		if strings.Contains(line, r.fragment) {
			return r.mark
		}
	}
	return ""
}

var actionRE = regexp.MustCompile(`(?:^| )action=([a-z]+)`)

// decisionAction returns the action a "decision" line names, or "".
func decisionAction(line string) string {
	if classify(line) != markDecision {
		return ""
	}
	if m := actionRE.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// stamped is one line of output and when the bench read it.
type stamped struct {
	at   time.Time
	text string
}

// timeline holds each milestone's first occurrence as an offset from the
// start, how often etcd-rejoin had to look again, how often etcd's publish
// request timed out, and how often etcd-rejoin restarted etcd for it.
type timeline struct {
	marks       map[string]time.Duration
	waiting     int
	publishLost int
	restarted   int
}

// newTimeline reads the lines stamped at or after start.
func newTimeline(start time.Time, lines []stamped) timeline {
	tl := timeline{marks: map[string]time.Duration{}}
	for _, l := range lines {
		if l.at.Before(start) {
			continue
		}
		m := classify(l.text)
		switch {
		case m == "":
		case m == markWaiting:
			tl.waiting++
		case m == markPublishLost:
			tl.publishLost++
		case m == markRestarted:
			tl.restarted++
		default:
			tl.set(m, l.at.Sub(start))
		}
	}
	return tl
}

// set records a milestone unless it was already reached.
func (tl *timeline) set(mark string, d time.Duration) {
	if _, done := tl.marks[mark]; !done {
		tl.marks[mark] = d
	}
}

var pidRE = regexp.MustCompile(`(?:^| )pid=([0-9]+)`)

// launchedPid returns the pid an "etcd started" line names, or 0.
func launchedPid(line string) int {
	if classify(line) != markEtcdStarted {
		return 0
	}
	m := pidRE.FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	pid := 0
	for _, c := range m[1] {
		pid = pid*10 + int(c-'0')
	}
	return pid
}

// planAction returns the action of `plan --json` output, or "".
func planAction(out string) string {
	var p struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return ""
	}
	return p.Action
}
