package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// round is a heal that reached the usual milestones, ending at total.
func round(method string, total float64, lost int) Round {
	marks := map[string]time.Duration{markRemoved: secs(0.1), markAdded: secs(0.2), markEtcdStarted: secs(0.25),
		markSnapshot: secs(0.5), markPublished: secs(total - 0.1), markServing: secs(total - 0.05)}
	if method == MethodRejoin {
		marks[markDecision], marks[markPromoted], marks[markReady] = secs(0.05), secs(total-0.08), secs(total)
	} else {
		marks[markListed], marks[markServing] = secs(0.05), secs(total)
	}
	return Round{Method: method, OK: true, Total: secs(total), Marks: marks, PublishLost: lost}
}

func sampleResults() *Results {
	cell := Cell{Version: "3.4", Members: 3, SizeMB: 64, Keys: 16384, DBSize: 100 << 20,
		Rounds: []Round{
			round(MethodRejoin, 2.0, 0), round(MethodManual, 1.0, 0),
			round(MethodRejoin, 3.0, 0), round(MethodManual, 8.0, 1),
			round(MethodRejoin, 9.0, 1), round(MethodManual, 2.0, 0),
		},
		Writer: map[string]WriterStats{
			noFault:      {Writes: 500, P50: secs(0.005), P99: secs(0.05), Max: secs(0.06)},
			MethodRejoin: {Writes: 300, P50: secs(0.006), P99: secs(0.08), Max: secs(0.09)},
			MethodManual: {Writes: 280, Failed: 2, P50: secs(0.007), P99: secs(0.3), Max: secs(1.2)},
		}}
	cell.Rounds = append(cell.Rounds, Round{Method: MethodRejoin, Writer: true, OK: true, Total: secs(2)}, Round{Method: MethodManual, Writer: true, OK: true, Total: secs(2)})
	return &Results{
		Meta:  Meta{Command: "bench -rounds 3", CPU: "test CPU", Cores: 2, Etcd: map[string]string{"3.4": "etcd Version: 3.4.23"}, Settings: Settings{Rounds: 3, WriterRate: 100}},
		Cells: []Cell{cell},
		Decisions: []Decision{
			{Version: "3.4", Case: "rejoin, peers answering", Want: "rejoin", Actions: []string{"rejoin", "rejoin"}, Decide: []time.Duration{secs(0.03), secs(0.05)}, Launch: []time.Duration{secs(0.2), secs(0.3)}},
			{Version: "3.4", Case: "wiped, peers not answering (must wait)", Want: "wait", Actions: []string{"wait"}, Decide: []time.Duration{secs(0.02)}},
			{Version: "3.4", Case: "`plan --json`", Want: "restart", Plan: true, Actions: []string{"restart"}, Decide: []time.Duration{secs(0.1)}},
		},
		Cost: []Cost{{Version: "3.4", Hosts: 3, Duration: time.Minute, RSSMedianKiB: 19000, RSSMaxKiB: 21000, CPUPercent: 0.2, CPUMaxPercent: 0.25,
			Requests: map[string]float64{"Range": 0.2, "Status": 0.2}, Watchdog: 12}},
	}
}

func TestCellFigures(t *testing.T) {
	c := sampleResults().Cells[0]
	if r, ok := c.ratio(); !ok || r != 1.5 { // median 3.0 s against 2.0 s
		t.Errorf("ratio = %v, %v; want 1.5", r, ok)
	}
	if r, ok := c.cleanRatio(); !ok || r != 2.5/1.5 { // 2.5 s (2 and 3) against 1.5 s (1 and 2)
		t.Errorf("clean ratio = %v, %v; want %v", r, ok, 2.5/1.5)
	}
	if d, ok := c.segment(MethodRejoin, markEtcdStarted, markPublished); !ok || d != secs(2.9)-secs(0.25) {
		t.Errorf("segment etcd started to caught up = %v, %v", d, ok)
	}
	if d, ok := c.segment(MethodManual, markPublished, markDone); !ok || d != secs(0.1) {
		t.Errorf("segment caught up to done = %v, %v; want 100ms", d, ok)
	}
	if _, ok := c.segment(MethodManual, markPromoted, markDone); ok {
		t.Error("a segment from a milestone the manual procedure never reaches is ok")
	}
	if got := len(c.totals(MethodRejoin)); got != 3 {
		t.Errorf("%d etcd-rejoin totals, want the 3 rounds without writer", got)
	}
}

