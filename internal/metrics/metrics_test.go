package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Addresses: this package's tests use 127.0.199.0/24.
const (
	addrScrape = "127.0.199.1:9180"
	addrBusy   = "127.0.199.2:9180"
	addrStop   = "127.0.199.3:9180"
)

// scrape fetches and parses the metrics at addr over HTTP.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + Path)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape %s: %s: %s", addr, resp.Status, b)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape of %s: %v", addr, err)
	}
	return fams
}

// value returns the value of the series of name whose labels include
// labels (name=value pairs); it fails when there is none.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s in the scrape", name)
	}
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v in the scrape", name, labels)
	return 0
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	want := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		want[pairs[i]] = pairs[i+1]
	}
	n := 0
	for _, l := range m.Label {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

func histogram(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Histogram {
	t.Helper()
	for _, m := range fams[name].GetMetric() {
		if hasLabels(m, labels) && m.Histogram != nil {
			return m.Histogram
		}
	}
	t.Fatalf("no histogram %s%v", name, labels)
	return nil
}

func serve(t *testing.T, m *Metrics, addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done, err := m.Start(ctx, addr)
	if err != nil {
		t.Fatalf("Start on %s: %v", addr, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serving ended with %v, want nil", err)
		}
	})
}

func TestScrapeAfterKnownEvents(t *testing.T) {
	m := New(BuildInfo{Version: "v1.2.3", Commit: "abc1234", GoVersion: "go1.26.8"})
	serve(t, m, addrScrape)

	m.Decision("bootstrap")
	m.Decision("rejoin")
	m.Decision("rejoin")
	m.Rejoined()
	m.Healed("rejoin", 12500*time.Millisecond)
	for range 3 {
		m.HealthCheck(true)
		m.WatchdogPing()
	}
	m.HealthCheck(false)
	m.Ready(true)
	m.MembershipCall("add", nil)
	m.MembershipCall("remove", errors.New("refused"))
	at := time.Unix(1700000000, 500_000_000)
	m.SnapshotTaken(at, 4096, 1500*time.Millisecond)
	m.SnapshotFailed()
	m.SnapshotFailed()
	m.Defragmented(100<<20, 30<<20, 2*time.Second)
	m.Defragmented(10<<20, 10<<20, time.Second)
	m.DefragFailed()

	f := scrape(t, addrScrape)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"etcd_rejoin_decisions_total", []string{"action", "bootstrap"}, 1},
		{"etcd_rejoin_decisions_total", []string{"action", "rejoin"}, 2},
		{"etcd_rejoin_decisions_total", []string{"action", "wait"}, 0},
		{"etcd_rejoin_rejoins_total", nil, 1},
		{"etcd_rejoin_heal_duration_seconds", []string{"action", "rejoin"}, 1},
		{"etcd_rejoin_health_checks_total", []string{"result", "healthy"}, 3},
		{"etcd_rejoin_health_checks_total", []string{"result", "unhealthy"}, 1},
		{"etcd_rejoin_ready", nil, 1},
		{"etcd_rejoin_watchdog_pings_total", nil, 3},
		{"etcd_rejoin_membership_calls_total", []string{"call", "add", "result", "ok"}, 1},
		{"etcd_rejoin_membership_calls_total", []string{"call", "remove", "result", "failed"}, 1},
		{"etcd_rejoin_membership_calls_total", []string{"call", "promote", "result", "ok"}, 0},
		{"etcd_rejoin_snapshots_total", []string{"result", "ok"}, 1},
		{"etcd_rejoin_snapshots_total", []string{"result", "failed"}, 2},
		{"etcd_rejoin_snapshot_last_success_timestamp_seconds", nil, 1700000000.5},
		{"etcd_rejoin_snapshot_last_size_bytes", nil, 4096},
		{"etcd_rejoin_snapshot_last_duration_seconds", nil, 1.5},
		{"etcd_rejoin_defrags_total", []string{"result", "ok"}, 2},
		{"etcd_rejoin_defrags_total", []string{"result", "failed"}, 1},
		{"etcd_rejoin_defrag_freed_bytes_total", nil, 70 << 20},
		{"etcd_rejoin_defrag_last_duration_seconds", nil, 1},
		{"etcd_rejoin_build_info", []string{"version", "v1.2.3", "commit", "abc1234", "goversion", "go1.26.8"}, 1},
	} {
		if got := value(t, f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	h := histogram(t, f, "etcd_rejoin_heal_duration_seconds", "action", "rejoin")
	if h.GetSampleSum() != 12.5 {
		t.Errorf("heal duration sum = %v, want 12.5", h.GetSampleSum())
	}
	for _, b := range h.Bucket {
		want := uint64(0)
		if b.GetUpperBound() >= 12.5 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("heal bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("no go_goroutines: the Go collector is not registered")
	}
	m.Ready(false)
	if got := value(t, scrape(t, addrScrape), "etcd_rejoin_ready", nil...); got != 0 {
		t.Errorf("etcd_rejoin_ready after Ready(false) = %v, want 0", got)
	}
}

// Every metric follows Prometheus' naming rules: counters end in _total,
// durations in _seconds, sizes in _bytes; all carry the namespace and help.
func TestMetricNames(t *testing.T) {
	m := New(BuildInfo{})
	m.Healed("join", time.Second)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	n := 0
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		n++
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		counter := f.GetType() == dto.MetricType_COUNTER
		if counter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %s; counters, and only they, end in _total", name, f.GetType())
		}
		if strings.Contains(name, "duration") && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("%s: a duration must be in _seconds", name)
		}
		if strings.Contains(name, "size") && !strings.HasSuffix(name, "_bytes") {
			t.Errorf("%s: a size must be in _bytes", name)
		}
	}
	if n != 15 {
		t.Errorf("found %d etcd_rejoin_ metrics, want 15 (update the README's list when adding one)", n)
	}
}

