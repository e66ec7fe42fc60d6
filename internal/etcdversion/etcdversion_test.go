package etcdversion

import (
	"strings"
	"testing"
)

func TestSkew(t *testing.T) {
	v := func(s string) Version {
		x, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, c := range []struct {
		local, cluster, want string
	}{
		{"3.4.23", "3.4.0", ""},
		{"3.5.35", "3.4.0", ""}, // the rolling one-minor upgrade
		{"3.6.16", "3.5.0", ""},
		{"3.6.16", "3.4.0", "upgrades one minor release at a time (upgrade every member to 3.5 first)"},
		{"3.4.23", "3.5.0", "never runs a member below the cluster version"},
		{"4.0.0", "3.6.0", "another major release"},
		// a new cluster before the leader heard every member (the fault
		// campaign: a member starting then waited for ever)
		{"3.4.23", "3.0.0", ""},
		{"3.6.16", "3.0.0", ""},
	} {
		if got := Skew(v(c.local), v(c.cluster)); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Skew(%s, %s) = %q, want %q", c.local, c.cluster, got, c.want)
		}
	}
	if Skew(Version{}, v("3.5")) != "" || Skew(v("3.6.1"), Version{}) != "" {
		t.Errorf("an unknown version is no skew")
	}
}
