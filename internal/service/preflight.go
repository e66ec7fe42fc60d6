package service

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os/exec"

	"github.com/hashicorp/go-multierror"
)

// preflight checks what would make etcd fail for reasons unrelated to
// membership (a port in use, a bad certificate, a missing etcd binary),
// before any membership change or data move. A failure exits 1 and touches
// nothing.
func (s *Service) preflight() error {
	var errs *multierror.Error
	if _, err := exec.LookPath(s.cfg.EtcdBinary); err != nil {
		errs = multierror.Append(errs, fmt.Errorf("etcd binary %q: %w", s.cfg.EtcdBinary, err))
	}
	for _, listen := range []struct {
		flag string
		urls []string
	}{{"listen-client-urls", s.cfg.ListenClientURLs}, {"listen-peer-urls", s.cfg.ListenPeerURLs}} {
		for _, u := range listen.urls {
			if err := portFree(u); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("%s: %w", listen.flag, err))
			}
		}
	}
	for _, pair := range [][2]string{{"cert-file", "key-file"}, {"peer-cert-file", "peer-key-file"}} {
		cert, key := s.cfg.Etcd[pair[0]], s.cfg.Etcd[pair[1]]
		if cert == "" {
			continue
		}
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("etcd %s %s: %w", pair[0], cert, err))
		}
	}
	if err := errs.ErrorOrNil(); err != nil {
		return fmt.Errorf("preflight check failed (nothing was changed): %w", err)
	}
	return nil
}

// portFree tries to listen where etcd will listen.
func portFree(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	host := u.Host
	if u.Hostname() == "localhost" {
		host = net.JoinHostPort("127.0.0.1", u.Port())
	}
	ln, err := net.Listen("tcp", host)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (another process uses it?): %w", host, err)
	}
	return ln.Close()
}
