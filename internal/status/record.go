package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
)

// States of the service, as the record names them.
const (
	StateStarting = "starting" // observing, deciding, acting
	StateWaiting  = "waiting"  // decided wait; looks again with backoff
	StateJoining  = "joining"  // etcd started, not ready yet
	StateRunning  = "running"  // ready: voting and caught up
	StateDegraded = "degraded" // running, but the last health check failed
	StateStopping = "stopping"
)

// Record is what the service writes about itself for `etcd-rejoin status`:
// its state and the last outcome of each kind of event. Times are UTC.
type Record struct {
	State      string    `json:"state"`
	StateSince time.Time `json:"state_since"`
	// Detail is the service's last STATUS= line.
	Detail   string          `json:"detail,omitempty"`
	Decision *DecisionRecord `json:"last_decision,omitempty"`
	Heal     *HealRecord     `json:"last_heal,omitempty"`
	Snapshot *SnapshotRecord `json:"last_snapshot,omitempty"`
	Defrag   *DefragRecord   `json:"last_defrag,omitempty"`
	// PID is the service's process ID, to tell a stale record from a live
	// one.
	PID int `json:"pid,omitempty"`
}

// DecisionRecord is one decision.
type DecisionRecord struct {
	Action string    `json:"action"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// HealRecord is one start that ended ready: the decided action and how long
// it took from the decision to ready.
type HealRecord struct {
	Action          string    `json:"action"`
	DurationSeconds float64   `json:"duration_seconds"`
	At              time.Time `json:"at"`
}

// SnapshotRecord is the outcome of one snapshot.
type SnapshotRecord struct {
	At              time.Time `json:"at"`
	OK              bool      `json:"ok"`
	Path            string    `json:"path,omitempty"`
	SizeBytes       int64     `json:"size_bytes,omitempty"`
	DurationSeconds float64   `json:"duration_seconds"`
	Error           string    `json:"error,omitempty"`
}

// DefragRecord is the outcome of one defragmentation run of this member.
type DefragRecord struct {
	At time.Time `json:"at"`
	// Outcome is defrag.Result's: defragmented, not-due, busy, degraded,
	// leader-waits, failed.
	Outcome         string  `json:"outcome"`
	Detail          string  `json:"detail,omitempty"`
	BeforeBytes     int64   `json:"before_bytes,omitempty"`
	BeforeInUse     int64   `json:"before_in_use_bytes,omitempty"`
	AfterBytes      int64   `json:"after_bytes,omitempty"`
	AfterInUse      int64   `json:"after_in_use_bytes,omitempty"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
}

// RecordPath is the record's file beside the state file, e.g.
// default.etcd.rejoin-state.json -> default.etcd.rejoin-status.json.
func RecordPath(stateFile string) string { return datadir.BesideState(stateFile, "status") }

// maxRecord bounds what Load reads.
const maxRecord = 1 << 20

// Load reads the record at path. A missing file is the zero Record and no
// error (the service has not written one yet).
func Load(path string) (Record, error) {
	var r Record
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("load status record: %w", err)
	}
	if len(b) > maxRecord {
		return r, fmt.Errorf("load status record %s: %d bytes, more than a record holds", path, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("load status record %s: %w", path, err)
	}
	return r, nil
}

// Save writes r to path atomically (a temporary file in the same
// directory, renamed over path), mode 0640: it names nothing secret, and
// the service's group may read it. The directory must exist.
func Save(path string, r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("save status record: %w", err)
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("save status record: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o640)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Recorder keeps the service's Record and saves it after every change. It
// is safe for concurrent use; a nil *Recorder does nothing. A failure to
// save is logged (once until a save succeeds again), never returned: the
// record serves the operator and must not stop the service.
type Recorder struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	r      Record
	failed bool
}

// NewRecorder returns a Recorder that writes to path, starting from the
// record already there (so that the last snapshot and defragmentation
// survive a restart), with state starting and this process's PID.
func NewRecorder(path string, log *slog.Logger) *Recorder {
	rec := &Recorder{path: path, log: log, now: time.Now}
	r, err := Load(path)
	if err != nil {
		log.Warn("status record unreadable; starting a new one", "err", err)
		r = Record{}
	}
	r.PID = os.Getpid()
	rec.r = r
	rec.State(StateStarting, "")
	return rec
}

// Record returns a copy of the current record.
func (rec *Recorder) Record() Record {
	if rec == nil {
		return Record{}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.r
}

// State records the service's state and its STATUS= line; the time it
// changed is kept while the state stays the same.
func (rec *Recorder) State(state, detail string) {
	rec.update(func(r *Record, now time.Time) {
		if r.State != state {
			r.State, r.StateSince = state, now
		}
		r.Detail = detail
	})
}

// Decision records a decision.
func (rec *Recorder) Decision(action, reason string) {
	rec.update(func(r *Record, now time.Time) {
		r.Decision = &DecisionRecord{Action: action, Reason: reason, At: now}
	})
}

// Healed records a start that ended ready, took after its decision.
func (rec *Recorder) Healed(action string, took time.Duration) {
	rec.update(func(r *Record, now time.Time) {
		r.Heal = &HealRecord{Action: action, DurationSeconds: took.Seconds(), At: now}
	})
}

// Snapshot records a snapshot's outcome: err nil for one that succeeded.
func (rec *Recorder) Snapshot(path string, size int64, took time.Duration, err error) {
	rec.update(func(r *Record, now time.Time) {
		s := &SnapshotRecord{At: now, OK: err == nil, Path: path, SizeBytes: size, DurationSeconds: took.Seconds()}
		if err != nil {
			s.Error = err.Error()
		}
		r.Snapshot = s
	})
}

// Defrag records a defragmentation run's outcome.
func (rec *Recorder) Defrag(d DefragRecord) {
	rec.update(func(r *Record, now time.Time) {
		if d.At.IsZero() {
			d.At = now
		}
		r.Defrag = &d
	})
}

func (rec *Recorder) update(f func(r *Record, now time.Time)) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f(&rec.r, rec.now().UTC())
	err := Save(rec.path, rec.r)
	switch {
	case err != nil && !rec.failed:
		rec.log.Warn("cannot write the status record (etcd-rejoin status will lack it)", "err", err)
		rec.failed = true
	case err == nil && rec.failed:
		rec.log.Info("status record written again", "path", rec.path)
		rec.failed = false
	}
}
