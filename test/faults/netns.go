package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Net is the campaign's network: a hub namespace holding a bridge, and one
// namespace per member joined to the bridge by a veth pair. Its addresses,
// 10.77.<slot>.0/24, exist only inside these namespaces, so every packet of
// the campaign stays in them; partitions are routes or links inside them.
type Net struct {
	Slot    int
	Members int

	mu     sync.Mutex
	blocks map[[2]int]string // (from, to) -> route type, inside from's namespace
	down   map[int]bool      // members whose veth is down
	hubFD  int
	dialCh chan dialReq
}

const netnsDir = "/run/netns"

// The main goroutine keeps the main thread: the hub's dialers enter the hub
// namespace on threads of their own, and /proc/<pid>/ns/net shows the main
// thread's namespace, which must stay the root one (or this process would
// count as one of the hub's, and be killed with them).
func init() { runtime.LockOSThread() }

// NewNet describes the network of a slot; nothing exists until Create.
func NewNet(slot, members int) *Net {
	return &Net{Slot: slot, Members: members, blocks: map[[2]int]string{}, down: map[int]bool{}, hubFD: -1}
}

func (n *Net) prefix() string { return fmt.Sprintf("erf%d-", n.Slot) }

// Hub is the namespace of the bridge and of the clients.
func (n *Net) Hub() string { return n.prefix() + "hub" }

// NS is member i's namespace (i from 0).
func (n *Net) NS(i int) string { return fmt.Sprintf("%sm%d", n.prefix(), i+1) }

// NSPath is the file that names member i's namespace.
func (n *Net) NSPath(i int) string { return netnsDir + "/" + n.NS(i) }

// IP is member i's address.
func (n *Net) IP(i int) string { return fmt.Sprintf("10.77.%d.%d", n.Slot, i+1) }

func (n *Net) hubIP() string { return fmt.Sprintf("10.77.%d.254", n.Slot) }

// ipCmd runs ip(8) with args.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Create builds the namespaces, the bridge and the links. Leftovers of an
// earlier run of this slot are removed first.
func (n *Net) Create() error {
	if err := n.Destroy(); err != nil {
		return fmt.Errorf("remove leftovers: %w", err)
	}
	hub := n.Hub()
	steps := [][]string{
		{"netns", "add", hub},
		{"-n", hub, "link", "set", "lo", "up"},
		{"-n", hub, "link", "add", "br0", "type", "bridge"},
		{"-n", hub, "addr", "add", n.hubIP() + "/24", "dev", "br0"},
		{"-n", hub, "link", "set", "br0", "up"},
	}
	for i := 0; i < n.Members; i++ {
		ns, veth := n.NS(i), fmt.Sprintf("m%d", i+1)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"-n", hub, "link", "set", veth, "master", "br0", "up"},
			[]string{"-n", ns, "addr", "add", n.IP(i) + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return fmt.Errorf("create network: %w", err)
		}
	}
	fd, err := unix.Open(netnsDir+"/"+hub, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open hub namespace: %w", err)
	}
	n.hubFD = fd
	n.startDialers()
	return nil
}

// Destroy kills every process left in this slot's namespaces and deletes
// them. It is safe to call when nothing exists.
func (n *Net) Destroy() error {
	if n.hubFD >= 0 {
		unix.Close(n.hubFD)
		n.hubFD = -1
	}
	names, err := namespaces(n.prefix())
	if err != nil {
		return err
	}
	for _, name := range names {
		killNamespace(name)
	}
	for _, name := range names {
		if err := ipCmd("netns", "del", name); err != nil {
			return fmt.Errorf("destroy network: %w", err)
		}
	}
	return nil
}

