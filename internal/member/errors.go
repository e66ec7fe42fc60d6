package member

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Sentinel errors that callers branch on; returned errors wrap them.
var (
	// ErrMemberNotFound: the member ID is not (or no longer) in the cluster.
	ErrMemberNotFound = errors.New("member not found")
	// ErrTooManyLearners: the cluster already has as many learners as it allows.
	ErrTooManyLearners = errors.New("too many learner members in cluster")
	// ErrPeerURLExists: a member with that peer URL is already in the list.
	ErrPeerURLExists = errors.New("peer URL already exists")
	// ErrLearnerNotReady: the learner is not in sync with the leader yet.
	ErrLearnerNotReady = errors.New("learner not in sync with leader")
	// ErrMemberNotLearner: promote of a member that is already a voter.
	ErrMemberNotLearner = errors.New("member is not a learner")
	// ErrClusterUnhealthy: etcd refused a membership change because the
	// leader has not been connected to enough members for long enough (it
	// does so for a few seconds after a leader change or a start): retry.
	ErrClusterUnhealthy = errors.New("cluster not healthy enough for a membership change")
	// ErrNoEndpoint: no endpoint answered.
	ErrNoEndpoint = errors.New("no etcd endpoint answered")
	// ErrNoLeader: the member answered but sees no leader.
	ErrNoLeader = errors.New("member sees no leader")
	// ErrNotCaughtUp: a linearizable read through the member did not succeed.
	ErrNotCaughtUp = errors.New("member not caught up with the leader")
	// ErrLearner: the member is a learner, which refuses the request
	// (with etcd auth on, a learner refuses even to authenticate a client).
	ErrLearner = errors.New("the member is a learner")
	// ErrLockBusy: another service holds a cluster-wide lock.
	ErrLockBusy = errors.New("another etcd-rejoin holds the lock")
)

// sentinels maps etcd's gRPC errors (as rpctypes normalises them) to ours.
var sentinels = []struct {
	etcd, ours error
}{
	{rpctypes.ErrMemberNotFound, ErrMemberNotFound},
	{rpctypes.ErrTooManyLearners, ErrTooManyLearners},
	{rpctypes.ErrPeerURLExist, ErrPeerURLExists},
	{rpctypes.ErrMemberLearnerNotReady, ErrLearnerNotReady},
	{rpctypes.ErrMemberNotLearner, ErrMemberNotLearner},
	{rpctypes.ErrUnhealthy, ErrClusterUnhealthy},
	{rpctypes.Error(rpctypes.ErrGRPCNotSupportedForLearner), ErrLearner},
}

// sentinelFor returns our sentinel for one of etcd's errors, or nil.
func sentinelFor(err error) error {
	etcdErr := rpctypes.Error(err)
	for _, s := range sentinels {
		if errors.Is(etcdErr, s.etcd) {
			return s.ours
		}
	}
	if isAuth(err) {
		return ErrAuth
	}
	return nil
}

// wrap adds context to err and, when it is one of etcd's membership errors,
// makes it errors.Is-able against our sentinel as well.
func wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if ours := sentinelFor(err); ours != nil && !errors.Is(err, ours) {
		return fmt.Errorf("%s: %w: %w", what, ours, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// tlsHint names TLS when err looks like a TLS or certificate failure, so an
// operator sees the cause rather than a bare time-out.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return " (TLS: certificate not accepted)"
	}
	s := err.Error()
	if strings.Contains(s, "TLS") {
		return "" // already said (Go's own errors write "tls:")
	}
	for _, needle := range []string{"tls:", "x509:", "certificate", "handshake"} {
		if strings.Contains(s, needle) {
			return " (TLS handshake failed: check the certificate, key and CA)"
		}
	}
	return ""
}

// httpsHint is tlsHint, and for an https URL also names TLS when the
// server closed the connection (how etcd 3.4 refuses a missing client
// certificate on its peer port).
func httpsHint(url string, err error) string {
	if h := tlsHint(err); h != "" || !strings.HasPrefix(url, "https://") {
		return h
	}
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return " (TLS: the server closed the connection; check the client certificate)"
	}
	return ""
}

// describe is the one-line form of an endpoint's failure for Cluster.Errors.
func describe(endpoint string, err error) string {
	return fmt.Sprintf("%s: %v", endpoint, err)
}

// explain adds to a failed call's error what a direct connection attempt
// tells (connection refused, TLS rejected), when that is anything.
func explain(ctx context.Context, endpoint string, cfg *tls.Config, timeout time.Duration, err error) error {
	return explainVia(ctx, endpoint, "", cfg, timeout, err)
}

// explainVia is explain for an endpoint reached at dialAddr ("": its own
// host and port).
func explainVia(ctx context.Context, endpoint, dialAddr string, cfg *tls.Config, timeout time.Duration, err error) error {
	perr := probe(ctx, endpoint, dialAddr, cfg, timeout)
	if perr == nil {
		return err
	}
	return fmt.Errorf("%w (%v)%s", err, perr, httpsHint(endpoint, perr))
}
