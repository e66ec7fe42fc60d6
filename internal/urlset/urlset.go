// Package urlset compares lists of URLs as sets, the way etcd does: the
// scheme and host are not case-sensitive, a trailing slash means nothing,
// and a host name stands for the addresses it resolves to (the caller
// resolves them; this package does no I/O).
package urlset

import (
	"net/url"
	"slices"
	"strings"
)

// Normalize lower-cases the scheme and host and drops a trailing "/". A
// string that is not a URL is returned as it is.
func Normalize(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if u.Path == "/" {
		u.Path = ""
	}
	return u.String()
}

// Aliases maps a URL (normalized) to other spellings of it: the same URL with
// its host name replaced by each address it resolves to. A nil Aliases
// compares spellings only.
type Aliases map[string][]string

// forms returns the normalized URL and its aliases.
func (a Aliases) forms(s string) []string {
	n := Normalize(s)
	return append([]string{n}, a[n]...)
}

// Same reports whether x and y name the same endpoint.
func (a Aliases) Same(x, y string) bool {
	fy := a.forms(y)
	for _, f := range a.forms(x) {
		if slices.Contains(fy, f) {
			return true
		}
	}
	return false
}

// Equal reports whether xs and ys hold the same URLs, in any order.
func (a Aliases) Equal(xs, ys []string) bool {
	return len(xs) == len(ys) && a.covers(xs, ys) && a.covers(ys, xs)
}

// covers reports whether every URL of xs is in ys.
func (a Aliases) covers(xs, ys []string) bool {
	for _, x := range xs {
		if !a.Contains(ys, x) {
			return false
		}
	}
	return true
}

// Contains reports whether list holds u.
func (a Aliases) Contains(list []string, u string) bool {
	for _, x := range list {
		if a.Same(x, u) {
			return true
		}
	}
	return false
}

// Intersect reports whether xs and ys have a URL in common.
func (a Aliases) Intersect(xs, ys []string) bool {
	for _, x := range xs {
		if a.Contains(ys, x) {
			return true
		}
	}
	return false
}

// Equal compares spellings only (no resolved aliases).
func Equal(xs, ys []string) bool { return Aliases(nil).Equal(xs, ys) }

// Intersect compares spellings only (no resolved aliases).
func Intersect(xs, ys []string) bool { return Aliases(nil).Intersect(xs, ys) }
