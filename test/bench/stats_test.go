package bench

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
		ok   bool
	}{
		{"none", nil, 0, false},
		{"one", []time.Duration{5}, 5, true},
		{"odd, unsorted", []time.Duration{9, 1, 5}, 5, true},
		{"even: mean of the middle two", []time.Duration{4, 1, 2, 3}, 2, true}, // (2+3)/2 in integer nanoseconds
		{"even, exact", []time.Duration{10, 30, 20, 40}, 25, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := median(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("median(%v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMedianLeavesInputAlone(t *testing.T) {
	in := []int64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("median sorted its input: %v", in)
	}
}

func TestPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 100; i >= 1; i-- {
		xs = append(xs, time.Duration(i))
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.5, 1}} {
		if got, ok := percentile(xs, tt.p); !ok || got != tt.want {
			t.Errorf("p%v = %v, %v; want %v", tt.p, got, ok, tt.want)
		}
	}
	if _, ok := percentile([]time.Duration{}, 50); ok {
		t.Error("percentile of nothing is ok")
	}
	if got, _ := percentile([]time.Duration{7, 3}, 99); got != 7 {
		t.Errorf("p99 of two values = %v, want the larger", got)
	}
}

func TestSpanAndRatio(t *testing.T) {
	lo, hi, ok := span([]float64{2.5, -1, 7})
	if !ok || lo != -1 || hi != 7 {
		t.Errorf("span = %v, %v, %v", lo, hi, ok)
	}
	if _, _, ok := span([]float64(nil)); ok {
		t.Error("span of nothing is ok")
	}
	if r, ok := ratio(3*time.Second, 2*time.Second); !ok || r != 1.5 {
		t.Errorf("ratio = %v, %v; want 1.5", r, ok)
	}
	if _, ok := ratio(time.Second, 0); ok {
		t.Error("ratio over zero is ok")
	}
}
