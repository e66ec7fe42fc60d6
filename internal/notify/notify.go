// Package notify speaks systemd's sd_notify protocol: readiness, status,
// watchdog pings and stopping. Without a NOTIFY_SOCKET every call is a no-op.
// A failed send is logged once and never stops the caller.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Environment variables set by systemd for the main process of a unit.
const (
	EnvSocket      = "NOTIFY_SOCKET"
	EnvWatchdogUS  = "WATCHDOG_USEC"
	EnvWatchdogPID = "WATCHDOG_PID"
)

// writeTimeout bounds one datagram write, so a stuck manager cannot block us.
const writeTimeout = time.Second

// Notifier sends state changes to the service manager. The zero value and a
// Notifier built without a socket do nothing. Safe for concurrent use.
type Notifier struct {
	addr     *net.UnixAddr // nil: notifications disabled
	watchdog time.Duration
	log      *slog.Logger
	warned   atomic.Bool
}

// New reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID once through getenv
// (os.Getenv in main). A nil log discards.
func New(getenv func(string) string, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{log: log}
	if path := getenv(EnvSocket); path != "" {
		// A leading '@' names an abstract socket; package net maps it.
		n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	}
	n.watchdog = watchdogInterval(getenv(EnvWatchdogUS), getenv(EnvWatchdogPID), os.Getpid(), log)
	return n
}

// watchdogInterval follows go-systemd's SdWatchdogEnabled: WATCHDOG_USEC must
// be a positive integer and WATCHDOG_PID, when set, must be our pid. Anything
// else disables the watchdog (0); malformed values are logged.
func watchdogInterval(usec, pid string, self int, log *slog.Logger) time.Duration {
	if usec == "" {
		return 0
	}
	us, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || us <= 0 {
		log.Warn("ignoring malformed watchdog interval", "var", EnvWatchdogUS, "value", usec)
		return 0
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			log.Warn("ignoring malformed watchdog pid", "var", EnvWatchdogPID, "value", pid)
			return 0
		}
		if p != self {
			return 0
		}
	}
	return time.Duration(us) * time.Microsecond
}

// Enabled reports whether a notification socket is set.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is the watchdog timeout systemd gave this process, or 0
// when the watchdog is off or meant for another pid. Ping at half of it.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Ready sends READY=1.
func (n *Notifier) Ready() { n.send(daemon.SdNotifyReady) }

// Status sends STATUS=msg, folded onto one line.
func (n *Notifier) Status(msg string) { n.send(statusLine(msg)) }

// ReadyStatus sends READY=1 and STATUS=msg in one datagram.
func (n *Notifier) ReadyStatus(msg string) {
	n.send(daemon.SdNotifyReady + "\n" + statusLine(msg))
}

// Watchdog sends WATCHDOG=1.
func (n *Notifier) Watchdog() { n.send(daemon.SdNotifyWatchdog) }

// Stopping sends STOPPING=1.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// ExtendTimeout asks for d more time to start or stop
// (EXTEND_TIMEOUT_USEC). A d below one microsecond sends nothing.
func (n *Notifier) ExtendTimeout(d time.Duration) {
	if us := d.Microseconds(); us > 0 {
		n.send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(us, 10))
	}
}

// statusLine builds the STATUS= assignment; line breaks would end the
// assignment early, so they become spaces.
func statusLine(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", " ")
	msg = strings.NewReplacer("\n", " ", "\r", " ").Replace(msg)
	return "STATUS=" + msg
}

// send writes one datagram. The first failure is a warning, later ones debug.
func (n *Notifier) send(state string) {
	if !n.Enabled() {
		return
	}
	if err := n.write(state); err != nil {
		level := slog.LevelDebug
		if n.warned.CompareAndSwap(false, true) {
			level = slog.LevelWarn
		}
		n.log.Log(context.Background(), level, "sd_notify failed", "socket", n.addr.Name, "err", err)
	}
}

func (n *Notifier) write(state string) error {
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("connect to notify socket: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("set notify write deadline: %w", err)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("send %q: %w", firstField(state), err)
	}
	return nil
}

// firstField names a message in errors without its (possibly long) status text.
func firstField(state string) string {
	head, _, _ := strings.Cut(state, "\n")
	key, _, _ := strings.Cut(head, "=")
	return key
}
