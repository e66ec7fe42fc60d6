package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures are the first 512 bytes of WAL files written by etcd 3.4
// and 3.6, with the member and cluster ID etcd reported for them.
func TestReadWALIDs(t *testing.T) {
	for _, v := range []string{"3.4", "3.6"} {
		t.Run(v, func(t *testing.T) {
			head, err := os.ReadFile(filepath.Join("testdata", "etcd-"+v+".wal-header"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", "etcd-"+v+".ids"))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "0000000000000000-0000000000000000.wal"), head, 0o600); err != nil {
				t.Fatal(err)
			}
			ids, err := readWALIDs(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%x %x", ids.Member, ids.Cluster); got != strings.TrimSpace(string(want)) {
				t.Errorf("IDs %s, want %s", got, want)
			}
			for _, n := range []int{0, 7, 20, 40} {
				if _, err := parseWALHead(head[:n]); err == nil {
					t.Errorf("a header cut at %d bytes decoded", n)
				}
			}
			bad := append([]byte(nil), head...)
			bad[8] ^= 0xff // the crc record's type
			if _, err := parseWALHead(bad); err == nil {
				t.Error("a header with a broken first record decoded")
			}
		})
	}
	if _, err := readWALIDs(t.TempDir()); err == nil {
		t.Error("an empty dir has IDs")
	}
}