func TestNilMetricsAreNoOps(t *testing.T) {
	var m *Metrics
	m.Decision("rejoin")
	m.Rejoined()
	m.Healed("rejoin", time.Second)
	m.HealthCheck(true)
	m.Ready(true)
	m.WatchdogPing()
	m.MembershipCall("add", nil)
	m.SnapshotTaken(time.Now(), 1, time.Second)
	m.SnapshotFailed()
	m.Defragmented(2, 1, time.Second)
	m.DefragFailed()
	if m.Registry() != nil {
		t.Error("nil Metrics has a registry")
	}
	done, err := m.Start(context.Background(), addrScrape)
	if done != nil || err != nil {
		t.Errorf("Start on nil Metrics = %v, %v; want nil, nil", done, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Serve(ctx, addrScrape); err != nil {
		t.Errorf("Serve on nil Metrics = %v, want nil once ctx ended", err)
	}
}

func TestStartOnBusyAddressFails(t *testing.T) {
	ln, err := net.Listen("tcp", addrBusy)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	done, err := New(BuildInfo{}).Start(context.Background(), addrBusy)
	if done != nil || !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "listen on "+addrBusy) {
		t.Fatalf("Start on a busy address = %v, %v; want an EADDRINUSE error naming %s", done, err, addrBusy)
	}
	err = New(BuildInfo{}).Serve(context.Background(), "127.0.199.2:notaport")
	if err == nil || !strings.Contains(err.Error(), "notaport") {
		t.Errorf("Serve on a bad address = %v, want an error naming it", err)
	}
}

func TestServingEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done, err := New(BuildInfo{}).Start(ctx, addrStop)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if fams := scrape(t, addrStop); value(t, fams, "etcd_rejoin_ready") != 0 {
		t.Error("ready is not 0 before any event")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serving ended with %v, want nil", err)
	}
	if _, ok := <-done; ok {
		t.Error("done not closed after its value")
	}
	ln, err := net.Listen("tcp", addrStop)
	if err != nil {
		t.Fatalf("address still taken after ctx ended: %v", err)
	}
	ln.Close()
}
