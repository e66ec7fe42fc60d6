package lifecycle

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// TestRunSnapshots: on a real member, rounds start at least Interval apart,
// each writes a verified snapshot holding the keys written before, the
// newest Keep remain, the older are pruned, the command gets each path,
// and the loop ends once ctx ends.
func TestRunSnapshots(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, vi int) {
		c := startCluster(t, v, vi, netSnap, 0, 1)
		cli := c.Client(t)
		rev := putKeys(t, cli, "before", 50)
		dir := t.TempDir()
		marker := filepath.Join(dir, "hook.log")
		s := Schedule{Interval: time.Second, Keep: 2, Dir: filepath.Join(dir, "snapshots"),
			Command: `echo "$1 $SNAPSHOT_PATH" >> ` + marker, CommandTimeout: 10 * time.Second}

		const rounds = 4
		results := make(chan Result, rounds+2)
		ctx, cancel := context.WithCancel(ctxFor(t))
		done := RunSnapshots(ctx, s, opener(cli), func(r Result) { results <- r })
		var got []Result
		for len(got) < rounds {
			select {
			case r := <-results:
				got = append(got, r)
			case <-done:
				t.Fatalf("the loop ended after %d rounds", len(got))
			case <-ctx.Done():
				t.Fatalf("only %d rounds before the test's deadline", len(got))
			}
		}
		cancel()
		<-done

		var paths []string
		for i, r := range got {
			if r.Failed() || r.Skipped {
				t.Fatalf("round %d: %s", i, r.Summary())
			}
			if r.Info.Revision < rev || r.Info.TotalKeys < 50 || !r.Info.SHA256 {
				t.Errorf("round %d: revision %d, %d keys, sha256 %t; want revision >= %d, >= 50 keys, a sha256", i,
					r.Info.Revision, r.Info.TotalKeys, r.Info.SHA256, rev)
			}
			if i > 0 && r.Start.Sub(got[i-1].Start) < s.Interval {
				t.Errorf("round %d started %s after round %d, less than the interval %s", i, r.Start.Sub(got[i-1].Start), i-1, s.Interval)
			}
			if want := r.Start.Add(s.Interval); !r.Next.Equal(want) {
				t.Errorf("round %d: next %s, want %s", i, r.Next, want)
			}
			if r.Hook == nil || r.Hook.ExitCode != 0 {
				t.Errorf("round %d: hook %+v", i, r.Hook)
			}
			paths = append(paths, r.Info.Path)
		}
		files, err := snapshot.List(s.Dir)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, f := range files {
			left = append(left, f.Path)
		}
		if want := []string{paths[3], paths[2]}; !slices.Equal(left, want) {
			t.Errorf("snapshots left %v, want the newest two %v", left, want)
		}
		var pruned []string
		for _, r := range got {
			pruned = append(pruned, r.Pruned...)
		}
		if want := []string{paths[0], paths[1]}; !slices.Equal(pruned, want) {
			t.Errorf("pruned %v, want %v", pruned, want)
		}
		hook, err := os.ReadFile(marker)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, p := range paths {
			want = append(want, p+" "+p)
		}
		if lines := strings.Split(strings.TrimSpace(string(hook)), "\n"); !slices.Equal(lines, want) {
			t.Errorf("snapshot-command saw %q, want %q", lines, want)
		}
	})
}

// A round that fails to stream leaves nothing behind and Failed says so; a
// failing command is reported, and its snapshot stays.
func TestRoundFailures(t *testing.T) {
	dir := t.TempDir()
	s := Schedule{Keep: 2, Dir: dir, Command: "echo out; exit 3", CommandTimeout: 10 * time.Second}
	broken := func(context.Context) (io.ReadCloser, error) { return nil, errors.New("member gone") }
	r := s.Round(ctxFor(t), broken)
	if !r.Failed() || r.Skipped || !strings.Contains(r.Err.Error(), "member gone") || r.Hook != nil {
		t.Errorf("broken stream: %+v", r)
	}
	if !strings.HasPrefix(r.Summary(), "snapshot failed: ") {
		t.Errorf("summary %q", r.Summary())
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("a failed round left %v", names)
	}

	forVersions(t, func(t *testing.T, v testetcd.Version, vi int) {
		c := startCluster(t, v, vi, netSnap, 30, 1)
		r := s.Round(ctxFor(t), opener(c.Client(t)))
		if r.Err != nil || r.HookErr == nil || !r.Failed() || r.Hook == nil || r.Hook.ExitCode != 3 || r.Hook.Output != "out\n" {
			t.Fatalf("failing command: err %v, hook err %v, hook %+v", r.Err, r.HookErr, r.Hook)
		}
		if _, err := os.Stat(r.Info.Path); err != nil {
			t.Errorf("the snapshot of a round whose command failed is gone: %v", err)
		}
		if !strings.Contains(r.Summary(), "exit status 3") {
			t.Errorf("summary %q does not name the exit status", r.Summary())
		}
	})
}

// A round that finds the dir locked by another snapshot is skipped without
// touching the member or the dir.
func TestRoundSkipsWhileLocked(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	opened := false
	open := func(context.Context) (io.ReadCloser, error) { opened = true; return nil, errors.New("unexpected") }
	r := Schedule{Keep: 1, Dir: dir, Command: "exit 1"}.Round(ctxFor(t), open)
	if !r.Skipped || r.Failed() || !errors.Is(r.Err, snapshot.ErrInProgress) || opened || r.Hook != nil {
		t.Errorf("locked dir: skipped %t failed %t err %v opened %t hook %+v", r.Skipped, r.Failed(), r.Err, opened, r.Hook)
	}
}

// With no interval nothing runs.
func TestRunSnapshotsOff(t *testing.T) {
	done := RunSnapshots(ctxFor(t), Schedule{Dir: t.TempDir()}, nil, func(Result) { t.Error("reported a round") })
	select {
	case <-done:
	default:
		t.Fatal("RunSnapshots without an interval returned an open channel")
	}
}

// The first round is due an interval after the newest own snapshot, at once
// without one, and never later than an interval from now.
func TestFirstDue(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := []struct {
		name  string
		files []string
		want  time.Time
	}{
		{"empty dir", nil, now},
		{"only foreign files", []string{"backup.db", "x.snapshot"}, now},
		{"newest is 30m old", []string{snapshot.FileName(now.Add(-5 * time.Hour)), snapshot.FileName(now.Add(-30 * time.Minute))}, now.Add(30 * time.Minute)},
		{"newest is older than the interval", []string{snapshot.FileName(now.Add(-2 * time.Hour))}, now.Add(-time.Hour)},
		{"clock went back", []string{snapshot.FileName(now.Add(3 * time.Hour))}, now.Add(time.Hour)},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range r.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := Schedule{Interval: time.Hour, Dir: dir, Now: func() time.Time { return now }}
			if got := s.firstDue(); !got.Equal(r.want) {
				t.Errorf("first due %s, want %s", got, r.want)
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
