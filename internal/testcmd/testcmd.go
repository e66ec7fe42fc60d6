// Package testcmd holds what the system-level test suites (packages, lab)
// share: running a command with a deadline, and requiring root or a tool,
// which skips outside CI and fails under CI=true.
package testcmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// tool or privilege is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedRoot skips the test when not root, or fails it under CI. what says
// which suite needs root and why.
func NeedRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatalf("%s needs root; CI must run it as root", what)
	}
	t.Skipf("%s NOT RUN: not root; run as root, or with CI=true to make this an error", what)
}

// NeedTools skips the test when a program is not installed, or fails it
// under CI.
func NeedTools(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if InCI() {
				t.Fatalf("%s is required (scripts/deps.sh apt): %v", name, err)
			}
			t.Skipf("NOT RUN: %s not installed (scripts/deps.sh apt)", name)
		}
	}
}

// Result is the outcome of one command: its combined output and exit code.
type Result struct {
	Out  string
	Code int
}

// Run runs a command in dir ("" for the current directory) with env as its
// whole environment (nil: ours). A non-zero exit is a Result; the test
// fails only when the command cannot run at all or times out.
func Run(t testing.TB, timeout time.Duration, dir string, env []string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return Result{Out: buf.String()}
	case ctx.Err() != nil:
		t.Fatalf("%s %s: timed out after %s; output:\n%s", name, strings.Join(args, " "), timeout, buf.String())
	case errors.As(err, &exit):
		return Result{Out: buf.String(), Code: exit.ExitCode()}
	default:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return Result{}
}
