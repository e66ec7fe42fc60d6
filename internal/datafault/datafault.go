// Package datafault recognises, in etcd's output, the errors with which etcd
// refuses to run on damaged data: a WAL that lost entries the member had
// acknowledged, a WAL record or a bbolt file that fails its checksum, a
// bbolt file cut short. etcd exits on each of them at every start on the
// same data; the service judges the data (see service) instead of restarting
// it forever.
package datafault

import (
	"io"
	"strings"
	"sync"
)

// signatures are the fragments of etcd's own messages, with what each says
// of the data. Each names where etcd (or a library it links) writes it.
var signatures = []struct{ text, what string }{
	// raft's raftLog.commitTo, when the leader's commit index is past the
	// last entry of this member's log: entries it had acknowledged are gone.
	{"Was the raft log corrupted, truncated, or lost?", "its raft log lacks entries it had acknowledged"},
	// walpb.ErrCRCMismatch ("walpb: crc mismatch") and wal.ErrCRCMismatch
	// ("wal: crc mismatch"), returned by the WAL decoder and ReadAll.
	{"crc mismatch", "a WAL record fails its checksum"},
	// wal.ErrSliceOutOfRange: a WAL record claims more bytes than the file has.
	{"wal: slice bounds out of range", "a WAL record is cut short"},
	// wal.ErrMaxWALEntrySizeLimitExceeded: a record's length field is
	// damaged (larger than any record etcd writes).
	{"wal: max entry size limit exceeded", "a WAL record's length is damaged"},
	// wal.ErrSnapshotMismatch and wal.ErrSnapshotNotFound: the WAL and the
	// raft snapshots in member/snap disagree.
	{"wal: snapshot mismatch", "the WAL and the raft snapshot disagree"},
	{"wal: snapshot not found", "the raft snapshot the WAL names is missing"},
	// etcdserver, when the backend cannot be rebuilt from the raft
	// snapshot ("failed to recover v3 backend from snapshot") or the
	// backend file the snapshot names is missing.
	{"failed to recover v3 backend", "the backend cannot be rebuilt from the raft snapshot"},
	{"failed to find database snapshot file", "the backend file of the raft snapshot is missing"},
	// bbolt's Open, when neither meta page passes its checksum, and
	// etcd's backend.newBackend panicking on that ("failed to open database").
	{"both meta pages are invalid", "the bbolt backend's meta pages fail their checksum"},
	{"failed to open database", "bbolt refuses the backend file"},
	// The Go runtime, when bbolt reads a page of its memory map past the end
	// of a backend file that was cut short.
	{"signal SIGBUS", "the backend file is shorter than bbolt's pages (SIGBUS)"},
}

// fatalSignatures count only in a line in which etcd gives up (a fatal or
// panic log entry): decoding errors of the records etcd reads at start. A
// bit flipped in a WAL record can break its protobuf encoding before its
// checksum is compared (walpb.Record's generated Unmarshal: "proto: Record:
// wiretype end group for non-group", "illegal tag", "wrong wireType",
// "integer overflow", "negative length"), and raftpb's entries, hard states
// and snapshots inside it likewise.
var fatalSignatures = []struct{ text, what string }{
	{"proto: Record:", "a WAL record cannot be decoded"},
	{"proto: Entry:", "a raft entry in the WAL cannot be decoded"},
	{"proto: HardState:", "a raft hard state in the WAL cannot be decoded"},
	{"proto: Snapshot:", "a raft snapshot record cannot be decoded"},
	{"proto: wrong wireType", "a WAL record cannot be decoded"},
	{"proto: integer overflow", "a WAL record cannot be decoded"},
	{"proto: negative length found during unmarshaling", "a WAL record cannot be decoded"},
}

// fatalMarks say that etcd gives up in this line: zap's fatal and panic
// levels, capnslog's critical level (etcd 3.4's default logger), a Go panic.
var fatalMarks = []string{`"level":"fatal"`, `"level":"panic"`, " C | ", "panic: "}

// Match says what line reports about the data, or "".
func Match(line string) string {
	for _, s := range signatures {
		if strings.Contains(line, s.text) {
			return s.what
		}
	}
	if !containsAny(line, fatalMarks) {
		return ""
	}
	for _, s := range fatalSignatures {
		if strings.Contains(line, s.text) {
			return s.what
		}
	}
	return ""
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// maxLine bounds the line a Watcher keeps.
const maxLine = 300

// Watcher passes etcd's output through to out and keeps the first line that
// reports damaged data.
type Watcher struct {
	out io.Writer

	mu          sync.Mutex
	what, first string
}

// NewWatcher returns a Watcher writing to out (nil: nowhere).
func NewWatcher(out io.Writer) *Watcher {
	if out == nil {
		out = io.Discard
	}
	return &Watcher{out: out}
}

// Write takes one line of etcd's output (supervise writes a line per call).
func (w *Watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.what == "" {
		if what := Match(string(p)); what != "" {
			line := strings.TrimSpace(string(p))
			if len(line) > maxLine {
				line = line[:maxLine] + "..."
			}
			w.what, w.first = what, line
		}
	}
	w.mu.Unlock()
	return w.out.Write(p)
}

// Fault returns what the output said of the data and the line that said
// it, or "" and "" when it said nothing of the kind.
func (w *Watcher) Fault() (what, line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.what, w.first
}
