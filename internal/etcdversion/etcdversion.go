// Package etcdversion parses etcd release versions and holds etcd's rule
// for which releases may run together. It is pure: no I/O.
package etcdversion

import (
	"fmt"
	"regexp"
	"strconv"
)

// Version is an etcd release, major.minor.patch.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// MinorString is "3.5" of 3.5.35.
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// IsZero reports whether v is unknown.
func (v Version) IsZero() bool { return v == Version{} }

var versionRe = regexp.MustCompile(`(\d+)\.(\d+)(?:\.(\d+))?`)

// Parse reads "3.5.35", "v3.6.0" or "3.5" (patch 0).
func Parse(s string) (Version, error) {
	m := versionRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not an etcd version", s)
	}
	v := Version{Major: atoi(m[1]), Minor: atoi(m[2])}
	if m[3] != "" {
		v.Patch = atoi(m[3])
	}
	return v, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Skew says why a member of release local may not start in a cluster at
// cluster version cluster, or "" when it may. etcd's rules: a cluster is
// upgraded one minor release at a time (a member at most one minor ahead of
// the cluster version), and never downgraded below its cluster version.
func Skew(local, cluster Version) string {
	switch {
	case local.IsZero() || cluster.IsZero():
		return ""
	case cluster.Major == 3 && cluster.Minor == 0:
		// etcd's initial cluster version (MinClusterVersion), set at
		// bootstrap and kept until the leader has heard every member's
		// release: a member that waited for a decided version would wait
		// for ever. etcd itself accepts any release above it.
		return ""
	case local.Major != cluster.Major:
		return fmt.Sprintf("the local etcd is %s but the cluster runs at version %s: another major release", local, cluster.MinorString())
	case local.Minor < cluster.Minor:
		return fmt.Sprintf("the local etcd is %s but the cluster runs at version %s: etcd never runs a member below the cluster version "+
			"(downgrade the cluster first, or install etcd %s)", local, cluster.MinorString(), cluster.MinorString())
	case local.Minor > cluster.Minor+1:
		return fmt.Sprintf("the local etcd is %s but the cluster runs at version %s: etcd upgrades one minor release at a time "+
			"(upgrade every member to %d.%d first)", local, cluster.MinorString(), cluster.Major, cluster.Minor+1)
	}
	return ""
}
