package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// Loopback nets of the operations tests (issue 10): three /24s each.
const (
	netStatus  = 186
	netNoSpace = 189
	netEtcdctl = 192
	netMetrics = 195
)

// command runs `etcd-rejoin args...` with host i's environment and returns
// its exit code, stdout and stderr.
func (l *lab) command(i int, args ...string) (int, string, string) {
	l.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = l.env(i)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		l.t.Fatalf("run etcd-rejoin %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// statusJSON is the part of `status --json` the tests check.
type statusJSON struct {
	Schema   int      `json:"schema"`
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems"`
	Member   struct {
		ID, Name, Source, Role, Leader string
		DBSize                         int64 `json:"db_size_bytes"`
		Quota                          int64 `json:"quota_bytes"`
	} `json:"member"`
	Cluster struct {
		Members []struct {
			ID, Name, Role string
			Healthy, Self  bool
		} `json:"members"`
	} `json:"cluster"`
	Alarms []struct {
		Name     string `json:"name"`
		MemberID string `json:"member_id"`
	} `json:"alarms"`
	Service *struct {
		State    string `json:"state"`
		Decision struct {
			Action string `json:"action"`
		} `json:"last_decision"`
		Heal struct {
			Action   string  `json:"action"`
			Duration float64 `json:"duration_seconds"`
		} `json:"last_heal"`
	} `json:"service"`
}

func (l *lab) status(i int) (statusJSON, int) {
	l.t.Helper()
	code, out, stderr := l.command(i, "status", "--json")
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		l.t.Fatalf("status --json of %s printed no JSON (%v): %s\nstderr: %s", l.nodes[i].Name, err, out, stderr)
	}
	return s, code
}

// leaderID asks member i through etcd's own client who leads.
func (l *lab) leaderID(i int) uint64 {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := l.cli(i).Status(ctx, l.nodes[i].ClientURL)
	if err != nil {
		l.t.Fatalf("status of %s: %v", l.nodes[i].Name, err)
	}
	return st.Leader
}

func hex16(id uint64) string { return fmt.Sprintf("%016x", id) }

func TestStatusCommand(t *testing.T) {
	forEachVersion(t, netStatus, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		l.startAll()
		ms := l.members()
		leader := l.leaderID(0)

		s, code := l.status(0)
		wantRole := "follower"
		if leader == l.memberID(0, ms) {
			wantRole = "leader"
		}
		if code != 0 || !s.Healthy || len(s.Problems) != 0 || s.Schema != 1 {
			t.Errorf("status of a healthy n1: exit %d, healthy %t, problems %q; want exit 0", code, s.Healthy, s.Problems)
		}
		if s.Member.ID != hex16(l.memberID(0, ms)) || s.Member.Name != "n1" || s.Member.Source != "local" ||
			s.Member.Role != wantRole || s.Member.Leader != hex16(leader) {
			t.Errorf("member = %+v; want n1 %s, local, %s, leader %s", s.Member, hex16(l.memberID(0, ms)), wantRole, hex16(leader))
		}
		if len(s.Cluster.Members) != 3 {
			t.Fatalf("cluster members %+v, want 3", s.Cluster.Members)
		}
		for _, m := range s.Cluster.Members {
			i := int(m.Name[1] - '1')
			if m.ID != hex16(l.memberID(i, ms)) || !m.Healthy || m.Self != (i == 0) {
				t.Errorf("cluster member %+v; want ID %s, healthy", m, hex16(l.memberID(i, ms)))
			}
		}
		code, text, _ := l.command(0, "status")
		if code != 0 || !strings.Contains(text, "n1 "+hex16(l.memberID(0, ms))+", "+wantRole) || !strings.Contains(text, "healthy     yes") {
			t.Errorf("status text (exit %d):\n%s", code, text)
		}

		l.hosts[2].stop(20 * time.Second)
		s, code = l.status(2)
		if code != 1 || s.Healthy || s.Member.ID != hex16(l.memberID(2, ms)) || s.Member.Source != "peers" || len(s.Problems) == 0 {
			t.Errorf("status of a stopped n3: exit %d, %+v; want exit 1, its ID from the peers", code, s)
		}
	})
}

