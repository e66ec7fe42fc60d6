package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the metrics are served.
const Path = "/metrics"

// shutdownGrace bounds how long a scrape in flight may finish once the
// server stops.
const shutdownGrace = 2 * time.Second

// Handler serves the metrics in Prometheus' exposition formats.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Start listens on addr (host:port) and serves Path there in the
// background until ctx ends. A failure to listen (address in use, no such
// address) is returned at once. The channel receives how serving ended (nil
// after ctx ended) and is then closed. On a nil *Metrics it does nothing and
// returns a nil channel.
func (m *Metrics) Start(ctx context.Context, addr string) (<-chan error, error) {
	if m == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve metrics: listen on %s: %w", addr, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- m.serve(ctx, ln)
		close(done)
	}()
	return done, nil
}

// Serve is Start, then waits until serving ends.
func (m *Metrics) Serve(ctx context.Context, addr string) error {
	if m == nil {
		<-ctx.Done()
		return nil
	}
	done, err := m.Start(ctx, addr)
	if err != nil {
		return err
	}
	return <-done
}

func (m *Metrics) serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle(Path, m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
}
