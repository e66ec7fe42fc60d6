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
	"strings"
	"syscall"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/service"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes. Not 2: Go's runtime exits 2 on a panic in any goroutine and
// on fatal errors (out of memory, concurrent map writes), and those must be
// restarted like any other runtime failure.
const (
	exitOK      = 0
	exitFailure = 1  // runtime failure: systemd restarts the unit
	exitWait    = 3  // plan: it would wait
	exitUsage   = 64 // EX_USAGE, a bad command line: RestartPreventExitStatus=
	exitConfig  = 78 // EX_CONFIG, an invalid configuration: RestartPreventExitStatus=
)

// command is one subcommand: how it is called, what it does, and its
// implementation (each in a file of its own).
type command struct {
	name, args, help string
	run              func(a *app, ctx context.Context, args []string) error
}

// commands lists the subcommands in the order the usage shows them (set in
// init: help refers back to it).
var commands []command

func init() {
	commands = []command{
		{"run", "", "run the service (default)", (*app).run},
		{"plan", "[--json]", "print the action it would take and why; exit 0, or 3 when it would wait", (*app).plan},
		{"check", "", "validate the configuration offline; exit 0, or 78 listing every problem", (*app).check},
		{"status", "[--json]", "this member and its cluster at a glance; exit 0 only when this member is healthy", (*app).status},
		{"etcdctl", "[ARGS...]", "run etcdctl with the service's endpoints, TLS files and etcd user", (*app).etcdctl},
		{"snapshot", "[--output PATH]", "take a verified snapshot now, into snapshot-dir or PATH", (*app).snapshot},
		{"recover", "(--from-snapshot FILE | --from-local-data) [--dry-run]", "after a lost quorum: make this host a new one-member cluster that the others rejoin", (*app).recoverCmd},
		{"leave", "", "take this member out of its cluster for good; the service stays out", (*app).leave},
		{"join", "", "undo a leave: the service adds this member back", (*app).join},
		{"version", "", "print versions", (*app).version},
		{"help", "", "print this help", (*app).help},
	}
}

// usage is the help text, built from the commands.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: etcd-rejoin [--config PATH] [command]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-15s %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	b.WriteString("\nexit codes: 0 clean stop, 1 runtime failure, 3 plan would wait,\n64 bad command line, 78 invalid configuration\n")
	return b.String()
}

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
// (where the service loop runs) exits 1 after printing its stack.
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
		err = usageError("", err)
		if errors.Is(err, errHelp) {
			fmt.Fprint(stdout, usage())
		}
		return exitCode(err, stderr)
	}
	cmd, rest := "run", top.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	err := fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	for _, c := range commands {
		if c.name == cmd {
			err = c.run(app, ctx, rest)
		}
	}
	return exitCode(err, stderr)
}

// usageError turns a flag parsing error into a usage error; a request for
// help (-h, --help) is none.
func usageError(cmd string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	if cmd != "" {
		return fmt.Errorf("%w: %s: %v", errUsage, cmd, err)
	}
	return fmt.Errorf("%w: %v", errUsage, err)
}

// flags returns a flag set that knows --config, for the command line and
// for each command.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("config", "configuration file (default $ETCD_REJOIN_CONFIG, else "+config.DefaultPath+" if present)",
		func(v string) error { a.configPath = v; return nil })
	return fs
}

// errWouldWait is returned by plan when the action is wait.
var errWouldWait = errors.New("would wait")

// errUsage is a bad command line.
var errUsage = errors.New("bad command line")

// errHelp is a request for help: the usage goes to stdout, exit 0.
var errHelp = errors.New("help requested")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errWouldWait):
		return exitWait
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "etcd-rejoin: %v\n%s", err, usage())
		return exitUsage
	case errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(stderr, "etcd-rejoin: %v\n", err)
		return exitConfig
	default:
		fmt.Fprintf(stderr, "etcd-rejoin: %v\n", err)
		return exitFailure
	}
}
