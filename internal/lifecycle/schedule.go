package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
)

// Schedule is how periodic snapshots are taken: every Interval into Dir,
// keeping the newest Keep of them, each good one handed to Command.
type Schedule struct {
	// Interval between the starts of two snapshots; 0 turns them off.
	Interval time.Duration
	// Keep is how many of its own snapshots Prune leaves in Dir (>= 1).
	Keep int
	// Dir receives the snapshots.
	Dir string
	// Command, when not empty, runs after each good snapshot
	// (snapshot.RunHook), bounded by CommandTimeout.
	Command        string
	CommandTimeout time.Duration
	// Now is the clock (time.Now when nil); the snapshots are named after it.
	Now func() time.Time
}

func (s Schedule) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Result is what one round of snapshotting did.
type Result struct {
	// Start is when the round began; the snapshot is named after it.
	Start time.Time
	// Took is how long streaming, verifying and pruning took (the
	// snapshot-command not included).
	Took time.Duration
	// Info is the new snapshot, verified; zero when Err is set.
	Info snapshot.Info
	// Err is why no snapshot was written: the round changed nothing.
	Err error
	// Skipped is set when another snapshot held Dir (Err wraps
	// snapshot.ErrInProgress): the round was left out, which is no fault.
	Skipped bool
	// Pruned lists the older snapshots removed; PruneErr why not all could be.
	Pruned   []string
	PruneErr error
	// Hook is how snapshot-command ended (nil when none ran), HookErr nil
	// only for exit status 0.
	Hook    *snapshot.HookResult
	HookErr error
	// Next is when the next round is due (RunSnapshots only).
	Next time.Time
}

// Failed reports whether the round went wrong in any way the operator must
// hear about: no snapshot, a snapshot that could not be pruned, or a
// snapshot-command that failed. A skipped round is no failure.
func (r Result) Failed() bool {
	return (r.Err != nil && !r.Skipped) || r.PruneErr != nil || r.HookErr != nil
}

// Summary is one line about the round, for logs and STATUS=.
func (r Result) Summary() string {
	switch {
	case r.Skipped:
		return "snapshot skipped: another snapshot is in progress"
	case r.Err != nil:
		return "snapshot failed: " + r.Err.Error()
	}
	s := fmt.Sprintf("snapshot %s: %s, revision %d, %d keys, in %s", r.Info.Path, sizeText(r.Info.Size),
		r.Info.Revision, r.Info.TotalKeys, r.Took.Round(time.Millisecond))
	if len(r.Pruned) > 0 {
		s += fmt.Sprintf("; pruned %d older", len(r.Pruned))
	}
	if r.PruneErr != nil {
		s += "; " + r.PruneErr.Error()
	}
	switch {
	case r.HookErr != nil:
		s += "; " + r.HookErr.Error()
	case r.Hook != nil:
		s += fmt.Sprintf("; snapshot-command exit 0 in %s", r.Hook.Duration.Round(time.Millisecond))
	}
	return s
}

// Log writes the round's Summary: a warning when it Failed, with the tail
// of the snapshot-command's output when that failed.
func (r Result) Log(log *slog.Logger) {
	if !r.Failed() {
		log.Info(r.Summary(), "next", r.Next)
		return
	}
	attrs := []any{"next", r.Next}
	if r.HookErr != nil && r.Hook != nil {
		attrs = append(attrs, "command_exit", r.Hook.ExitCode, "command_output", r.Hook.Output)
	}
	log.Warn(r.Summary(), attrs...)
}

func sizeText(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// RunSnapshots takes snapshots on the schedule in a goroutine of its own and
// returns at once; the channel it returns is closed once that goroutine has
// ended, after ctx ended (a running snapshot-command is stopped then). With
// no Interval it does nothing and returns a closed channel.
//
// Rounds never overlap: each runs Take, then Prune, then the Command, and
// the next one starts Interval after the start of the last (at once when
// that is past). The first is due Interval after the newest of its own
// snapshots in Dir (at once when there is none or it is older), so that a
// service that restarts often still snapshots on schedule, and one that
// restarts right after a snapshot does not take another. A round that finds
// Dir locked by another snapshot (`etcd-rejoin snapshot`) is skipped.
//
// report gets every round's Result, on the loop's goroutine: it must not
// block for long. A round cut short because ctx ended is not reported.
func RunSnapshots(ctx context.Context, s Schedule, open snapshot.Opener, report func(Result)) <-chan struct{} {
	done := make(chan struct{})
	if s.Interval <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		s.loop(ctx, open, report)
	}()
	return done
}

func (s Schedule) loop(ctx context.Context, open snapshot.Opener, report func(Result)) {
	next := s.firstDue()
	for sleepUntil(ctx, next, s.now) {
		r := s.Round(ctx, open)
		if ctx.Err() != nil {
			return
		}
		next = r.Start.Add(s.Interval)
		r.Next = next
		report(r)
	}
}

// firstDue is Interval after the newest own snapshot in Dir, and at most
// Interval from now (a clock that went back).
func (s Schedule) firstDue() time.Time {
	now := s.now()
	files, err := snapshot.List(s.Dir)
	if err != nil {
		return now // the round will say what is wrong with Dir
	}
	for _, f := range files {
		if !f.Own {
			continue
		}
		if due := f.TakenAt.Add(s.Interval); due.Before(now.Add(s.Interval)) {
			return due
		}
		return now.Add(s.Interval)
	}
	return now
}

// sleepUntil waits until t (by the clock now) or ctx ends; it reports
// whether it is time.
func sleepUntil(ctx context.Context, t time.Time, now func() time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// Round takes one snapshot into Dir, prunes, and runs the Command on it.
func (s Schedule) Round(ctx context.Context, open snapshot.Opener) Result {
	r := Result{Start: s.now()}
	info, err := snapshot.Take(ctx, open, s.Dir, r.Start)
	if err != nil {
		r.Err, r.Skipped = err, errors.Is(err, snapshot.ErrInProgress)
		r.Took = s.now().Sub(r.Start)
		return r
	}
	r.Info = info
	r.Pruned, r.PruneErr = snapshot.Prune(s.Dir, s.Keep)
	r.Took = s.now().Sub(r.Start)
	if s.Command != "" {
		hook, err := snapshot.RunHook(ctx, s.Command, info.Path, s.CommandTimeout)
		r.Hook, r.HookErr = &hook, err
	}
	return r
}
