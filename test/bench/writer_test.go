package bench

import (
	"testing"
	"time"
)

func TestWindowAndSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var samples []sample
	for i := range 200 {
		samples = append(samples, sample{due: t0.Add(time.Duration(i) * 10 * time.Millisecond), took: time.Duration(i+1) * time.Millisecond})
	}
	samples[150].failed = true
	// Samples 100..199; 150 failed, so p99 of the other 99 is the 99th: the largest.
	w := window(samples, t0.Add(time.Second), t0.Add(2*time.Second))
	if len(w) != 100 || w[0].took != 101*time.Millisecond {
		t.Fatalf("window has %d samples from %v", len(w), w[0].took)
	}
	st := summarize(w)
	want := WriterStats{Writes: 100, Failed: 1, P50: 150 * time.Millisecond, P99: 200 * time.Millisecond, Max: 200 * time.Millisecond}
	if st != want {
		t.Errorf("summarize = %+v, want %+v", st, want)
	}
	if st := summarize(nil); st != (WriterStats{}) {
		t.Errorf("summarize(nil) = %+v", st)
	}
}
