package bench

import (
	"math"
	"slices"
	"time"
)

// number is what the statistics work on: durations, sizes, rates.
type number interface {
	~int64 | ~float64
}

// median returns the middle value (the mean of the two middle ones for an
// even count); ok is false for no values.
func median[T number](xs []T) (T, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100).
func percentile[T number](xs []T, p float64) (T, bool) {
	if len(xs) == 0 || p <= 0 || p > 100 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1], true
}

// span returns the smallest and largest value.
func span[T number](xs []T) (lo, hi T, ok bool) {
	if len(xs) == 0 {
		return 0, 0, false
	}
	return slices.Min(xs), slices.Max(xs), true
}

// ratio is a/b, ok only when both are known and b is not zero.
func ratio(a, b time.Duration) (float64, bool) {
	if b <= 0 || a <= 0 {
		return 0, false
	}
	return float64(a) / float64(b), true
}
