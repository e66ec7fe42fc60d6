package datadir

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzInspectWAL feeds arbitrary bytes to the WAL header decoder. It must
// never panic, must report every failure of an in-memory file as a format
// problem (there is no I/O to fail), must never return a zero ID, and must
// not depend on what follows the header.
func FuzzInspectWAL(f *testing.F) {
	for _, name := range []string{"etcd-3.4", "etcd-3.6"} {
		header, _, _ := realHeader(f, name)
		f.Add(header)
		f.Add(header[:40])
	}
	f.Add(walBytes(0x1234, 1, 2))
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readWALHeader(bytes.NewReader(b), int64(len(b)))
		var bad *formatError
		if err != nil {
			if !errors.As(err, &bad) {
				t.Fatalf("error %v is not a format error", err)
			}
			return
		}
		if h.MemberID == 0 || h.ClusterID == 0 {
			t.Fatalf("decoded zero ID: %+v", h)
		}
		more := append(bytes.Clone(b), 0xff, 0x00, 0x13)
		h2, err := readWALHeader(bytes.NewReader(more), int64(len(more)))
		if err != nil || h2 != h {
			t.Fatalf("with bytes appended: %+v, %v; before: %+v", h2, err, h)
		}
	})
}
