// Package urlset compares lists of URLs as sets.
package urlset

import "slices"

// Equal reports whether a and b hold the same URLs, in any order.
func Equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
