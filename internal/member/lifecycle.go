package member

import (
	"context"
	"fmt"
	"io"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// OpenSnapshot streams a snapshot of the member at endpoint alone (etcd's
// maintenance Snapshot: its backend database followed by the database's
// sha256). Closing the stream closes the client it opened. The stream ends
// with an error when ctx ends.
func OpenSnapshot(ctx context.Context, endpoint string, o Options) (io.ReadCloser, error) {
	o = o.withDefaults()
	cfg, err := o.clientConfig([]string{endpoint})
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", endpoint, err)
	}
	cli, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", endpoint, err)
	}
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("snapshot of %s: %w", endpoint, explain(ctx, endpoint, cfg.TLS, o.DialTimeout, err))
	}
	return &snapshotStream{ReadCloser: rc, cli: cli}, nil
}

// snapshotStream closes its client with the stream.
type snapshotStream struct {
	io.ReadCloser
	cli *clientv3.Client
}

func (s *snapshotStream) Close() error {
	err := s.ReadCloser.Close()
	if cerr := s.cli.Close(); err == nil {
		err = cerr
	}
	return err
}
