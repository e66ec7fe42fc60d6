package datadir

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// WAL record types (walpb.Record.Type).
const (
	recMetadata = 1
	recEntry    = 2
	recState    = 3
	recCRC      = 4
	recSnapshot = 5
)

const (
	frameHeaderLen = 8
	// maxHeaderRecord bounds the crc and metadata records: both hold a few
	// dozen bytes, so anything larger is garbage and is not read.
	maxHeaderRecord = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walHeader is what the first two records of a WAL file say.
type walHeader struct {
	MemberID  uint64
	ClusterID uint64
}

// formatError says why a WAL header cannot be decoded: it is about the
// content, unlike the I/O errors the reader may return.
type formatError struct{ msg string }

func (e *formatError) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return &formatError{msg: fmt.Sprintf(format, args...)}
}

// record is one decoded walpb.Record.
type record struct {
	Type int64
	CRC  uint32
	Data []byte
}

// readWALHeader decodes the crc record and the metadata record at the start
// of a WAL file of the given size and checks the metadata checksum. Content
// problems are *formatError; read failures are returned wrapped as they are.
func readWALHeader(r io.ReaderAt, size int64) (walHeader, error) {
	first, next, err := readRecord(r, size, 0, 1)
	if err != nil {
		return walHeader{}, err
	}
	if first.Type != recCRC {
		return walHeader{}, badf("record 1 at offset 0 has type %s, want crc (%d)", typeName(first.Type), recCRC)
	}
	meta, _, err := readRecord(r, size, next, 2)
	if err != nil {
		return walHeader{}, err
	}
	if meta.Type != recMetadata {
		return walHeader{}, badf("record 2 at offset %d has type %s, want metadata (%d)", next, typeName(meta.Type), recMetadata)
	}
	if sum := crc32.Update(first.CRC, castagnoli, meta.Data); sum != meta.CRC {
		return walHeader{}, badf("record 2 at offset %d: metadata checksum %08x, record says %08x", next, sum, meta.CRC)
	}
	return decodeMetadata(meta.Data, next)
}

// readRecord reads the frame at off and decodes its record. It returns the
// record and the offset of the next frame.
func readRecord(r io.ReaderAt, size, off int64, n int) (record, int64, error) {
	length, pad, err := readFrameHeader(r, size, off, n)
	if err != nil {
		return record{}, 0, err
	}
	buf := make([]byte, length)
	if err := readFull(r, buf, off+frameHeaderLen, size); err != nil {
		return record{}, 0, fmt.Errorf("read record %d at offset %d: %w", n, off, err)
	}
	rec, err := decodeRecord(buf)
	if err != nil {
		return record{}, 0, badf("record %d at offset %d: %v", n, off, err)
	}
	return rec, off + frameHeaderLen + length + pad, nil
}

// readFrameHeader reads and checks the 8-byte frame header at off.
func readFrameHeader(r io.ReaderAt, size, off int64, n int) (length, pad int64, err error) {
	if size-off < frameHeaderLen {
		return 0, 0, badf("file ends at byte %d, before record %d", size, n)
	}
	var hdr [frameHeaderLen]byte
	if err := readFull(r, hdr[:], off, size); err != nil {
		return 0, 0, fmt.Errorf("read frame header %d at offset %d: %w", n, off, err)
	}
	length, pad = decodeFrameLen(hdr)
	switch {
	case length == 0:
		return 0, 0, badf("record %d at offset %d has length 0 (the WAL ends here)", n, off)
	case length > maxHeaderRecord:
		return 0, 0, badf("record %d at offset %d has length %d, more than the %d a header record can have", n, off, length, maxHeaderRecord)
	case length+pad > size-off-frameHeaderLen:
		return 0, 0, badf("record %d at offset %d has length %d+%d padding, but the file ends at byte %d", n, off, length, pad, size)
	}
	return length, pad, nil
}

// decodeFrameLen splits a frame header into the record length (lower 56
// bits) and the pad byte count (bits 56..58, only when the top bit is set).
func decodeFrameLen(hdr [frameHeaderLen]byte) (length, pad int64) {
	v := uint64(hdr[0]) | uint64(hdr[1])<<8 | uint64(hdr[2])<<16 | uint64(hdr[3])<<24 |
		uint64(hdr[4])<<32 | uint64(hdr[5])<<40 | uint64(hdr[6])<<48 | uint64(hdr[7])<<56
	length = int64(v & (1<<56 - 1))
	if v&(1<<63) != 0 {
		pad = int64(v >> 56 & 0x7)
	}
	return length, pad
}

// readFull reads len(buf) bytes at off; a short read of a file that claims
// to be longer is an I/O problem, not a format one.
func readFull(r io.ReaderAt, buf []byte, off, size int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("file shorter than its size %d: %w", size, io.ErrUnexpectedEOF)
	}
	return err
}

// decodeRecord decodes walpb.Record {int64 type = 1; uint32 crc = 2; bytes data = 3}.
func decodeRecord(b []byte) (record, error) {
	var rec record
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case 1:
			if typ != protowire.VarintType {
				return fmt.Errorf("field type has wire type %d, want varint", typ)
			}
			rec.Type = int64(v)
		case 2:
			if typ != protowire.VarintType || v > 1<<32-1 {
				return fmt.Errorf("field crc is not a uint32 varint")
			}
			rec.CRC = uint32(v)
		case 3:
			if typ != protowire.BytesType {
				return fmt.Errorf("field data has wire type %d, want bytes", typ)
			}
			rec.Data = data
		}
		return nil
	})
	return rec, err
}

// decodeMetadata decodes etcdserverpb.Metadata {uint64 NodeID = 1; uint64 ClusterID = 2}.
func decodeMetadata(b []byte, off int64) (walHeader, error) {
	var h walHeader
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
		if num != 1 && num != 2 {
			return nil
		}
		if typ != protowire.VarintType {
			return fmt.Errorf("field %d has wire type %d, want varint", num, typ)
		}
		if num == 1 {
			h.MemberID = v
		} else {
			h.ClusterID = v
		}
		return nil
	})
	switch {
	case err != nil:
		return walHeader{}, badf("metadata record at offset %d: %v", off, err)
	case h.MemberID == 0 || h.ClusterID == 0:
		return walHeader{}, badf("metadata record at offset %d: member ID %x, cluster ID %x: zero is not a valid ID", off, h.MemberID, h.ClusterID)
	}
	return h, nil
}

// eachField calls fn for every field of a protobuf message; v is set for
// varints, data for length-delimited fields. Other wire types are skipped.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error) error {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return fmt.Errorf("byte %d: bad tag: %w", off, protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return fmt.Errorf("byte %d: bad value of field %d: %w", off, num, protowire.ParseError(m))
		}
		val := b[off+n : off+n+m]
		var v uint64
		var data []byte
		switch typ {
		case protowire.VarintType:
			v, _ = protowire.ConsumeVarint(val)
		case protowire.BytesType:
			data, _ = protowire.ConsumeBytes(val)
		}
		if err := fn(num, typ, v, data); err != nil {
			return err
		}
		off += n + m
	}
	return nil
}

func typeName(t int64) string {
	names := map[int64]string{recMetadata: "metadata", recEntry: "entry", recState: "state", recCRC: "crc", recSnapshot: "snapshot"}
	if s, ok := names[t]; ok {
		return fmt.Sprintf("%s (%d)", s, t)
	}
	return fmt.Sprintf("unknown (%d)", t)
}
