// Command etcd-rejoin owns one etcd member on one host: it decides on every
// start whether to bootstrap, restart, join, rejoin or wait, runs etcd as its
// child and keeps systemd informed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/service"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure: systemd restarts the unit
	exitConfig  = 2 // invalid configuration: RestartPreventExitStatus=2
	exitWait    = 3 // plan: it would wait
)

const usage = `usage: etcd-rejoin [--config PATH] [command]

commands:
  run            run the service (default)
  plan [--json]  print the action it would take and why; exit 0, or 3 when it would wait
  check          validate the configuration offline; exit 0, or 2 listing every problem
  version        print versions
`

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGABRT)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGABRT {
				cancel(service.ErrAborted)
			} else {
				cancel(fmt.Errorf("stopped by %v", sig))
			}
		}
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	os.Exit(code)
}

// run parses the command line and maps the outcome to an exit code.
// --config may stand before or after the command. A panic on this goroutine
// (where the service loop runs) exits 1, not Go's 2, which the unit reserves
// for invalid configurations (RestartPreventExitStatus=2).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "etcd-rejoin: panic: %v\n%s", r, debug.Stack())
			code = exitFailure
		}
	}()
	app := &app{stdout: stdout, stderr: stderr}
	top := app.flags("etcd-rejoin")
	if err := top.Parse(args); err != nil {
		return exitConfig
	}
	cmd, rest := "run", top.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = app.run(ctx, rest)
	case "plan":
		err = app.plan(ctx, rest)
	case "check":
		err = app.check(rest)
	case "version":
		err = app.version(rest)
	default:
		fmt.Fprintf(stderr, "etcd-rejoin: unknown command %q\n%s", cmd, usage)
		return exitConfig
	}
	return exitCode(err, stderr)
}

// flags returns a flag set that knows --config, for the command line and
// for each command.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() { fmt.Fprint(a.stderr, usage) }
	fs.Func("config", "configuration file (default $ETCD_REJOIN_CONFIG, else "+config.DefaultPath+" if present)",
		func(v string) error { a.configPath = v; return nil })
	return fs
}

// errWouldWait is returned by plan when the action is wait.
var errWouldWait = errors.New("would wait")

// errUsage is a bad command line.
var errUsage = errors.New("usage")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errWouldWait):
		return exitWait
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "etcd-rejoin: %v\n%s", err, usage)
		return exitConfig
	case errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(stderr, "etcd-rejoin: %v\n", err)
		return exitConfig
	default:
		fmt.Fprintf(stderr, "etcd-rejoin: %v\n", err)
		return exitFailure
	}
}
