package datadir

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

var updateTestdata = flag.Bool("update-testdata", false, "rewrite testdata/*.wal-header from real etcd data dirs")

// etcdBinary is one etcd server version the tests run.
type etcdBinary struct {
	name string // used in subtest and testdata names
	path string
}

// etcdBinaries returns the etcd servers to test against (testetcd.Versions:
// a missing binary fails under CI=true).
func etcdBinaries(t *testing.T) []etcdBinary {
	t.Helper()
	var out []etcdBinary
	for _, v := range testetcd.Versions(t) {
		out = append(out, etcdBinary{name: "etcd-" + v.Name, path: v.Binary})
	}
	return out
}

// missingTool fails under CI=true and logs otherwise.
func missingTool(t *testing.T, what string) {
	t.Helper()
	if testcmd.InCI() {
		t.Fatalf("missing under CI: %s", what)
	}
	t.Logf("skipping: %s", what)
}

// tailBuffer keeps the last lines a child wrote.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
	part  string
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	parts := strings.Split(b.part+string(p), "\n")
	b.part = parts[len(parts)-1]
	b.lines = append(b.lines, parts[:len(parts)-1]...)
	if len(b.lines) > 40 {
		b.lines = b.lines[len(b.lines)-40:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(append(b.lines, b.part), "\n")
}

// realMember is a single-member etcd cluster the test ran and stopped.
type realMember struct {
	dataDir   string
	memberID  uint64
	clusterID uint64
}

// runSingleMember starts bin as a one-member cluster on ip:2379/2380 (ip in
// 127.0.3.0/24), waits until it answers a Status request, records the IDs the
// server reports, and stops it.
func runSingleMember(t *testing.T, bin, ip, token string) realMember {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "etcd")
	peer, client := "http://"+ip+":2380", "http://"+ip+":2379"
	cmd := exec.Command(bin,
		"--name", "m1", "--data-dir", dataDir, "--logger", "zap",
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m1="+peer, "--initial-cluster-state", "new",
		"--initial-cluster-token", token)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	logs := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stopEtcd(t, cmd, exited)
		}
	})
	member, cluster, err := waitStatus(client, exited)
	if err != nil {
		t.Fatalf("etcd %s on %s: %v\nlast lines:\n%s", bin, ip, err, logs)
	}
	stopped = true
	if err := stopEtcd(t, cmd, exited); err != nil {
		t.Fatalf("stop etcd %s: %v\nlast lines:\n%s", bin, err, logs)
	}
	return realMember{dataDir: dataDir, memberID: member, clusterID: cluster}
}

// waitStatus polls Status until the member answers, and checks that the
// member list agrees with it.
func waitStatus(endpoint string, exited <-chan error) (member, cluster uint64, err error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return 0, 0, fmt.Errorf("client: %w", err)
	}
	defer cli.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return 0, 0, fmt.Errorf("exited before it answered: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, endpoint)
		var ml *clientv3.MemberListResponse
		if err == nil {
			ml, err = cli.MemberList(ctx)
		}
		cancel()
		if err == nil {
			return checkMemberList(st, ml)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, 0, errors.New("no answer to Status within 60s")
}

func checkMemberList(st *clientv3.StatusResponse, ml *clientv3.MemberListResponse) (uint64, uint64, error) {
	h := st.Header
	if len(ml.Members) != 1 || ml.Members[0].ID != h.MemberId || ml.Header.ClusterId != h.ClusterId {
		return 0, 0, fmt.Errorf("status says member %x cluster %x, member list says %v (cluster %x)",
			h.MemberId, h.ClusterId, ml.Members, ml.Header.ClusterId)
	}
	return h.MemberId, h.ClusterId, nil
}

// stopEtcd sends SIGTERM, waits, then SIGKILLs.
func stopEtcd(t *testing.T, cmd *exec.Cmd, exited <-chan error) error {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			return nil // ended by the signal
		}
		return err
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("did not stop within 20s of SIGTERM; killed")
	}
}