// TestRatioCountsHungHeals: a heal that never completed is slower than any
// that did; a method whose median round hung loses the cell outright.
func TestRatioCountsHungHeals(t *testing.T) {
	hung := func(method string) Round {
		return Round{Method: method, Err: "heal did not complete in time", PublishLost: 1}
	}
	restarted := round(MethodRejoin, 1.5, 0)
	restarted.Restarted = 1
	rows := []struct {
		name      string
		rounds    []Round
		ratio     float64
		ok        bool
		clean     float64 // 0: no clean ratio
		text      string
		rejoinCol string
	}{
		{"manual hung in 2 of 3", []Round{round(MethodRejoin, 1.0, 0), hung(MethodManual), round(MethodRejoin, 2.0, 0), hung(MethodManual),
			round(MethodRejoin, 3.0, 0), round(MethodManual, 0.5, 0)}, 0, true, 2.0 / 0.5, "**0** (manual hung)", "2.00 s (1.00-3.00)"},
		{"manual hung in 1 of 3: slowest, not left out", []Round{round(MethodRejoin, 1.0, 0), hung(MethodManual), round(MethodRejoin, 2.0, 0),
			round(MethodManual, 0.5, 0), round(MethodRejoin, 3.0, 0), round(MethodManual, 0.8, 0)}, 2.0 / 0.8, true, 2.0 / 0.65, "**2.50**", "2.00 s (1.00-3.00)"},
		{"even count: a hung middle round is the median", []Round{round(MethodRejoin, 1.0, 0), hung(MethodRejoin), round(MethodManual, 1.0, 0), round(MethodManual, 2.0, 0)},
			math.Inf(1), true, 1.0 / 1.5, "**∞** (etcd-rejoin hung)", "hung (1.00-1.00)"},
		{"both hung", []Round{hung(MethodRejoin), hung(MethodManual)}, 0, false, 0, "-", "hung"},
		{"a restarted round is not like against like", []Round{restarted, round(MethodRejoin, 0.5, 0), round(MethodManual, 0.6, 0)},
			1.0 / 0.6, true, 0.5 / 0.6, "**1.67**", "1.00 s (0.50-1.50)"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := Cell{Rounds: r.rounds}
			got, ok := c.ratio()
			if ok != r.ok || math.Abs(got-r.ratio) > 1e-9 && !(math.IsInf(got, 1) && math.IsInf(r.ratio, 1)) {
				t.Errorf("ratio = %v, %v; want %v, %v", got, ok, r.ratio, r.ok)
			}
			if text := ratioText(got, ok); text != r.text {
				t.Errorf("ratio text %q, want %q", text, r.text)
			}
			clean, ok := c.cleanRatio()
			if (r.clean == 0) == ok || ok && math.Abs(clean-r.clean) > 1e-9 {
				t.Errorf("clean ratio = %v, %v; want %v", clean, ok, r.clean)
			}
			if col := spreadOutcome(c, MethodRejoin); col != r.rejoinCol {
				t.Errorf("etcd-rejoin column %q, want %q", col, r.rejoinCol)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	res := sampleResults()
	if p := Problems(res); len(p) != 0 {
		t.Fatalf("problems in a complete run: %v", p)
	}
	res.Cells[0].Rounds[0] = Round{Method: MethodRejoin, Err: "heal did not complete in time"}
	res.Decisions[0].Actions[1] = "wait"
	res.Cost[0].Requests = nil
	res.Cells[0].Writer[MethodManual] = WriterStats{}
	res.Cells[0].Rounds[1] = Round{Method: MethodManual, Err: "waiting for a serving voter: " + errPublishRefused.Error()}
	p := strings.Join(Problems(res), "\n")
	if strings.Contains(p, "manual heal failed") {
		t.Errorf("a manual heal that etcd's publish refusal hung is a problem of the bench:\n%s", p)
	}
	if md := Report(res, "heal.png"); !strings.Contains(md, "hung because etcd refused its own publish request (`too many requests`; counted as never done above: a finding about etcd, not a failure of the bench): etcd 3.4, 3 members, 64 MB: 1 of 4.") {
		t.Errorf("the report does not count the manual heal etcd hung:\n%s", md[strings.Index(md, "## Failures"):])
	}
	for _, want := range []string{"a etcd-rejoin heal failed", `decided "wait", not "rejoin"`, "no health-check requests", `no writes in the "manual" window`} {
		if !strings.Contains(p, want) {
			t.Errorf("problems lack %q:\n%s", want, p)
		}
	}
}

func TestReport(t *testing.T) {
	md := Report(sampleResults(), "heal.png")
	for _, want := range []string{
		"# Benchmarks", "bench -rounds 3", "![heal time against data size](heal.png)",
		"| 3.4 | 3 | 64 MB | 16384 | 100 MB | 3.00 s (2.00-9.00) | 2.00 s (1.00-8.00) | **1.50** |",
		"| heal ratio etcd-rejoin / manual <= 1.00 in every cell | worst 1.50 (etcd 3.4, 3 members, 64 MB) | **no** |",
		"| 3.4 | 3 | 64 MB | manual | 280 | 2 | 7 ms | 300 ms | 1.20 s |",
		"| 3.4 | rejoin, peers answering | rejoin ×2 | 40 ms (30-50) | 250 ms (200-300) | 0 |",
		"in 1 of 4 etcd-rejoin heals and 1 of 4 manual heals",
		"| decision < 100 ms with peers answering, a healthy cluster (start to `decision`) | slowest median 40 ms (etcd 3.4, rejoin, peers answering) | yes |",
		"| resident memory < 20 MiB (etcd 3.4) | median 18.6 MiB, largest 20.5 MiB | **no** |",
		"None: every heal completed",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "%!") {
		t.Errorf("report has a formatting error:\n%s", md)
	}
}

func TestPlot(t *testing.T) {
	png, err := Plot(sampleResults())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
		t.Errorf("not a PNG: %d bytes", len(png))
	}
	if _, err := Plot(&Results{}); err == nil {
		t.Error("no error plotting no cells")
	}
}
