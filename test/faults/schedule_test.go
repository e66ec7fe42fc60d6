package faults

import (
	"fmt"
	"slices"
	"testing"
)

func TestScheduleIsDeterministic(t *testing.T) {
	o := ScheduleOptions{Members: 5, WalDirMembers: 1, Failpoints: true}
	a, err := Schedule(42, 200, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Schedule(42, 200, o)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same seed drew two schedules")
	}
	short, _ := Schedule(42, 17, o)
	if fmt.Sprint(short) != fmt.Sprint(a[:17]) {
		t.Errorf("a shorter run is not a prefix of a longer one:\n%v\n%v", short, a[:17])
	}
	other, _ := Schedule(43, 200, o)
	if fmt.Sprint(other) == fmt.Sprint(a) {
		t.Error("seeds 42 and 43 drew the same schedule")
	}
	for i, s := range a {
		if s.N != i+1 || s.Target < 0 || s.Target >= o.Members || s.Peer == s.Target || s.Peer >= o.Members {
			t.Errorf("bad step %+v", s)
		}
	}
}

func TestScheduleCoversEveryKind(t *testing.T) {
	steps, err := Schedule(1, 2000, ScheduleOptions{Members: 5, WalDirMembers: 1, Failpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	fps := map[string]bool{}
	for _, s := range steps {
		seen[s.Kind] = true
		if s.Kind == "rejoin-crash" {
			fps[s.Variant] = true
		}
	}
	for _, k := range KindNames() {
		if !seen[k] {
			t.Errorf("kind %s never drawn in 2000 steps", k)
		}
	}
	for _, fp := range rejoinSteps {
		if !fps[fp] {
			t.Errorf("failpoint %s never drawn", fp)
		}
	}
}

func TestScheduleOptions(t *testing.T) {
	three, _ := Schedule(1, 500, ScheduleOptions{Members: 3})
	for _, s := range three {
		switch {
		case s.Kind == "wipe-two" || s.Kind == "partition-split":
			t.Errorf("%s drawn for 3 members", s.Kind)
		case s.Kind == "lose-wal-dir" || s.Kind == "lose-data-dir":
			t.Errorf("%s drawn without wal-dir members", s.Kind)
		case s.Kind == "rejoin-crash" && s.Variant != "random":
			t.Errorf("failpoint %s drawn for a binary without failpoints", s.Variant)
		}
	}
	only, _ := Schedule(1, 100, ScheduleOptions{Members: 3, Only: []string{"wipe", "kill-etcd"}})
	for _, s := range only {
		if !slices.Contains([]string{"wipe", "kill-etcd"}, s.Kind) {
			t.Errorf("-only wipe,kill-etcd drew %s", s.Kind)
		}
	}
	skip, _ := Schedule(1, 500, ScheduleOptions{Members: 3, Skip: []string{"wipe"}})
	for _, s := range skip {
		if s.Kind == "wipe" {
			t.Error("-skip wipe drew wipe")
		}
	}
	variants, _ := Schedule(1, 500, ScheduleOptions{Members: 3, Skip: []string{"truncate-wal:tail"}})
	heads := 0
	for _, s := range variants {
		if s.Kind == "truncate-wal" && s.Variant == "tail" {
			t.Error("-skip truncate-wal:tail drew it")
		}
		if s.Kind == "truncate-wal" {
			heads++
		}
	}
	if heads == 0 {
		t.Error("-skip truncate-wal:tail left no truncate-wal:head either")
	}
	if _, err := Schedule(1, 1, ScheduleOptions{Members: 3, Only: []string{"wipe-two"}}); err == nil {
		t.Error("want an error when no kind is left to draw")
	}
	if err := validKinds([]string{"wipe", "no-such-kind"}); err == nil {
		t.Error("want an error for an unknown kind")
	}
}

func TestParseScript(t *testing.T) {
	steps, err := ParseScript("other-member-data@m5/m4, freeze-etcd@leader~8s,truncate-wal:tail@m1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{N: 1, Kind: "other-member-data", Target: 4, Peer: 3, Seed: 1},
		{N: 2, Kind: "freeze-etcd", Leader: true, Peer: -1, Dur: 8e9, Seed: 2},
		{N: 3, Kind: "truncate-wal", Variant: "tail", Target: 0, Peer: -1, Seed: 3},
	}
	if fmt.Sprintf("%+v", steps) != fmt.Sprintf("%+v", want) {
		t.Errorf("got %+v\nwant %+v", steps, want)
	}
	if got := scriptString(steps); got != "other-member-data@m5/m4,freeze-etcd@leader~8s,truncate-wal:tail@m1" {
		t.Errorf("written back as %q", got)
	}
	for _, bad := range []string{"wipe", "nope@m1", "wipe@x1", "wipe@m0", "freeze-etcd@m1~soon", "other-member-data@m1/q"} {
		if _, err := ParseScript(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
