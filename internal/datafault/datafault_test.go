package datafault

import (
	"bytes"
	"testing"
)

// Lines as etcd 3.4, 3.5 and 3.6 printed them in the fault campaign.
func TestMatch(t *testing.T) {
	tests := []struct{ line, want string }{
		{`panic: tocommit(8) is out of range [lastIndex(6)]. Was the raft log corrupted, truncated, or lost?`,
			"its raft log lacks entries it had acknowledged"},
		{`{"level":"fatal","caller":"etcdmain/etcd.go:183","msg":"discovery failed","error":"walpb: crc mismatch: expected: 4ce2119e computed: 8ae6bd75: in file '0000000000000000-0000000000000000.wal' at position: 872"}`,
			"a WAL record fails its checksum"},
		// etcd 3.4.23 after the campaign flipped bit 3 of byte 231108 of a
		// WAL file (seed 8, step 89): a record's length field
		{`{"level":"fatal","ts":"2026-11-24T12:00:58.840Z","caller":"etcdmain/etcd.go:271","msg":"discovery failed","error":"wal: max entry size limit exceeded"}`,
			"a WAL record's length is damaged"},
		{`{"level":"fatal","msg":"failed to recover v3 backend from snapshot","error":"failed to find database snapshot file (snap: snapshot file doesn't exist)"}`,
			"the backend cannot be rebuilt from the raft snapshot"},
		{`{"level":"fatal","msg":"discovery failed","error":"wal: snapshot mismatch"}`, "the WAL and the raft snapshot disagree"},
		{`{"level":"error","logger":"bbolt","msg":"both meta pages are invalid, meta0: checksum error, meta1: checksum error"}`,
			"the bbolt backend's meta pages fail their checksum"},
		{`{"level":"panic","caller":"backend/backend.go:205","msg":"failed to open database","error":"checksum error"}`,
			"bbolt refuses the backend file"},
		{`[signal SIGBUS: bus error code=0x2 addr=0x7f5c30004000 pc=0x8fc635]`,
			"the backend file is shorter than bbolt's pages (SIGBUS)"},
		// etcd 3.6.16 after a bit flipped in one of the last WAL records
		// broke its protobuf encoding (faults-short, TestReproCorruptWALRecord)
		{`{"level":"fatal","ts":"2026-11-24T13:34:19.195528Z","caller":"etcdmain/etcd.go:183","msg":"discovery failed","error":"proto: Record: wiretype end group for non-group"}`,
			"a WAL record cannot be decoded"},
		{`2026-11-24 13:34:19.195528 C | etcdmain: proto: Record: illegal tag 0 (wire type 0)`, "a WAL record cannot be decoded"},
		// a decoding error that etcd survives is no judgement on the data
		{`{"level":"warn","msg":"failed to unmarshal message","error":"proto: Record: wiretype end group for non-group"}`, ""},
		{`{"level":"warn","msg":"lost TCP streaming connection with remote peer","error":"EOF"}`, ""},
		{`{"level":"error","msg":"failed to write","error":"write /var/lib/etcd/member/wal/0.tmp: no space left on device"}`, ""},
		{`panic: runtime error: invalid memory address or nil pointer dereference`, ""},
	}
	for _, tt := range tests {
		if got := Match(tt.line); got != tt.want {
			t.Errorf("Match(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestWatcherKeepsTheFirstFaultAndPassesEverythingOn(t *testing.T) {
	var out bytes.Buffer
	w := NewWatcher(&out)
	lines := []string{
		"starting\n",
		`{"msg":"both meta pages are invalid, meta0: checksum error"}` + "\n",
		`{"msg":"failed to open database"}` + "\n",
	}
	for _, l := range lines {
		if n, err := w.Write([]byte(l)); err != nil || n != len(l) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if out.String() != lines[0]+lines[1]+lines[2] {
		t.Errorf("passed on %q", out.String())
	}
	what, line := w.Fault()
	if what != "the bbolt backend's meta pages fail their checksum" || line != `{"msg":"both meta pages are invalid, meta0: checksum error"}` {
		t.Errorf("Fault = %q, %q", what, line)
	}
	if what, line := NewWatcher(nil).Fault(); what != "" || line != "" {
		t.Errorf("a new watcher reports %q, %q", what, line)
	}
}