// namespaces lists the named network namespaces that start with prefix.
func namespaces(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// killNamespace SIGKILLs every process whose network namespace is name.
func killNamespace(name string) {
	for _, pid := range pidsInNamespace(netnsDir + "/" + name) {
		if pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// pidsInNamespace lists the processes whose network namespace is the one
// the file path names.
func pidsInNamespace(path string) []int {
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		return nil
	}
	var out []int
	for _, pid := range allPids() {
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			out = append(out, pid)
		}
	}
	return out
}

func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Command returns a command that runs name inside member i's namespace
// (nsenter execs it: the pid is the program's own).
func (n *Net) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + n.NSPath(i), "--", name}, args...)...)
}

// HubCommand is Command for the hub namespace.
func (n *Net) HubCommand(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + netnsDir + "/" + n.Hub(), "--", name}, args...)...)
}

// dialers is how many threads sit in the hub namespace to open
// connections: a dial to a cut-off member blocks one for its timeout.
const dialers = 16

type dialReq struct {
	ctx  context.Context
	addr string
	res  chan dialRes
}

type dialRes struct {
	c   net.Conn
	err error
}

// startDialers starts the goroutines that open the hub's connections, each
// locked to a thread that entered the hub namespace. They never return:
// a thread that ends while locked is destroyed, and the kernel then sends
// the parent-death signal to every child that thread forked (os/exec forks
// on whatever thread runs the caller), which would kill units at random.
func (n *Net) startDialers() {
	n.dialCh = make(chan dialReq)
	for i := 0; i < dialers; i++ {
		go n.dialer()
	}
}

func (n *Net) dialer() {
	runtime.LockOSThread()
	err := unix.Setns(n.hubFD, unix.CLONE_NEWNET)
	if err != nil {
		err = fmt.Errorf("enter hub namespace: %w", err)
	}
	var d net.Dialer
	for req := range n.dialCh {
		if err != nil {
			req.res <- dialRes{err: err}
			continue
		}
		c, derr := d.DialContext(req.ctx, "tcp", req.addr)
		req.res <- dialRes{c, derr}
	}
}

// Dial opens a TCP connection from the hub namespace.
func (n *Net) Dial(ctx context.Context, addr string) (net.Conn, error) {
	req := dialReq{ctx: ctx, addr: addr, res: make(chan dialRes, 1)}
	select {
	case n.dialCh <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := <-req.res
	return r.c, r.err
}

// Block drops what member from sends to member to, with a route of kind
// "blackhole" (silently) or "prohibit" (the sender gets an error) inside
// from's namespace. TCP needs both directions, so a one-way block stalls
// connections either way, but only from's side knows.
func (n *Net) Block(from, to int, kind string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := [2]int{from, to}
	if _, ok := n.blocks[key]; ok {
		return nil
	}
	if err := ipCmd("-n", n.NS(from), "route", "add", kind, n.IP(to)+"/32"); err != nil {
		return fmt.Errorf("block %s -> %s: %w", n.NS(from), n.IP(to), err)
	}
	n.blocks[key] = kind
	return nil
}

// LinkDown takes member i's veth down on the bridge side: it reaches
// nobody, clients included.
func (n *Net) LinkDown(i int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := ipCmd("-n", n.Hub(), "link", "set", fmt.Sprintf("m%d", i+1), "down"); err != nil {
		return fmt.Errorf("isolate %s: %w", n.NS(i), err)
	}
	n.down[i] = true
	return nil
}

// HealAll removes every block and brings every link up.
func (n *Net) HealAll() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for key, kind := range n.blocks {
		if err := ipCmd("-n", n.NS(key[0]), "route", "del", kind, n.IP(key[1])+"/32"); err != nil {
			return fmt.Errorf("heal: %w", err)
		}
		delete(n.blocks, key)
	}
	for i := range n.down {
		if err := ipCmd("-n", n.Hub(), "link", "set", fmt.Sprintf("m%d", i+1), "up"); err != nil {
			return fmt.Errorf("heal: %w", err)
		}
		delete(n.down, i)
	}
	return nil
}

// Pids lists the processes in member i's namespace.
func (n *Net) Pids(i int) []int { return pidsInNamespace(n.NSPath(i)) }
