package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as one indented JSON object.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write status as JSON: %w", err)
	}
	return nil
}

// WriteText writes the report as one screen of text.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	t := textWriter{b: &b, now: r.Time}
	t.member(r)
	t.cluster(r.Cluster)
	t.service(r.Service)
	t.files(r)
	t.list("problems", r.Problems)
	t.list("warnings", r.Warnings)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

type textWriter struct {
	b   *strings.Builder
	now time.Time
}

func (t textWriter) line(label, format string, args ...any) {
	fmt.Fprintf(t.b, "%-11s %s\n", label, fmt.Sprintf(format, args...))
}

func (t textWriter) member(r Report) {
	m := r.Member
	t.line("member", "%s %s, %s (%s)", m.Name, orDash(m.ID), m.Role, t.source(m))
	t.line("healthy", "%s", yesNo(r.Healthy))
	if m.Source == SourceLocal {
		t.line("raft", "term %d, index %d, applied %d", m.RaftTerm, m.RaftIndex, m.AppliedIndex)
		t.line("database", "%s, %s in use, quota %s (%s used)", Bytes(m.DBSize), Bytes(m.DBSizeInUse),
			Bytes(m.QuotaBytes), percent(m.DBSize, m.QuotaBytes))
	}
	t.line("leader", "%s", t.leader(m))
	t.line("alarms", "%s", alarms(r.Alarms))
}

func (t textWriter) source(m Member) string {
	switch m.Source {
	case SourceLocal:
		return fmt.Sprintf("answering at %s, etcd %s", m.Endpoint, m.Version)
	case SourcePeers:
		return fmt.Sprintf("not answering at %s; as its peers list it", m.Endpoint)
	default:
		return fmt.Sprintf("not answering at %s, nor any peer", m.Endpoint)
	}
}

func (t textWriter) leader(m Member) string {
	if m.Leader == "" {
		return "none"
	}
	s := m.Leader
	if m.LeaderName != "" {
		s = m.LeaderName + " " + m.Leader
	}
	if m.LeaderRaftIndex != 0 {
		s += fmt.Sprintf(", term %d, index %d", m.LeaderRaftTerm, m.LeaderRaftIndex)
	}
	return s
}

func alarms(as []Alarm) string {
	if len(as) == 0 {
		return "none"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%s on %s %s", a.Name, orDash(a.MemberName), a.MemberID)
	}
	return strings.Join(parts, "; ")
}

func (t textWriter) cluster(c Cluster) {
	if c.ID == "" {
		t.line("cluster", "unknown: no member answered")
		return
	}
	quorum := "quorum"
	if !c.Quorum {
		quorum = "NO QUORUM"
	}
	t.line("cluster", "%s, %s, %d members", c.ID, quorum, len(c.Members))
	tw := tabwriter.NewWriter(t.b, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tID\tNAME\tROLE\tHEALTH\tRAFT INDEX\tDB SIZE\tCLIENT URLS")
	for _, m := range c.Members {
		mark := ""
		if m.Self {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, m.ID, orDash(m.Name), m.Role, healthWord(m.Healthy),
			orDash(count(m.RaftIndex)), orDash(size(m.DBSize)), orDash(strings.Join(m.ClientURLs, ",")))
	}
	_ = tw.Flush()
}

func (t textWriter) service(r *Record) {
	if r == nil {
		t.line("service", "no record (not started yet, or another state-file)")
		return
	}
	t.line("service", "%s since %s (pid %d)%s", r.State, t.when(r.StateSince), r.PID, prefixed(": ", r.Detail))
	if d := r.Decision; d != nil {
		t.line("decision", "%s at %s: %s", d.Action, t.when(d.At), d.Reason)
	}
	if h := r.Heal; h != nil {
		t.line("last heal", "%s, ready after %s, at %s", h.Action, seconds(h.DurationSeconds), t.when(h.At))
	}
	if s := r.Snapshot; s != nil && !s.OK {
		t.line("last snap", "FAILED at %s: %s", t.when(s.At), s.Error)
	}
	if d := r.Defrag; d != nil {
		t.line("defrag", "%s", t.defrag(d))
	}
}

func (t textWriter) defrag(d *DefragRecord) string {
	s := fmt.Sprintf("%s at %s", d.Outcome, t.when(d.At))
	if d.AfterBytes > 0 {
		s += fmt.Sprintf(", %s -> %s in %s", Bytes(d.BeforeBytes), Bytes(d.AfterBytes), seconds(d.DurationSeconds))
	}
	return s + prefixed(": ", d.Detail)
}

func (t textWriter) files(r Report) {
	if s := r.Snapshot; s != nil {
		t.line("snapshot", "%s, %s, taken %s", s.Path, Bytes(s.SizeBytes), t.when(s.TakenAt))
	} else {
		t.line("snapshot", "none")
	}
	if len(r.MovedAside) == 0 {
		t.line("moved aside", "none")
		return
	}
	for i, c := range r.MovedAside {
		label := ""
		if i == 0 {
			label = "moved aside"
		}
		t.line(label, "%s (%s)", c.Path, c.Kind)
	}
}

func (t textWriter) list(title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(t.b, "%s:\n", title)
	for _, it := range items {
		fmt.Fprintf(t.b, "  - %s\n", it)
	}
}

// when is a time in UTC and how long before the report it was.
func (t textWriter) when(at time.Time) string {
	if at.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s ago)", at.UTC().Format(time.RFC3339), ago(t.now.Sub(at)))
}

// ago is a rough age: 45s, 12m, 5h3m, 17d.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Truncate(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// Bytes formats a size with a binary unit: 512 B, 24.6 MiB, 2.0 GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func percent(n, of int64) string {
	if of <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(10 * time.Millisecond).String()
}

func size(n int64) string {
	if n == 0 {
		return ""
	}
	return Bytes(n)
}

func count(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func healthWord(ok bool) string {
	if ok {
		return "healthy"
	}
	return "UNHEALTHY"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
