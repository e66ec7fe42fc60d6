// Package lifecycle is the member's life beyond its start: periodic
// snapshots (RunSnapshots) and one on demand (SnapshotNow), recovery of a
// cluster that lost its quorum from a snapshot or from this host's own data
// (Recover), and a deliberate leave and the way back (Leave, Join).
//
// Everything here acts on one host, described by Host, and records what it
// did in etcd-rejoin's state file, which the service's decision reads: a
// recovered member is started whatever the old members say, a member that
// left waits until `join`.
package lifecycle

import (
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
)

// Host is this host's member as the configuration describes it.
type Host struct {
	Name     string
	PeerURLs []string
	Layout   datadir.Layout
	// StateFile is etcd-rejoin's state file.
	StateFile string
	// BackupDir and KeepBackups say where and how many moved-aside data
	// dirs go (datadir.MoveAside).
	BackupDir   string
	KeepBackups int
	// EtcdBinary is the etcd server; its release picks the restore tool.
	EtcdBinary string
	// LocalClientURL is where this host's own member listens; LocalEndpoint
	// the URL it is asked by, with Local (under TLS, its advertised URL,
	// dialled at LocalClientURL, so that its certificate's name is checked).
	LocalClientURL string
	LocalEndpoint  string
	// ClusterToken is the configured initial-cluster-token; a recovery
	// derives its new, unique token from it.
	ClusterToken string
	// Snapshots are the snapshot settings (Dir, Keep, Command, ...).
	Snapshots Schedule
	// Cluster says how to reach the other members; Local how to reach this
	// host's own member (its certificate's name).
	Cluster, Local member.Options
	// StopTimeout bounds the stop of an etcd this package started.
	StopTimeout time.Duration
	// WaitBackoffMax is the service's longest pause between two looks.
	WaitBackoffMax time.Duration
	Log            *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// HostFromConfig describes the configured member.
func HostFromConfig(cfg *config.Config, log *slog.Logger) Host {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	endpoint, local := member.LocalFor(cfg, log)
	s := cfg.Snapshot
	return Host{
		Name:           cfg.Name,
		PeerURLs:       cfg.PeerURLs,
		Layout:         datadir.Layout{DataDir: absPath(cfg.DataDir), WALDir: absPath(cfg.WALDir)},
		StateFile:      absPath(cfg.StateFile),
		BackupDir:      absPath(cfg.BackupDir),
		KeepBackups:    cfg.KeepBackups,
		EtcdBinary:     cfg.EtcdBinary,
		LocalClientURL: cfg.LocalClientURL,
		LocalEndpoint:  endpoint,
		ClusterToken:   cfg.Etcd["initial-cluster-token"],
		Snapshots: Schedule{Interval: s.Interval, Keep: s.Keep, Dir: absPath(s.Dir),
			Command: s.Command, CommandTimeout: s.CommandTimeout},
		Cluster:        member.OptionsFor(cfg, log),
		Local:          local,
		StopTimeout:    cfg.StopTimeout,
		WaitBackoffMax: cfg.WaitBackoffMax,
		Log:            log,
	}
}

// absPath makes a configured path absolute against the current directory
// (the service's working directory, for the service), so that what the
// commands print and record names the place for sure; "" stays "".
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (h Host) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
