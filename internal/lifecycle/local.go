package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"time"
)

// errLocalRuns is the refusal when this host's etcd runs.
var errLocalRuns = errors.New("this host's etcd is running: stop the service first: systemctl stop etcd-rejoin")

// localEtcd says what shows that this host's etcd runs: a lock on the data
// dir's backend, or something that accepts connections at the local client
// URL. It returns "" when nothing does.
func (h Host) localEtcd(ctx context.Context) string {
	if _, err := AppliedIndex(h.Layout.DataDir); errors.Is(err, ErrBackendLocked) {
		return "etcd holds " + Backend(h.Layout.DataDir)
	}
	if h.LocalClientURL != "" && listening(ctx, h.LocalClientURL, h.Cluster.DialTimeout) {
		return "something answers at " + h.LocalClientURL
	}
	return ""
}

// listening reports whether a TCP connection to the URL's host and port
// succeeds within timeout.
func listening(ctx context.Context, raw string, timeout time.Duration) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Host
	if u.Hostname() == "localhost" {
		host = net.JoinHostPort("127.0.0.1", u.Port())
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// appliedIndexText describes the local data's applied index for an
// operator: the index, or why it is not known.
func appliedIndexText(dataDir string) string {
	idx, err := AppliedIndex(dataDir)
	switch {
	case err == nil:
		return fmt.Sprintf("%d", idx)
	case errors.Is(err, ErrBackendLocked):
		return "unknown while etcd runs (stop it to read it)"
	case errors.Is(err, fs.ErrNotExist):
		return "none (no backend)"
	default:
		return "unreadable: " + err.Error()
	}
}
