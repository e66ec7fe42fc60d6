package datadir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

const firstWAL = "0000000000000000-0000000000000000.wal"

// encRecord encodes a walpb.Record (test-side encoder).
func encRecord(typ int64, crc uint32, data []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(typ))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(crc))
	if data != nil {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, data)
	}
	return b
}

// frame wraps a record in a WAL frame padded to 8 bytes.
func frame(rec []byte) []byte {
	pad := (8 - len(rec)%8) % 8
	lenField := uint64(len(rec))
	if pad > 0 {
		lenField |= uint64(0x80|pad) << 56
	}
	out := binary.LittleEndian.AppendUint64(nil, lenField)
	out = append(out, rec...)
	return append(out, make([]byte, pad)...)
}

func encMetadata(member, cluster uint64) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, member)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	return protowire.AppendVarint(b, cluster)
}

// walBytes is a WAL header as etcd writes it: crc record, metadata record.
func walBytes(prevCRC uint32, member, cluster uint64) []byte {
	meta := encMetadata(member, cluster)
	sum := crc32.Update(prevCRC, castagnoli, meta)
	return append(frame(encRecord(recCRC, prevCRC, nil)), frame(encRecord(recMetadata, sum, meta))...)
}

// makeTree creates files (content) and dirs (a trailing "/") under a new dir.
func makeTree(t *testing.T, entries map[string][]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	mustMkdir(t, dir)
	for name, content := range entries {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			mustMkdir(t, p)
			continue
		}
		mustMkdir(t, filepath.Dir(p))
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
}

