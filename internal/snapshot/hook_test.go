package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hookTimeout is long enough for any hook here that is meant to finish.
const hookTimeout = time.Minute

func TestRunHookPassesThePath(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "with space", "etcd-x.snapshot")
	out := filepath.Join(dir, "out")
	t.Run("inline command", func(t *testing.T) {
		res, err := RunHook(ctxFor(t), `printf '%s|%s|%s' "$1" "$SNAPSHOT_PATH" "$#" > `+out, snap, hookTimeout)
		if err != nil || res.ExitCode != 0 || res.TimedOut {
			t.Fatalf("RunHook = %+v, %v; want exit 0", res, err)
		}
		if got, want := readString(t, out), snap+"|"+snap+"|1"; got != want {
			t.Errorf("hook saw %q; want %q", got, want)
		}
	})
	t.Run("script named as the command", func(t *testing.T) {
		script := writeFile(t, dir, "ship.sh", []byte("#!/bin/sh\nprintf '%s|%s' \"$SNAPSHOT_PATH\" \"$#\" > "+out+"\n"))
		if err := os.Chmod(script, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := RunHook(ctxFor(t), script, snap, hookTimeout); err != nil {
			t.Fatalf("RunHook: %v", err)
		}
		if got, want := readString(t, out), snap+"|0"; got != want {
			t.Errorf("script saw %q; want %q", got, want)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
		t.Setenv("WATCHDOG_USEC", "30000000")
		t.Setenv("WATCHDOG_PID", "1")
		t.Setenv("SNAPSHOT_PATH", "/stale")
		t.Setenv("AWS_PROFILE", "backups")
		if _, err := RunHook(ctxFor(t), "env > "+out, snap, hookTimeout); err != nil {
			t.Fatalf("RunHook: %v", err)
		}
		env := strings.Split(readString(t, out), "\n")
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			if k == "NOTIFY_SOCKET" || k == "WATCHDOG_USEC" || k == "WATCHDOG_PID" {
				t.Errorf("hook got %s", kv)
			}
		}
		for _, want := range []string{"AWS_PROFILE=backups", "SNAPSHOT_PATH=" + snap} {
			if !slices.Contains(env, want) {
				t.Errorf("hook environment lacks %s", want)
			}
		}
		if n := strings.Count(strings.Join(env, "\n"), "SNAPSHOT_PATH="); n != 1 {
			t.Errorf("SNAPSHOT_PATH set %d times", n)
		}
	})
}

func TestRunHookExitStatus(t *testing.T) {
	rows := []struct {
		name, command string
		code          int
		output        string
	}{
		{"success", "echo shipped", 0, "shipped\n"},
		{"failure", "echo uploading; echo 'bucket not found' >&2; exit 3", 3, "uploading\nbucket not found\n"},
		{"command not found", "no-such-command-here", 127, "not found"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			res, err := RunHook(ctxFor(t), r.command, "/x.snapshot", hookTimeout)
			if res.ExitCode != r.code || res.TimedOut || !strings.Contains(res.Output, r.output) {
				t.Errorf("RunHook = %+v; want exit %d, output with %q", res, r.code, r.output)
			}
			if (err == nil) != (r.code == 0) {
				t.Errorf("RunHook error = %v for exit %d", err, r.code)
			}
			if err != nil && (!strings.Contains(err.Error(), "exit status "+strconv.Itoa(r.code)) || !strings.Contains(err.Error(), "/x.snapshot")) {
				t.Errorf("RunHook error = %v; want the exit status and the path", err)
			}
		})
	}
	t.Run("output tail", func(t *testing.T) {
		res, err := RunHook(ctxFor(t), "yes 0123456789 | head -c 100000; echo; echo last line", "/x", hookTimeout)
		if err != nil || len(res.Output) != hookTail || !strings.HasSuffix(res.Output, "\nlast line\n") {
			t.Errorf("RunHook = %d bytes ending %q, %v; want the last %d bytes", len(res.Output), tail(res.Output, 30), err, hookTail)
		}
	})
}

// TestRunHookStops: a hook that hangs is stopped at the timeout or when
// ctx ends, with everything it started; so is what a finished hook left
// running. The rows that check the processes end the hook through ctx once
// it wrote their pids (the timeout and ctx share the stopping).
func TestRunHookStops(t *testing.T) {
	rows := []struct {
		name    string
		command string // it writes the pids to check to $PIDS
		stop    bool   // cancel ctx once $PIDS is written
		want    string // in the error; "" for none
	}{
		{"hung", "sleep 1000 & echo $! > $PIDS.new; echo $$ >> $PIDS.new; mv $PIDS.new $PIDS; sleep 1000", true, "stopped: context canceled"},
		{"ignores SIGTERM", "trap '' TERM; sleep 1000 & echo $! > $PIDS.new; mv $PIDS.new $PIDS; while :; do sleep 1; done", true, "stopped: context canceled"},
		{"leaves a process behind", "sleep 1000 > /dev/null 2>&1 & echo $! > $PIDS", false, ""},
		{"leaves a process holding the output", "sleep 1000 & echo $! > $PIDS", false, ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			pids := filepath.Join(t.TempDir(), "pids")
			ctx := ctxFor(t)
			if r.stop {
				ctx = cancelOnFile(ctx, pids)
			}
			res, err := RunHook(ctx, "PIDS="+pids+"; "+r.command, "/x", hookTimeout)
			if r.want == "" && (err != nil || res.TimedOut) {
				t.Errorf("RunHook = %+v, %v; want success", res, err)
			}
			if r.want != "" && (!errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), r.want) || !res.TimedOut || res.ExitCode != -1) {
				t.Errorf("RunHook = %+v, %v; want stopped by a signal, error with %q", res, err, r.want)
			}
			for _, pid := range strings.Fields(readString(t, pids)) {
				n, _ := strconv.Atoi(pid)
				if !waitGone(n) {
					t.Errorf("process %d of the hook still runs", n)
				}
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		res, err := RunHook(ctxFor(t), "sleep 1000", "/x", 300*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "killed after the timeout of 300ms") || !res.TimedOut || res.ExitCode != -1 {
			t.Errorf("RunHook = %+v, %v; want killed after the timeout", res, err)
		}
	})
}

// cancelOnFile returns a context that ends once path exists.
func cancelOnFile(ctx context.Context, path string) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(path); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return ctx
}

// waitGone waits up to 10 s for process pid to be gone (or a zombie): a
// killed process dies when the kernel next schedules it.
func waitGone(pid int) bool {
	for range 1000 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:]); len(f) > 0 && f[0] == "Z" {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}
