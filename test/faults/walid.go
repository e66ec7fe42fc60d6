package faults

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// walIDs is what the metadata record of a WAL says: the member and cluster
// that wrote it.
type walIDs struct {
	Member, Cluster uint64
}

// The campaign reads WAL headers itself, apart from the product's reader,
// so that its view of "which member is this data" is an independent one.
// A WAL file is a sequence of frames: an 8-byte little-endian length (the
// low 56 bits; the top byte flags padding), then a walpb.Record (type = 1,
// crc = 2, data = 3). The first record is a crc record (type 4), the second
// the metadata (type 1), whose data is an etcdserverpb.Metadata
// (NodeID = 1, ClusterID = 2).
const (
	walRecMetadata = 1
	walRecCRC      = 4
)

// readWALIDs reads the IDs from the first WAL file (by name) in dir.
func readWALIDs(dir string) (walIDs, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(names) == 0 {
		return walIDs{}, fmt.Errorf("no WAL file in %s", dir)
	}
	sort.Strings(names)
	f, err := os.Open(names[0])
	if err != nil {
		return walIDs{}, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return walIDs{}, fmt.Errorf("read %s: %w", names[0], err)
	}
	return parseWALHead(buf[:n])
}

func parseWALHead(b []byte) (walIDs, error) {
	typ, _, rest, err := walRecord(b)
	if err != nil || typ != walRecCRC {
		return walIDs{}, fmt.Errorf("first WAL record is not a crc record (type %d, %v)", typ, err)
	}
	typ, data, _, err := walRecord(rest)
	if err != nil || typ != walRecMetadata {
		return walIDs{}, fmt.Errorf("second WAL record is not metadata (type %d, %v)", typ, err)
	}
	var ids walIDs
	err = protoFields(data, func(num protowire.Number, v uint64, _ []byte) {
		switch num {
		case 1:
			ids.Member = v
		case 2:
			ids.Cluster = v
		}
	})
	if err != nil || ids.Member == 0 || ids.Cluster == 0 {
		return walIDs{}, fmt.Errorf("WAL metadata without IDs (%v)", err)
	}
	return ids, nil
}

// walRecord decodes the frame at the start of b: the record's type and data
// and what follows the frame.
func walRecord(b []byte) (typ int64, data, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, errors.New("short frame")
	}
	v := binary.LittleEndian.Uint64(b)
	length := int(v & 0x00ffffffffffffff)
	pad := 0
	if v>>63 == 1 {
		pad = int((v >> 56) & 0x7)
	}
	if length <= 0 || 8+length+pad > len(b) {
		return 0, nil, nil, errors.New("bad frame length")
	}
	err = protoFields(b[8:8+length], func(num protowire.Number, v uint64, bs []byte) {
		switch num {
		case 1:
			typ = int64(v)
		case 3:
			data = bs
		}
	})
	return typ, data, b[8+length+pad:], err
}

// protoFields calls f for each varint or bytes field of a protobuf message.
func protoFields(b []byte, f func(protowire.Number, uint64, []byte)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			f(num, v, nil)
			b = b[m:]
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			f(num, 0, v)
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	return nil
}

// dataIDs reads the IDs of a data dir, looking in walDir when the member
// keeps its WAL apart.
func dataIDs(dataDir, walDir string) (walIDs, error) {
	if walDir != "" {
		return readWALIDs(walDir)
	}
	return readWALIDs(filepath.Join(dataDir, "member", "wal"))
}