func TestStatusNoSpace(t *testing.T) {
	forEachVersion(t, netNoSpace, func(t *testing.T, v testetcd.Version, prefix string) {
		const quota = 4 << 20
		l := newLab(t, v, prefix, 1)
		l.extra = append(l.extra, fmt.Sprintf("ETCD_QUOTA_BACKEND_BYTES=%d", quota))
		l.startAll()
		id := hex16(l.memberID(0, l.members()))
		fillUntilNoSpace(t, l)

		s, code := l.status(0)
		if code != 1 || s.Healthy || len(s.Alarms) != 1 || s.Alarms[0].Name != "NOSPACE" || s.Alarms[0].MemberID != id {
			t.Errorf("status under NOSPACE: exit %d, healthy %t, alarms %+v; want exit 1 and NOSPACE on %s", code, s.Healthy, s.Alarms, id)
		}
		if s.Member.Quota != quota || s.Member.DBSize < quota*3/4 {
			t.Errorf("db %d, quota %d; want the quota %d and a db near it", s.Member.DBSize, s.Member.Quota, quota)
		}
		code, text, _ := l.command(0, "status")
		for _, want := range []string{"alarms      NOSPACE on n1 " + id, "quota 4.0 MiB", "alarm NOSPACE on n1"} {
			if !strings.Contains(text, want) {
				t.Errorf("status text lacks %q (exit %d):\n%s", want, code, text)
			}
		}
		t.Logf("status under NOSPACE:\n%s", text)
	})
}

// fillUntilNoSpace writes 256 KiB values until etcd refuses with NOSPACE.
func fillUntilNoSpace(t *testing.T, l *lab) {
	t.Helper()
	c := l.cli()
	value := strings.Repeat("n", 256<<10)
	for i := range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Put(ctx, fmt.Sprintf("/fill/%04d", i), value)
		cancel()
		if err != nil && strings.Contains(err.Error(), "database space exceeded") {
			return
		}
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	t.Fatal("no NOSPACE after 100 puts of 256 KiB")
}

