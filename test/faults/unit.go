package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// UnitConfig is what a Unit needs: how to build the command, and the
// timings of the systemd unit it stands for (shortened for the campaign).
type UnitConfig struct {
	Name         string
	Command      func() *exec.Cmd // a fresh command for each start
	Env          []string
	Log          *logFile
	SocketPath   string
	Watchdog     time.Duration // WatchdogSec
	RestartDelay time.Duration
	StopTimeout  time.Duration // TimeoutStopSec
	AbortTimeout time.Duration // TimeoutAbortSec
	Clock        *Clock
}

var errDisabled = errors.New("unit disabled")

// preventRestart is RestartPreventExitStatus=: invalid usage or
// configuration, which a restart cannot fix.
var preventRestart = []int{64, 78}

// Unit runs one etcd-rejoin the way systemd runs etcd-rejoin.service:
// Type=notify with NotifyAccess=main (READY=1, STATUS= and WATCHDOG=1 come
// through a socket that learns the sender's pid), Restart=on-failure except
// for the RestartPreventExitStatus codes, the watchdog armed once READY=1
// came (SIGABRT when a ping is late, SIGKILL after TimeoutAbortSec), and
// KillMode=mixed: SIGTERM to the main process on stop, then SIGKILL to
// whatever is left of its process group, which is the unit's cgroup here.
type Unit struct {
	cfg  UnitConfig
	sock *notifySocket

	mu       sync.Mutex
	enabled  bool
	once     []string // environment for the next start only
	cur      *incarnation
	count    int
	exits    []Exit
	failed   string // why the unit gave up (no restart)
	problems []string
	wake     chan struct{}
	stopReq  chan struct{}
}

// incarnation is one run of the main process.
type incarnation struct {
	n           int
	pid         int
	extra       []string
	startedAt   time.Duration
	ready       bool
	readyAt     time.Duration
	readyStatus string
	status      string
	waiting     string // the last "waiting: ..." status
	lastPing    time.Time
	done        chan struct{}
	state       *os.ProcessState
}

// Exit is how one incarnation ended.
type Exit struct {
	Incarnation int
	At          time.Duration
	Code        int    // -1 when killed by a signal
	Signal      string // the signal that ended it, if one did
	Watchdog    bool   // the emulated systemd sent SIGABRT for a late ping
	Extra       []string
}

func (e Exit) String() string {
	how := fmt.Sprintf("exit %d", e.Code)
	if e.Signal != "" {
		how = "killed by " + e.Signal
	}
	if e.Watchdog {
		how += " (after the watchdog's SIGABRT)"
	}
	return fmt.Sprintf("#%d %s at %s", e.Incarnation, how, Stamp(e.At))
}

// NewUnit opens the unit's notify socket; nothing runs until Start.
func NewUnit(cfg UnitConfig) (*Unit, error) {
	sock, err := listenNotify(cfg.SocketPath)
	if err != nil {
		return nil, err
	}
	return &Unit{cfg: cfg, sock: sock, wake: make(chan struct{}, 1), stopReq: make(chan struct{}, 1)}, nil
}

// Run supervises the unit until ctx ends; then whatever runs is killed.
func (u *Unit) Run(ctx context.Context) {
	go u.readNotify()
	for {
		if !u.waitEnabled(ctx) {
			return
		}
		inc, err := u.spawn()
		if errors.Is(err, errDisabled) {
			continue
		}
		if err != nil {
			u.note("start failed: %v", err)
			if !sleepCtx(ctx, u.cfg.RestartDelay) {
				return
			}
			continue
		}
		watchdog := u.supervise(ctx, inc)
		u.drain(inc)
		if !u.finish(inc, watchdog) {
			continue
		}
		u.note("restarting in %s (Restart=on-failure)", u.cfg.RestartDelay)
		if !sleepCtx(ctx, u.cfg.RestartDelay) {
			return
		}
	}
}

func (u *Unit) note(format string, args ...any) {
	u.cfg.Log.Printf("systemd:", format, args...)
}

// Note writes a line of the campaign into the unit's log.
func (u *Unit) Note(format string, args ...any) {
	u.cfg.Log.Printf("campaign:", format, args...)
}

func (u *Unit) waitEnabled(ctx context.Context) bool {
	for {
		u.mu.Lock()
		on := u.enabled
		u.mu.Unlock()
		if on {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-u.wake:
		}
	}
}

// Start enables the unit: it runs now and is restarted on failure.
func (u *Unit) Start() { u.StartWith(nil) }

