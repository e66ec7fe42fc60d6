// Package member talks to the live etcd cluster: discovery through the peer
// API, the member list, membership changes and health, over clientv3.
package member

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Defaults for zero Options fields.
const (
	DefaultDialTimeout    = 2 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// TLS names the files for one side (client or peer). The zero value means
// plain http, or the system roots for an https URL.
type TLS struct {
	CertFile, KeyFile, TrustedCAFile string
	InsecureSkipVerify               bool
}

// IsZero reports whether nothing is set.
func (t TLS) IsZero() bool { return t == TLS{} }

// Config builds a tls.Config from the files.
func (t TLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // operator's choice
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: load certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if t.TrustedCAFile != "" {
		pem, err := os.ReadFile(t.TrustedCAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: read trusted CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS: no PEM certificate in trusted CA file %s", t.TrustedCAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Options say how to reach the cluster.
type Options struct {
	// ClientURLs are client endpoints to ask; may be empty.
	ClientURLs []string
	// PeerURLs are the other members' peer URLs, for discovery.
	PeerURLs []string
	// SelfPeerURLs are this member's peer URLs; never asked.
	SelfPeerURLs []string

	ClientTLS, PeerTLS TLS
	// Auth is the etcd user to authenticate as ("" Username: none).
	Auth Auth
	// ClientScheme, when set ("http" or "https"), is the only scheme of
	// client URLs etcd-rejoin talks to: URLs of another scheme found in
	// member lists are dropped (with TLS on, an http URL would carry the
	// cluster's view and membership calls in the clear).
	ClientScheme string
	// DialAddress, when set (host:port), is where every connection goes,
	// whatever the endpoint's host and port: the local member is named by
	// its advertised URL (whose host its TLS certificate carries) but
	// reached on its listen address.
	DialAddress string

	DialTimeout, RequestTimeout time.Duration
	Log                         *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// clientTLS returns the client tls.Config: nil for plain endpoints with no
// TLS settings.
func (o Options) clientTLS(endpoints []string) (*tls.Config, error) {
	if o.ClientTLS.IsZero() && !anyHTTPS(endpoints) {
		return nil, nil
	}
	return o.ClientTLS.Config()
}

func (o Options) peerHTTP() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	cfg, err := o.PeerTLS.Config()
	if err != nil {
		return nil, fmt.Errorf("peer %w", err)
	}
	// etcd's peer port speaks HTTP/1.1 only.
	cfg.NextProtos = []string{"http/1.1"}
	tr.TLSClientConfig = cfg
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: o.RequestTimeout}, nil
}

func (o Options) clientConfig(endpoints []string) (clientv3.Config, error) {
	cfg, err := o.clientTLS(endpoints)
	if err != nil {
		return clientv3.Config{}, fmt.Errorf("client %w", err)
	}
	password, err := o.Auth.password()
	if err != nil {
		return clientv3.Config{}, err
	}
	c := clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        o.DialTimeout,
		TLS:                cfg,
		Username:           o.Auth.Username,
		Password:           password,
		MaxCallRecvMsgSize: maxRecvMsgSize,
		Logger:             zap.NewNop(),
	}
	if addr := o.DialAddress; addr != "" {
		c.DialOptions = append(c.DialOptions, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}))
	}
	return c, nil
}

func anyHTTPS(urls []string) bool {
	for _, u := range urls {
		if strings.HasPrefix(u, "https://") {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// union appends to a the elements of b it does not hold yet.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