func TestInspectRealEtcd(t *testing.T) {
	ips := map[string]string{"etcd-3.4": "127.0.3.1", "etcd-3.5": "127.0.3.5", "etcd-3.6": "127.0.3.2"}
	for _, bin := range etcdBinaries(t) {
		t.Run(bin.name, func(t *testing.T) {
			m := runSingleMember(t, bin.path, ips[bin.name], "inspect-"+bin.name)
			got, err := Inspect(Layout{DataDir: m.dataDir})
			if err != nil {
				t.Fatalf("Inspect(%s): %v", m.dataDir, err)
			}
			want := plan.LocalData{Kind: plan.DataPresent, MemberID: m.memberID, ClusterID: m.clusterID}
			if got != want {
				t.Fatalf("Inspect(%s) = %+v, server said member %x cluster %x", m.dataDir, got, m.memberID, m.clusterID)
			}
			if *updateTestdata {
				writeTestdataHeader(t, bin.name, m)
			}
		})
	}
}

func TestInspectTwoClustersDiffer(t *testing.T) {
	bin := etcdBinaries(t)[0]
	a := runSingleMember(t, bin.path, "127.0.3.3", "cluster-a")
	b := runSingleMember(t, bin.path, "127.0.3.4", "cluster-b")
	if a.memberID == b.memberID || a.clusterID == b.clusterID {
		t.Fatalf("two clusters share IDs: a %x/%x, b %x/%x", a.memberID, a.clusterID, b.memberID, b.clusterID)
	}
	for _, m := range []realMember{a, b} {
		got, err := Inspect(Layout{DataDir: m.dataDir})
		if err != nil {
			t.Fatalf("Inspect(%s): %v", m.dataDir, err)
		}
		if got.Kind != plan.DataPresent || got.MemberID != m.memberID || got.ClusterID != m.clusterID {
			t.Errorf("Inspect(%s) = %+v, want member %x cluster %x", m.dataDir, got, m.memberID, m.clusterID)
		}
	}
}

// writeTestdataHeader stores the first bytes of the real WAL and its IDs.
func writeTestdataHeader(t *testing.T, name string, m realMember) {
	t.Helper()
	walPath, _, err := findWAL(Layout{DataDir: m.dataDir})
	if err != nil || walPath == "" {
		t.Fatalf("find WAL in %s: %q %v", m.dataDir, walPath, err)
	}
	b, err := os.ReadFile(walPath)
	if err != nil {
		t.Fatal(err)
	}
	header := filepath.Join("testdata", name+".wal-header")
	if err := os.WriteFile(header, b[:512], 0o644); err != nil {
		t.Fatal(err)
	}
	ids := fmt.Sprintf("%x %x\n", m.memberID, m.clusterID)
	if err := os.WriteFile(filepath.Join("testdata", name+".ids"), []byte(ids), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRefusedStartLeavesARemnant: an etcd started as an existing member that
// cannot join (here: no peer answers) exits and leaves files behind. They
// hold no data: moved aside, they are a remnant, which never counts against
// keep-backups.
func TestRefusedStartLeavesARemnant(t *testing.T) {
	ips := map[string]string{"etcd-3.4": "127.0.3.11", "etcd-3.5": "127.0.3.12", "etcd-3.6": "127.0.3.13"}
	for _, bin := range etcdBinaries(t) {
		t.Run(bin.name, func(t *testing.T) {
			parent := t.TempDir()
			dataDir := filepath.Join(parent, "etcd")
			peer, client := "http://"+ips[bin.name]+":2380", "http://"+ips[bin.name]+":2379"
			cmd := exec.Command(bin.path,
				"--name", "m1", "--data-dir", dataDir, "--logger", "zap",
				"--listen-client-urls", client, "--advertise-client-urls", client,
				"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
				"--initial-cluster", "m1="+peer+",m2=http://127.0.3.99:2380", "--initial-cluster-state", "existing")
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			logs := &tailBuffer{}
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Run(); err == nil {
				t.Fatalf("etcd joined a cluster that does not exist:\n%s", logs)
			}
			got, err := Inspect(Layout{DataDir: dataDir})
			if err != nil || got.Kind == plan.DataPresent {
				t.Fatalf("after the refused start Inspect = %+v, %v; want no usable data", got, err)
			}
			m, err := MoveAside(Layout{DataDir: dataDir}, "", 1, moveTime)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind == plan.DataUnreadable && m.Kind != KindRemnant {
				t.Errorf("moved %+v (left: %s), want a remnant", m, got.Detail)
			}
			t.Logf("refused start left %s; moved aside as %s", got.Detail, m.Kind)
		})
	}
}
