package member

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"
)

// probeRead is how long probe waits for the server to reject the TLS
// client certificate (TLS 1.3 reports that after the handshake).
const probeRead = 200 * time.Millisecond

// probe dials endpoint itself to find why a gRPC call gave up: gRPC waits
// for a ready connection and reports only the time-out. It returns nil when
// the endpoint accepts a connection (and a TLS handshake for https).
func probe(ctx context.Context, endpoint, dialAddr string, cfg *tls.Config, timeout time.Duration) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("parse endpoint: %w", err)
	}
	if dialAddr == "" {
		dialAddr = u.Host
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", dialAddr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if u.Scheme != "https" {
		return nil
	}
	return probeTLS(ctx, conn, u.Hostname(), cfg)
}

func probeTLS(ctx context.Context, conn net.Conn, host string, cfg *tls.Config) error {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	_ = tc.SetReadDeadline(time.Now().Add(probeRead))
	if _, err := tc.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("TLS: server rejected the connection: %w", err)
	}
	return nil
}

// refused returns an error only when nothing listens at the endpoint's
// address (the connection is refused): every other outcome is left to the
// real request.
func refused(ctx context.Context, endpoint string) error {
	return refusedAt(ctx, endpoint, "")
}

// refusedAt is refused for an endpoint reached at dialAddr ("": its own
// host and port).
func refusedAt(ctx context.Context, endpoint, dialAddr string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil
	}
	if dialAddr == "" {
		dialAddr = u.Host
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", dialAddr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%s: %w", endpoint, err)
		}
		return nil
	}
	_ = conn.Close()
	return nil
}
