package service

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
)

// While a starting member makes progress, systemd is asked for more time to
// start (EXTEND_TIMEOUT_USEC), so that a large snapshot transfer or a long
// WAL replay is not killed by TimeoutStartSec. Progress is looked at every
// extendEvery: the applied index rose, or the data on disk grew (a snapshot
// being received moves no index). Without progress nothing is asked, and the
// unit's own start timeout applies.
const (
	extendEvery = 5 * time.Second
	extendBy    = 90 * time.Second
)

// catchUp is what the last look at a starting member's progress saw.
type catchUp struct {
	at          time.Time
	applied     uint64
	bytes       int64
	leaderIndex uint64
}

// startCatchUp is the progress baseline taken when etcd is launched: the
// first look, extendEvery later, can already see progress and extend.
func (s *Service) startCatchUp() catchUp {
	return catchUp{at: s.now(), bytes: dataBytes(s.cfg.DataDir, s.cfg.WALDir)}
}

// catchingUp looks at the progress of the starting member every
// extendEvery, asks systemd for more time when it progressed, and returns a
// STATUS= line saying how far it is ("" between two looks).
func (s *Service) catchingUp(ctx context.Context, c *catchUp, h member.Health, l launch) string {
	now := s.now()
	if !c.at.IsZero() && now.Sub(c.at) < extendEvery {
		return ""
	}
	bytes := dataBytes(s.cfg.DataDir, s.cfg.WALDir)
	first := c.at.IsZero()
	progressed := !first && (h.AppliedIndex > c.applied || bytes > c.bytes)
	c.at, c.applied, c.bytes = now, max(c.applied, h.AppliedIndex), max(c.bytes, bytes)
	c.leaderIndex = max(c.leaderIndex, s.leaderIndex(ctx, l.endpoints))
	if !progressed {
		return ""
	}
	s.notify.ExtendTimeout(extendBy)
	return fmt.Sprintf("starting: catching up, applied index %d of the leader's %d, %s of data on disk",
		c.applied, c.leaderIndex, bytesText(c.bytes))
}

// leaderIndex is the raft index a healthy voter reports (0 when none
// answers).
func (s *Service) leaderIndex(ctx context.Context, endpoints []string) uint64 {
	for _, ep := range endpoints {
		st, err := member.EndpointStatus(ctx, ep, s.memberOptions())
		if err == nil {
			return st.RaftIndex
		}
	}
	return 0
}

// dataBytes adds up the sizes of the files in the data dir and the wal-dir.
func dataBytes(dirs ...string) int64 {
	var n int64
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
			return nil
		})
	}
	return n
}