// StartWith is Start with extra environment for the next start only (a
// failpoint: the restart after the crash runs without it).
func (u *Unit) StartWith(extra []string) {
	u.mu.Lock()
	u.enabled = true
	u.once = extra
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *Unit) spawn() (*incarnation, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.enabled {
		return nil, errDisabled
	}
	extra := u.once
	u.once = nil
	u.count++
	n := u.count

	cmd := u.cfg.Command()
	cmd.Env = append(slices.Clone(u.cfg.Env), "NOTIFY_SOCKET="+u.cfg.SocketPath,
		fmt.Sprintf("WATCHDOG_USEC=%d", u.cfg.Watchdog.Microseconds()))
	cmd.Env = append(cmd.Env, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s: %w", u.cfg.Name, err)
	}
	inc := &incarnation{n: n, pid: cmd.Process.Pid, extra: extra, startedAt: u.cfg.Clock.Now(), done: make(chan struct{})}
	tag := fmt.Sprintf("%s#%d:", u.cfg.Name, n)
	go u.copyOutput(r, tag)
	go func() {
		_ = cmd.Wait()
		inc.state = cmd.ProcessState // read only after done is closed
		close(inc.done)
	}()
	u.cur = inc
	u.note("started %s pid %d %s", u.cfg.Name, inc.pid, strings.Join(extra, " "))
	return inc, nil
}

func (u *Unit) copyOutput(r *os.File, tag string) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		u.cfg.Log.Line(tag, sc.Text())
	}
}

// supervise waits until the main process ends, stopping it on request and
// aborting it when the watchdog runs out. It reports whether the watchdog
// fired.
func (u *Unit) supervise(ctx context.Context, inc *incarnation) (watchdog bool) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var killAt <-chan time.Time
	for {
		select {
		case <-inc.done:
			return watchdog
		case <-ctx.Done():
			_ = syscall.Kill(-inc.pid, syscall.SIGKILL)
			<-inc.done
			return watchdog
		case <-u.stopReq:
			_ = syscall.Kill(inc.pid, syscall.SIGTERM)
			killAt = time.After(u.cfg.StopTimeout)
		case <-killAt:
			u.note("SIGKILL to the process group %d (timeout)", inc.pid)
			_ = syscall.Kill(-inc.pid, syscall.SIGKILL)
			killAt = nil
		case <-tick.C:
			if !watchdog && u.watchdogLate(inc) {
				watchdog = true
				u.note("watchdog timeout: SIGABRT to pid %d", inc.pid)
				_ = syscall.Kill(inc.pid, syscall.SIGABRT)
				killAt = time.After(u.cfg.AbortTimeout)
			}
		}
	}
}

func (u *Unit) watchdogLate(inc *incarnation) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cfg.Watchdog > 0 && inc.ready && time.Since(inc.lastPing) > u.cfg.Watchdog
}