// realHeader returns a WAL header from testdata and the IDs the server reported.
func realHeader(t testing.TB, name string) (header []byte, member, cluster uint64) {
	t.Helper()
	header, err := os.ReadFile(filepath.Join("testdata", name+".wal-header"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := os.ReadFile(filepath.Join("testdata", name+".ids"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscanf(string(ids), "%x %x", &member, &cluster); err != nil {
		t.Fatalf("testdata/%s.ids: %v", name, err)
	}
	return header, member, cluster
}

func TestInspectTestdataHeaders(t *testing.T) {
	for _, name := range []string{"etcd-3.4", "etcd-3.6"} {
		t.Run(name, func(t *testing.T) {
			header, member, cluster := realHeader(t, name)
			dir := makeTree(t, map[string][]byte{"member/wal/" + firstWAL: header, "member/snap/db": {1}})
			got, err := Inspect(Layout{DataDir: dir})
			want := plan.LocalData{Kind: plan.DataPresent, MemberID: member, ClusterID: cluster}
			if err != nil || got != want {
				t.Fatalf("Inspect = %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

func TestInspectLayouts(t *testing.T) {
	good := walBytes(0, 0x8e9e05c52164694d, 0xcdf818194e3a8c32)
	other := walBytes(0x1234, 0x1111, 0x2222)
	tests := []struct {
		name    string
		entries map[string][]byte
		kind    plan.DataKind
		detail  string // substring of Detail
		member  uint64
	}{
		{"empty dir", nil, plan.DataNone, "", 0},
		{"only empty dirs", map[string][]byte{"member/wal/": nil, "member/snap/": nil, "lost+found/": nil}, plan.DataNone, "", 0},
		{"wal dir with no files", map[string][]byte{"member/wal/": nil}, plan.DataNone, "", 0},
		{"files but no WAL", map[string][]byte{"member/snap/db": {1, 2}}, plan.DataUnreadable, "no WAL file (DIR/member/wal/*.wal) but DIR/member/snap/db is there", 0},
		{"only preallocated tmp", map[string][]byte{"member/wal/0.tmp": make([]byte, 64)}, plan.DataUnreadable, "but DIR/member/wal/0.tmp is there", 0},
		{"stray file at top", map[string][]byte{"notes.txt": []byte("x")}, plan.DataUnreadable, "but DIR/notes.txt is there", 0},
		{"badly named wal", map[string][]byte{"member/wal/foo.wal": good}, plan.DataUnreadable, "but DIR/member/wal/foo.wal is there", 0},
		{"member is a file", map[string][]byte{"member": []byte("x")}, plan.DataUnreadable, "DIR/member is not a directory but a regular file", 0},
		{"wal is a file", map[string][]byte{"member/wal": []byte("x")}, plan.DataUnreadable, "DIR/member/wal is not a directory but a regular file", 0},
		{"wal file is a dir", map[string][]byte{"member/wal/" + firstWAL + "/": nil}, plan.DataUnreadable, "DIR/member/wal/" + firstWAL + " is not a regular file but a directory", 0},
		{"crafted wal", map[string][]byte{"member/wal/" + firstWAL: good}, plan.DataPresent, "", 0x8e9e05c52164694d},
		{"first in name order is used", map[string][]byte{
			"member/wal/0000000000000003-0000000000000010.wal": other,
			"member/wal/0000000000000004-0000000000000020.wal": good,
			"member/wal/0.tmp": []byte("garbage"),
		}, plan.DataPresent, "", 0x1111},
		{"first in name order is garbage", map[string][]byte{
			"member/wal/0000000000000003-0000000000000010.wal": []byte("garbage garbage"),
			"member/wal/0000000000000004-0000000000000020.wal": good,
		}, plan.DataUnreadable, "DIR/member/wal/0000000000000003-0000000000000010.wal: record 1 at offset 0 has length", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := makeTree(t, tt.entries)
			got, err := Inspect(Layout{DataDir: dir})
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			checkData(t, dir, got, tt.kind, tt.detail, tt.member)
		})
	}
}

func checkData(t *testing.T, dir string, got plan.LocalData, kind plan.DataKind, detail string, member uint64) {
	t.Helper()
	want := strings.ReplaceAll(detail, "DIR", dir)
	switch {
	case got.Kind != kind:
		t.Fatalf("Kind = %q (detail %q), want %q", got.Kind, got.Detail, kind)
	case kind == plan.DataUnreadable && !strings.Contains(got.Detail, want):
		t.Fatalf("Detail = %q, want it to contain %q", got.Detail, want)
	case kind != plan.DataUnreadable && got.Detail != "":
		t.Fatalf("Detail = %q, want none", got.Detail)
	case got.MemberID != member:
		t.Fatalf("MemberID = %x, want %x", got.MemberID, member)
	case kind != plan.DataPresent && got.ClusterID != 0:
		t.Fatalf("ClusterID = %x, want 0", got.ClusterID)
	}
}

func TestInspectMissingDir(t *testing.T) {
	got, err := Inspect(Layout{DataDir: filepath.Join(t.TempDir(), "nope")})
	if err != nil || got != (plan.LocalData{Kind: plan.DataNone}) {
		t.Fatalf("Inspect(missing) = %+v, %v; want none", got, err)
	}
}

func TestInspectWALFifo(t *testing.T) {
	dir := makeTree(t, map[string][]byte{"member/wal/": nil})
	if err := syscall.Mkfifo(filepath.Join(dir, "member", "wal", firstWAL), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Inspect(Layout{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	checkData(t, dir, got, plan.DataUnreadable, "DIR/member/wal/"+firstWAL+" is not a regular file but a named pipe", 0)
}

func TestInspectSymlinkedDir(t *testing.T) {
	header, member, cluster := realHeader(t, "etcd-3.4")
	target := makeTree(t, map[string][]byte{"member/wal/" + firstWAL: header})
	link := filepath.Join(t.TempDir(), "etcd")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	got, err := Inspect(Layout{DataDir: link})
	if err != nil || got.Kind != plan.DataPresent || got.MemberID != member || got.ClusterID != cluster {
		t.Fatalf("Inspect(symlink) = %+v, %v", got, err)
	}
}

// TestInspectErrors covers failures that are not about the content: they
// must be errors with no LocalData. Tests run as root, where chmod 000 does
// not deny, so the cases provoke ENOTDIR (a parent that is a file), ENOENT
// through a dangling symlink, ELOOP (a symlink loop) and a data dir path that
// is a regular file. TestInspectPermissionDenied covers EACCES.
func TestInspectErrors(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(tmp, "dangling")
	loop := filepath.Join(tmp, "loop")
	for _, l := range [][2]string{{filepath.Join(tmp, "nowhere"), dangling}, {loop, loop}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	walLink := makeTree(t, map[string][]byte{"member/wal/": nil})
	if err := os.Symlink("/nonexistent/wal", filepath.Join(walLink, "member", "wal", firstWAL)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
		is   error
		msg  string
	}{
		{"parent is a file", filepath.Join(file, "data"), syscall.ENOTDIR, "not a directory"},
		{"dangling symlink", dangling, fs.ErrNotExist, `symlink to "` + filepath.Join(tmp, "nowhere") + `" cannot be followed`},
		{"symlink loop", loop, syscall.ELOOP, "cannot be followed"},
		{"data dir is a file", file, nil, file + ": not a directory but a regular file"},
		{"wal file is a dangling symlink", walLink, fs.ErrNotExist, firstWAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Inspect(Layout{DataDir: tt.dir})
			if err == nil {
				t.Fatalf("Inspect(%s) = %+v, want an error", tt.dir, got)
			}
			if got != (plan.LocalData{}) {
				t.Errorf("Inspect returned %+v with the error, want zero LocalData", got)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestInspectWALContent(t *testing.T) {
	header, member, cluster := realHeader(t, "etcd-3.4")
	meta := encMetadata(5, 6)
	sum := crc32.Update(0, castagnoli, meta)
	crcFrame := frame(encRecord(recCRC, 0, nil))
	hugeLen := binary.LittleEndian.AppendUint64(nil, 1<<40)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	tests := []struct {
		name   string
		wal    []byte
		kind   plan.DataKind
		detail string
	}{
		{"real header", header, plan.DataPresent, ""},
		{"real header in a preallocated file", append(bytes.Clone(header), make([]byte, 1<<20)...), plan.DataPresent, ""},
		{"empty file", nil, plan.DataUnreadable, ": file ends at byte 0, before record 1"},
		{"preallocated, nothing written", make([]byte, 1<<20), plan.DataUnreadable, "record 1 at offset 0 has length 0 (the WAL ends here)"},
		{"truncated in frame header", header[:5], plan.DataUnreadable, "file ends at byte 5, before record 1"},
		{"truncated in crc record", header[:12], plan.DataUnreadable, "record 1 at offset 0 has length 4+4 padding, but the file ends at byte 12"},
		{"truncated before metadata", header[:16], plan.DataUnreadable, "file ends at byte 16, before record 2"},
		{"truncated in metadata", header[:40], plan.DataUnreadable, "record 2 at offset 16 has length 31+1 padding, but the file ends at byte 40"},
		{"garbage", garbage, plan.DataUnreadable, "record 1 at offset 0 has length"},
		{"huge length", append(hugeLen, make([]byte, 64)...), plan.DataUnreadable, "record 1 at offset 0 has length 1099511627776, more than"},
		{"first record is an entry", frame(encRecord(recEntry, 0, nil)), plan.DataUnreadable, "record 1 at offset 0 has type entry (2), want crc (4)"},
		{"second record is a snapshot", append(bytes.Clone(crcFrame), frame(encRecord(recSnapshot, 0, nil))...), plan.DataUnreadable,
			"record 2 at offset 16 has type snapshot (5), want metadata (1)"},
		{"bad metadata checksum", append(bytes.Clone(crcFrame), frame(encRecord(recMetadata, sum+1, meta))...), plan.DataUnreadable,
			fmt.Sprintf("record 2 at offset 16: metadata checksum %08x, record says %08x", sum, sum+1)},
		{"flipped bit in real metadata", flipByte(header, 40), plan.DataUnreadable, "record 2 at offset 16: metadata checksum"},
		{"zero member ID", walBytes(0, 0, 7), plan.DataUnreadable, "metadata record at offset 16: member ID 0, cluster ID 7: zero is not a valid ID"},
		{"bad protobuf tag", frame([]byte{0x00, 0x00}), plan.DataUnreadable, "record 1 at offset 0: byte 0: bad tag"},
		{"truncated varint", frame([]byte{0x08, 0xff}), plan.DataUnreadable, "record 1 at offset 0: byte 0: bad value of field 1"},
		{"data field as varint", frame([]byte{0x08, 0x04, 0x18, 0x01}), plan.DataUnreadable, "record 1 at offset 0: field data has wire type 0, want bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := makeTree(t, map[string][]byte{"member/wal/" + firstWAL: tt.wal})
			got, err := Inspect(Layout{DataDir: dir})
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if tt.kind == plan.DataPresent {
				if got.Kind != plan.DataPresent || got.MemberID != member || got.ClusterID != cluster {
					t.Fatalf("Inspect = %+v, want member %x cluster %x", got, member, cluster)
				}
				return
			}
			checkData(t, dir, got, tt.kind, "DIR/member/wal/"+firstWAL+": "+strings.TrimPrefix(tt.detail, ": "), 0)
		})
	}
}

func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// shortReader claims a size its content does not have, as a file that
// shrinks under the reader would.
type shortReader struct{ *bytes.Reader }

func TestReadWALHeaderShortReadIsIOError(t *testing.T) {
	header, _, _ := realHeader(t, "etcd-3.4")
	r := shortReader{bytes.NewReader(header[:30])}
	_, err := readWALHeader(r, int64(len(header)))
	var bad *formatError
	if err == nil || errors.As(err, &bad) {
		t.Fatalf("readWALHeader on a short read = %v, want an I/O error, not a format error", err)
	}
	if !strings.Contains(err.Error(), "read record 2 at offset 16") {
		t.Fatalf("error %q does not say where", err)
	}
}

func BenchmarkInspect(b *testing.B) {
	header, member, _ := realHeader(b, "etcd-3.6")
	dir := filepath.Join(b.TempDir(), "data")
	walDir := filepath.Join(dir, "member", "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		b.Fatal(err)
	}
	walPath := filepath.Join(walDir, firstWAL)
	if err := os.WriteFile(walPath, header, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(walPath, 64_000_000); err != nil { // sparse, as etcd preallocates
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := Inspect(Layout{DataDir: dir})
		if err != nil || got.MemberID != member {
			b.Fatalf("Inspect = %+v, %v", got, err)
		}
	}
}
