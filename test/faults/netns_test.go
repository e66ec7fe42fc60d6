package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// netHelper serves "hello" on LISTEN_ADDR, or dials DIAL_ADDR and prints
// what happened: run inside a member's namespace by the network tests.
func netHelper(mode string) int {
	switch mode {
	case "listen":
		l, err := net.Listen("tcp", os.Getenv("LISTEN_ADDR"))
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return 1
			}
			_, _ = io.WriteString(c, "hello\n")
			c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", os.Getenv("DIAL_ADDR"), time.Second)
		if err != nil {
			fmt.Println("error:", err)
			return 0
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print("got ", line)
		return 0
	}
	return 2
}

func needRoot(t *testing.T) {
	t.Helper()
	testcmd.NeedRoot(t, "the fault campaign (network namespaces, tmpfs)")
}

// testNet creates a network of three members in a free slot; it is
// destroyed when the test ends.
func testNet(t *testing.T) *Net {
	t.Helper()
	needRoot(t)
	cfg := Config{Slot: -1}
	unlock, err := lockSlot(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := NewNet(cfg.Slot, 3)
	t.Cleanup(func() {
		if err := n.Destroy(); err != nil {
			t.Error(err)
		}
		unlock()
	})
	if err := n.Create(); err != nil {
		t.Fatal(err)
	}
	return n
}

// listenIn serves hello on member i's address, port 7000.
func listenIn(t *testing.T, n *Net, i int) string {
	addr, _ := listenInPid(t, n, i)
	return addr
}

// listenInPid is listenIn that also returns the listener's pid.
func listenInPid(t *testing.T, n *Net, i int) (string, int) {
	t.Helper()
	addr := n.IP(i) + ":7000"
	cmd := n.Command(i, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=net-listen", "LISTEN_ADDR="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "listening\n" {
		t.Fatalf("listener in %s: %q", n.NS(i), line)
	}
	return addr, cmd.Process.Pid
}

// dialFrom dials addr from member i's namespace and returns what happened.
func dialFrom(t *testing.T, n *Net, i int, addr string) string {
	t.Helper()
	cmd := n.Command(i, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=net-dial", "DIAL_ADDR="+addr)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dial from %s: %v", n.NS(i), err)
	}
	return strings.TrimSpace(string(out))
}

func dialHub(n *Net, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := n.Dial(ctx, addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func TestNetPartitions(t *testing.T) {
	n := testNet(t)
	addr := listenIn(t, n, 0)
	if got := dialFrom(t, n, 1, addr); got != "got hello" {
		t.Fatalf("m2 -> m1 before any fault: %s", got)
	}
	if err := dialHub(n, addr); err != nil {
		t.Fatalf("hub -> m1: %v", err)
	}

	if err := n.Block(1, 0, "prohibit"); err != nil {
		t.Fatal(err)
	}
	if got := dialFrom(t, n, 1, addr); !strings.Contains(got, "error") {
		t.Errorf("m2 -> m1 through a prohibit route: %s", got)
	}
	if got := dialFrom(t, n, 2, addr); got != "got hello" {
		t.Errorf("m3 -> m1 while only m2 is blocked: %s", got)
	}
	if err := n.Block(0, 2, "blackhole"); err != nil {
		t.Fatal(err)
	}
	if got := dialFrom(t, n, 2, addr); !strings.Contains(got, "error") {
		t.Errorf("m3 -> m1 while m1's replies to m3 are dropped: %s", got)
	}
	if err := n.LinkDown(0); err != nil {
		t.Fatal(err)
	}
	if err := dialHub(n, addr); err == nil {
		t.Error("hub -> m1 with m1's link down succeeded")
	}

	if err := n.HealAll(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if got := dialFrom(t, n, i, addr); got != "got hello" {
			t.Errorf("m%d -> m1 after healing: %s", i+1, got)
		}
	}
	if err := dialHub(n, addr); err != nil {
		t.Errorf("hub -> m1 after healing: %v", err)
	}
}

func TestNetAddressesStayInTheNamespaces(t *testing.T) {
	n := testNet(t)
	out, err := exec.Command("ip", "-o", "addr").Output()
	if err != nil {
		t.Fatal(err)
	}
	if prefix := fmt.Sprintf("10.77.%d.", n.Slot); strings.Contains(string(out), prefix) {
		t.Errorf("the root namespace has an address in %s0/24:\n%s", prefix, out)
	}
}

func TestNetLeftoversAreRemoved(t *testing.T) {
	n := testNet(t)
	listenIn(t, n, 1)
	// A crashed campaign leaves its namespaces and processes; the next one
	// of the slot removes them before it creates its own.
	before := n.Pids(1)
	if len(before) == 0 {
		t.Fatal("no process in m2's namespace")
	}
	if err := NewNet(n.Slot, 0).Destroy(); err != nil {
		t.Fatal(err)
	}
	left, err := namespaces(n.prefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range before {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("process %d of a removed namespace still runs", pid)
		}
	}
}

func TestListens(t *testing.T) {
	n := testNet(t)
	_, pid := listenInPid(t, n, 2)
	if !listens(pid, 2379, 7000) {
		t.Errorf("pid %d listens on 7000 but listens() says no", pid)
	}
	if listens(pid, 2379, 2380) {
		t.Errorf("pid %d does not listen on 2379 or 2380 but listens() says so", pid)
	}
	if listens(os.Getpid(), 7000) {
		t.Error("this process does not listen on 7000 but listens() says so")
	}
}