// drain waits until nothing of the incarnation's process group is left,
// SIGKILLing it after the stop timeout, as systemd empties the cgroup before
// a restart.
func (u *Unit) drain(inc *incarnation) {
	deadline := time.Now().Add(u.cfg.StopTimeout)
	for {
		left := groupMembers(inc.pid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			u.note("SIGKILL to %v, left in the group after the main process ended", left)
			_ = syscall.Kill(-inc.pid, syscall.SIGKILL)
			deadline = time.Now().Add(u.cfg.StopTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	var out []int
	for _, p := range allPids() {
		if st, ok := readStat(p); ok && st.PGrp == pgid && alive(p) {
			out = append(out, p)
		}
	}
	return out
}

// finish records how inc ended and reports whether to restart.
func (u *Unit) finish(inc *incarnation, watchdog bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	ex := Exit{Incarnation: inc.n, At: u.cfg.Clock.Now(), Code: inc.state.ExitCode(), Watchdog: watchdog, Extra: inc.extra}
	if ws, ok := inc.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.Signal = unix.SignalName(ws.Signal())
	}
	u.exits = append(u.exits, ex)
	u.cur = nil
	u.cfg.Log.Printf("systemd:", "%s ended: %s", u.cfg.Name, ex)
	switch {
	case !u.enabled:
		return false
	case ex.Code == 0:
		u.enabled = false
		u.failed = "exited 0 although nobody stopped it"
		return false
	case slices.Contains(preventRestart, ex.Code):
		u.enabled = false
		u.failed = fmt.Sprintf("exited %d (RestartPreventExitStatus): not restarted", ex.Code)
		return false
	}
	return true
}

// Stop disables the unit and stops what runs: SIGTERM, then SIGKILL to
// the group after the stop timeout. It returns once nothing is left.
func (u *Unit) Stop() {
	u.mu.Lock()
	u.enabled = false
	inc := u.cur
	u.mu.Unlock()
	if inc == nil {
		return
	}
	select {
	case u.stopReq <- struct{}{}:
	default:
	}
	<-inc.done
	u.waitGone(inc)
}

// Kill disables the unit and SIGKILLs its whole process group at once, as
// a power cut would; it returns once nothing is left.
func (u *Unit) Kill() {
	u.mu.Lock()
	u.enabled = false
	inc := u.cur
	u.mu.Unlock()
	if inc == nil {
		return
	}
	_ = syscall.Kill(-inc.pid, syscall.SIGKILL)
	u.Note("SIGKILL to the process group %d", inc.pid)
	<-inc.done
	u.waitGone(inc)
}

// waitGone waits until the unit's loop has drained inc.
func (u *Unit) waitGone(inc *incarnation) {
	for {
		u.mu.Lock()
		gone := u.cur != inc
		u.mu.Unlock()
		if gone {
			// Drop a stop request nobody consumed.
			select {
			case <-u.stopReq:
			default:
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Target names which processes of a unit a signal goes to.
type Target int

const (
	MainProcess  Target = iota // etcd-rejoin
	EtcdProcess                // its etcd child
	AllProcesses               // both (the process group)
)

func (t Target) String() string {
	return [...]string{"etcd-rejoin", "etcd", "etcd-rejoin and etcd"}[t]
}

// Signal sends sig to the target processes of the current incarnation and
// returns the pids it signalled (none when nothing runs).
func (u *Unit) Signal(t Target, sig syscall.Signal) []int {
	u.mu.Lock()
	inc := u.cur
	u.mu.Unlock()
	if inc == nil {
		return nil
	}
	var pids []int
	switch t {
	case MainProcess:
		pids = []int{inc.pid}
	case EtcdProcess:
		pids = childrenOf(inc.pid)
	case AllProcesses:
		pids = groupMembers(inc.pid)
	}
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
	u.Note("%s to %s %v", unix.SignalName(sig), t, pids)
	return pids
}

// readNotify applies every datagram from the current main process; a
// datagram from another process is a problem (NotifyAccess=main would drop
// it; from etcd, it means NOTIFY_SOCKET leaked to the child).
func (u *Unit) readNotify() {
	for {
		m, err := u.sock.read()
		if err != nil {
			return
		}
		u.apply(m)
	}
}

func (u *Unit) apply(m message) {
	u.mu.Lock()
	defer u.mu.Unlock()
	inc := u.cur
	if inc == nil || m.pid != inc.pid {
		if inc != nil {
			u.problems = append(u.problems, fmt.Sprintf("pid %d, not the main process %d of %s, sent %v to the notify socket", m.pid, inc.pid, u.cfg.Name, m.fields))
		}
		return
	}
	ready := false
	for _, f := range m.fields {
		switch f[0] {
		case "READY":
			ready = f[1] == "1"
			if ready && !inc.ready {
				inc.ready, inc.readyAt, inc.lastPing = true, u.cfg.Clock.Now(), time.Now()
			}
		case "STATUS":
			inc.status = f[1]
			if ready {
				inc.readyStatus = f[1]
			}
			if strings.HasPrefix(f[1], "waiting") {
				inc.waiting = f[1]
			}
		case "WATCHDOG":
			inc.lastPing = time.Now()
		}
	}
	for _, f := range m.fields {
		if f[0] != "WATCHDOG" {
			u.cfg.Log.Printf("notify:", "%s=%s", f[0], f[1])
		}
	}
}

// UnitState is a unit's state at one moment.
type UnitState struct {
	Name        string
	Enabled     bool
	Running     bool
	Pid         int
	Incarnation int
	StartedAt   time.Duration
	Ready       bool
	ReadyAt     time.Duration
	Status      string
	Waiting     string
	Failed      string
	Exits       []Exit
	Problems    []string
}

// Healthy is what "systemctl is-active" plus the last status would say:
// READY=1 came from this incarnation, and the status is the one sent with
// it (a degraded member sends another, and the ready one once it recovers).
func (s UnitState) Healthy() bool {
	return s.Running && s.Ready && s.Failed == "" && !strings.HasPrefix(s.Status, "degraded") &&
		!strings.HasPrefix(s.Status, "waiting") && !strings.HasPrefix(s.Status, "stopping")
}

// State returns a copy of the unit's state.
func (u *Unit) State() UnitState {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := UnitState{Name: u.cfg.Name, Enabled: u.enabled, Failed: u.failed,
		Exits: slices.Clone(u.exits), Problems: slices.Clone(u.problems)}
	if inc := u.cur; inc != nil {
		s.Running, s.Pid, s.Incarnation, s.StartedAt = true, inc.pid, inc.n, inc.startedAt
		s.Ready, s.ReadyAt, s.Status, s.Waiting = inc.ready, inc.readyAt, inc.status, inc.waiting
	}
	return s
}

// Close stops the unit's notify socket.
func (u *Unit) Close() error { return u.sock.Close() }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
