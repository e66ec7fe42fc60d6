package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// HookPathEnv is the environment variable that carries the snapshot's path
// to the snapshot-command and everything it starts. It is outside the
// ETCD_ namespace on purpose: a hook that runs etcd-rejoin or etcdctl must
// not have it read as configuration.
const HookPathEnv = "SNAPSHOT_PATH"

// Bounds of a hook run.
const (
	// hookGrace is how long the hook's process group has between SIGTERM
	// (at the timeout) and SIGKILL.
	hookGrace = 2 * time.Second
	// hookOutputWait bounds the wait for the hook's output once it exited,
	// when a process it left behind still holds the pipe.
	hookOutputWait = time.Second
	// hookTail is how many bytes of the hook's last output are kept.
	hookTail = 4096
)

// hookShell runs the command.
const hookShell = "/bin/sh"

// HookResult is how a snapshot-command run ended.
type HookResult struct {
	// ExitCode is the shell's exit status; -1 when a signal ended it or it
	// did not start.
	ExitCode int
	// TimedOut is true when the timeout (or ctx) ended it.
	TimedOut bool
	// Output is the tail of its standard output and error, interleaved.
	Output string
	// Duration is how long it ran.
	Duration time.Duration
}

// RunHook runs the operator's snapshot-command after a good snapshot, as
//
//	/bin/sh -c COMMAND etcd-rejoin-snapshot PATH
//
// so that an inline command reads the path as "$1" (rsync -a "$1"
// backup:/etcd/), and with SNAPSHOT_PATH=PATH in its environment, which
// reaches a script that COMMAND merely names (/usr/local/bin/ship-snapshot)
// and every process it starts. Both because either one alone surprises
// someone: a script named as the command does not see the shell's "$1", and
// an inline command reads most naturally with "$1", as in find -exec sh -c.
// The environment is the caller's, minus systemd's notification variables.
//
// The hook runs in a process group of its own, standard input closed. At
// the timeout (none when not positive), or when ctx ends, the whole group
// gets SIGTERM, then SIGKILL 2 s later; once the shell exits, whatever it
// left running in its group is killed too, so nothing outlives a run. The
// error is nil only for exit status 0.
func RunHook(ctx context.Context, command, path string, timeout time.Duration) (HookResult, error) {
	res, err := runHook(ctx, command, path, timeout)
	if err != nil {
		return res, fmt.Errorf("snapshot-command for %s: %w", path, err)
	}
	return res, nil
}

func runHook(ctx context.Context, command, path string, timeout time.Duration) (HookResult, error) {
	out := &tailBuffer{max: hookTail}
	cmd := exec.Command(hookShell, "-c", command, "etcd-rejoin-snapshot", path)
	cmd.Env = hookEnv(os.Environ(), path)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = hookOutputWait
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return HookResult{ExitCode: -1}, fmt.Errorf("start: %w", err)
	}
	timedOut, err := waitGroup(ctx, cmd, timeout)
	res := HookResult{ExitCode: cmd.ProcessState.ExitCode(), TimedOut: timedOut, Output: out.String(), Duration: time.Since(start)}
	switch {
	case timedOut && ctx.Err() != nil:
		return res, fmt.Errorf("stopped: %w", ctx.Err())
	case timedOut:
		return res, fmt.Errorf("killed after the timeout of %v", timeout)
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		return res, err
	}
	return res, nil
}

// waitGroup waits for cmd, whose process leads its own group, for at most
// timeout (none when not positive) or until ctx ends, then stops the group:
// SIGTERM, SIGKILL after hookGrace. Whatever is left of the group once the
// leader exited is killed before the leader is reaped, while its unreaped
// pid still holds the group id: no other group can be hit. It reports
// whether the wait was cut short.
func waitGroup(ctx context.Context, cmd *exec.Cmd, timeout time.Duration) (bool, error) {
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		waitExited(pgid)
		close(exited)
	}()
	cut := !waitOrStop(ctx, exited, timeout, pgid)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return cut, exitError(cmd.Wait())
}

// waitOrStop waits for exited, the timeout or ctx; on the last two it
// stops the group pgid and waits for exited. It reports whether the
// process exited by itself.
func waitOrStop(ctx context.Context, exited <-chan struct{}, timeout time.Duration, pgid int) bool {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-exited:
		return true
	case <-expired:
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
		return false
	case <-time.After(hookGrace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
	return false
}

// waitExited returns once process pid has exited, without reaping it.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// exitError turns a non-zero exit status into a plain error.
func exitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return errors.New(ee.ProcessState.String())
	}
	return err
}

// hookEnv is environ without systemd's notification variables (the hook
// must not speak for the service), with HookPathEnv set to path.
func hookEnv(environ []string, path string) []string {
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", HookPathEnv:
			continue
		}
		env = append(env, kv)
	}
	return append(env, HookPathEnv+"="+path)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