// TestEtcdctlCommand: under TLS with client certificates, `etcd-rejoin
// etcdctl` reaches the cluster with nothing retyped.
func TestEtcdctlCommand(t *testing.T) {
	forEachVersion(t, netEtcdctl, func(t *testing.T, v testetcd.Version, prefix string) {
		testetcd.Etcdctl(t)
		l := newLab(t, v, prefix, 3)
		l.withTLS()
		l.startAll()
		ms := l.members()
		code, out, stderr := l.command(0, "etcdctl", "member", "list", "-w", "json")
		var list struct {
			Members []struct {
				ID   uint64 `json:"ID"`
				Name string `json:"name"`
			} `json:"members"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
			t.Fatalf("etcdctl member list: exit %d\n%s\n%s", code, out, stderr)
		}
		got := map[string]uint64{}
		for _, m := range list.Members {
			got[m.Name] = m.ID
		}
		for i, n := range l.nodes {
			if got[n.Name] != l.memberID(i, ms) {
				t.Errorf("etcdctl lists %s as %x, want %x", n.Name, got[n.Name], l.memberID(i, ms))
			}
		}
		code, out, stderr = l.command(1, "etcdctl", "put", "/via-etcdctl", "yes")
		if code != 0 || strings.TrimSpace(out) != "OK" {
			t.Errorf("etcdctl put: exit %d, %q %q", code, out, stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := l.cli(2).Get(ctx, "/via-etcdctl")
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "yes" {
			t.Errorf("the key etcdctl put, read through n3: %v, %v; want yes", resp, err)
		}
		code, _, _ = l.command(0, "etcdctl", "get", "--no-such-flag")
		if code == 0 {
			t.Error("etcdctl with a bad flag exited 0: its exit status must be passed on")
		}
	})
}

// TestMetricsEndToEnd needs the service to serve metrics and write the
// status record (the wiring in internal/service).
func TestMetricsEndToEnd(t *testing.T) {
	forEachVersion(t, netMetrics, func(t *testing.T, v testetcd.Version, prefix string) {
		l := newLab(t, v, prefix, 3)
		addr := func(i int) string { return l.nodes[i].IP + ":9101" }
		for i := range l.nodes {
			l.start(i, "ETCD_REJOIN_METRICS_ADDRESS="+addr(i))
		}
		for _, h := range l.hosts {
			h.waitReady(t)
		}
		f := awaitMetric(t, addr(0), "etcd_rejoin_health_checks_total", []string{"result", "healthy"}, 1)
		// Hosts started together decide bootstrap, or wait first: every
		// decision the log shows is counted, and one start became ready.
		checkDecisions(t, f, l.hosts[0])
		if n := histogramCount(f, "etcd_rejoin_heal_duration_seconds"); n != 1 {
			t.Errorf("heals counted on n1: %d, want 1", n)
		}
		for _, c := range []metricWant{
			{"etcd_rejoin_decisions_total", []string{"action", "rejoin"}, 0},
			{"etcd_rejoin_ready", nil, 1},
			{"etcd_rejoin_build_info", []string{"version", "dev", "commit", "unknown"}, 1},
		} {
			c.check(t, f)
		}

		l.wipe(2)
		l.start(2, "ETCD_REJOIN_METRICS_ADDRESS="+addr(2))
		l.hosts[2].waitReady(t)
		f = scrapeMetrics(t, addr(2))
		// etcd refuses membership changes for a few seconds after a member
		// went away: the service decides again, each decision logged.
		if decisionsLogged(l.hosts[2], "rejoin") < 1 {
			t.Fatalf("no rejoin decision in n3's log:\n%s", l.hosts[2].tail(40))
		}
		checkDecisions(t, f, l.hosts[2])
		for _, c := range []metricWant{
			{"etcd_rejoin_rejoins_total", nil, 1},
			{"etcd_rejoin_heal_duration_seconds", []string{"action", "rejoin"}, 1},
			{"etcd_rejoin_membership_calls_total", []string{"call", "remove", "result", "ok"}, 1},
			{"etcd_rejoin_membership_calls_total", []string{"call", "add", "result", "ok"}, 1},
			{"etcd_rejoin_ready", nil, 1},
		} {
			c.check(t, f)
		}
		s, code := l.status(2)
		if code != 0 || s.Service == nil || s.Service.State != "running" || s.Service.Decision.Action != "rejoin" ||
			s.Service.Heal.Action != "rejoin" || s.Service.Heal.Duration <= 0 {
			t.Errorf("status of the rejoined n3: exit %d, service %+v; want running after a rejoin with its heal time", code, s.Service)
		}
	})
}

// decisionsLogged counts the decisions of action in the host's log.
func decisionsLogged(h *host, action string) int {
	n := 0
	for _, line := range strings.Split(h.out.String(), "\n") {
		if strings.Contains(line, "msg=decision ") && strings.Contains(line, " action="+action+" ") {
			n++
		}
	}
	return n
}

// checkDecisions: decisions_total of every action is what the log shows.
func checkDecisions(t *testing.T, f map[string]*dto.MetricFamily, h *host) {
	t.Helper()
	for _, a := range []string{"bootstrap", "restart", "join", "rejoin", "wait"} {
		metricWant{"etcd_rejoin_decisions_total", []string{"action", a}, float64(decisionsLogged(h, a))}.check(t, f)
	}
}

// histogramCount sums the observations of every series of a histogram.
func histogramCount(f map[string]*dto.MetricFamily, name string) uint64 {
	var n uint64
	for _, m := range f[name].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

type metricWant struct {
	name   string
	labels []string
	value  float64
}

func (w metricWant) check(t *testing.T, f map[string]*dto.MetricFamily) {
	t.Helper()
	if got, ok := metricValue(f, w.name, w.labels); !ok || got != w.value {
		t.Errorf("%s%v = %v (found %t), want %v", w.name, w.labels, got, ok, w.value)
	}
}

func scrapeMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	f, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the scrape of %s: %v", addr, err)
	}
	return f
}

// awaitMetric scrapes until the series reaches at least min (the first
// health check comes a health-interval after READY).
func awaitMetric(t *testing.T, addr, name string, labels []string, min float64) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f := scrapeMetrics(t, addr)
		if v, ok := metricValue(f, name, labels); ok && v >= min {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v did not reach %v within 30 s", name, labels, min)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func metricValue(f map[string]*dto.MetricFamily, name string, labels []string) (float64, bool) {
	for _, m := range f[name].GetMetric() {
		if !labelsMatch(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func labelsMatch(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
