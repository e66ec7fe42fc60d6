package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/supervise"
)

// Bounds of the etcd that --from-local-data runs on the copy.
const (
	// forcedStartTimeout: replaying a large WAL onto the backend can take
	// minutes.
	forcedStartTimeout = 10 * time.Minute
	forcedPoll         = 250 * time.Millisecond
	forcedTailLines    = 60
)

// forced is an etcd running with --force-new-cluster on a scratch copy of
// the data, on loopback only.
type forced struct {
	proc     *supervise.Process
	endpoint string
	health   member.Health
}

// loopbackIP is where the forced etcd listens: the local client URL's
// address when that is a loopback address, else 127.0.0.1. Nothing outside
// this host can reach it, so no old member can talk to it.
func (h Host) loopbackIP() string {
	if u, err := url.Parse(h.LocalClientURL); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && ip.To4() != nil {
			return ip.String()
		}
	}
	return "127.0.0.1"
}

// freePort asks the kernel for a free TCP port on ip.
func freePort(ip string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// forcedArgs are the flags of the forced etcd: this member's name on the
// copy, a new one-member cluster made of it, loopback URLs only. Nothing
// else of the configuration is passed: only what opening the data needs.
func (h Host) forcedArgs(dataDir, clientURL, peerURL string) []string {
	return []string{
		"--name=" + h.Name,
		"--data-dir=" + dataDir,
		"--force-new-cluster",
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
	}
}

// startForced starts etcd --force-new-cluster on the copy in dataDir and
// waits until it is a healthy leader of its own one-member cluster.
func (h Host) startForced(ctx context.Context, dataDir string) (*forced, error) {
	ip := h.loopbackIP()
	cport, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	pport, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	hostPort := func(p int) string { return "http://" + net.JoinHostPort(ip, strconv.Itoa(p)) }
	f := &forced{endpoint: hostPort(cport)}
	f.proc, err = supervise.Start(supervise.Spec{
		Path:      h.EtcdBinary,
		Args:      h.forcedArgs(dataDir, f.endpoint, hostPort(pport)),
		Env:       []string{"PATH=" + os.Getenv("PATH")},
		TailLines: forcedTailLines,
	})
	if err != nil {
		return nil, fmt.Errorf("start etcd --force-new-cluster: %w", err)
	}
	if err := f.await(ctx, h); err != nil {
		_ = f.proc.Stop(h.StopTimeout)
		return nil, err
	}
	return f, nil
}

// await polls the forced etcd until it leads and serves a linearizable
// read, it exits, or forcedStartTimeout passes.
func (f *forced) await(ctx context.Context, h Host) error {
	ctx, cancel := context.WithTimeout(ctx, forcedStartTimeout)
	defer cancel()
	tick := time.NewTicker(forcedPoll)
	defer tick.Stop()
	o := h.forcedOptions()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd --force-new-cluster did not become ready at %s: %w\n%s", f.endpoint, ctx.Err(), f.tail())
		case <-f.proc.Done():
			return fmt.Errorf("etcd --force-new-cluster exited before it was ready: %v\n%s", exitText(f.proc.Err()), f.tail())
		case <-tick.C:
		}
		hl, err := member.LocalHealth(ctx, f.endpoint, o)
		if err == nil && hl.Ready() && hl.Leader == hl.MemberID {
			f.health = hl
			return nil
		}
	}
}

// forcedOptions reach the forced etcd: plain http on loopback, as the
// configured etcd user (the copy holds the cluster's users when auth is on).
func (h Host) forcedOptions() member.Options {
	return member.Options{Auth: h.Cluster.Auth, DialTimeout: h.Cluster.DialTimeout, RequestTimeout: h.Cluster.RequestTimeout, Log: h.Log}
}

func (f *forced) tail() string {
	return "last lines of etcd:\n" + strings.Join(f.proc.Tail(), "\n")
}

// stop stops the forced etcd; an exit by SIGTERM is the clean one.
func (f *forced) stop(timeout time.Duration) error {
	err := f.proc.Stop(timeout)
	var ee *supervise.ExitError
	if err == nil || errors.As(err, &ee) && ee.Terminated() {
		return nil
	}
	return fmt.Errorf("stop etcd --force-new-cluster: %w", err)
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
