package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"
)

// ErrCorrupt marks a file that is not an intact snapshot: truncated, damaged,
// or no etcd database at all. Verify's errors wrap it, with the reason.
var ErrCorrupt = errors.New("not an intact etcd snapshot")

// Info is what `etcdutl snapshot status` shows about a snapshot file, and
// where the file is.
type Info struct {
	// Path is the file's path as given.
	Path string
	// Size is the file's size in bytes, the sha256 trailer included.
	Size int64
	// DBSize is the size of the database in it: etcdutl's "total size".
	DBSize int64
	// Revision is the newest revision in the key bucket.
	Revision int64
	// TotalKeys counts the live keys: keys whose newest revision is not a
	// deletion, as etcdutl 3.6 counts its "total keys".
	TotalKeys int
	// Entries counts every entry of every bucket: what etcdctl 3.4 and
	// etcdutl 3.5 call "total keys".
	Entries int
	// Hash is etcdutl's hash: crc32 (Castagnoli) over each bucket's name
	// and then its keys and values, in bbolt's order.
	Hash uint32
	// SHA256 is true when the file carries the sha256 trailer of the
	// maintenance API and it matches the database. A plain database file
	// (a copy of member/snap/db) has none: Verify accepts it with false.
	SHA256 bool
	// StorageVersion is the storage version that etcd 3.6 and later write
	// into the database ("3.6.0"); empty for older servers.
	StorageVersion string
	// TakenAt is the time in the file's name when this package named it,
	// else the file's modification time.
	TakenAt time.Time
}

// Verify checks that path is an intact etcd snapshot and returns its Info.
// When the file carries the maintenance API's sha256 trailer, the database
// must match it; either way the database's size must match what its meta
// page records, and every bucket, key and value must read. The error names
// the path and what is wrong, and wraps ErrCorrupt when the file is at fault
// (rather than, say, a permission).
//
// Without a trailer no deep structural check is made: bbolt's own Check
// panics in a goroutine of its own on some damaged pages, which would take
// the whole process down. The walk of every key catches what it reads.
func Verify(path string) (Info, error) {
	info, err := verify(path)
	if err != nil {
		return Info{}, fmt.Errorf("verify snapshot %s: %w", path, err)
	}
	return info, nil
}

func verify(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: not a regular file (%s)", ErrCorrupt, fi.Mode().Type())
	}
	info := Info{Path: path, Size: fi.Size(), TakenAt: takenAt(path, fi.ModTime())}
	dbSize := fi.Size()
	if hasTrailer(fi.Size()) {
		if err := checkTrailer(f, fi.Size()); err != nil {
			return Info{}, err
		}
		dbSize -= sha256.Size
		info.SHA256 = true
	}
	if err := checkMeta(f, dbSize); err != nil {
		return Info{}, err
	}
	st, err := walkDB(path)
	if err != nil {
		return Info{}, err
	}
	info.DBSize, info.Revision, info.TotalKeys, info.Entries = st.size, st.revision, st.keys, st.entries
	info.Hash, info.StorageVersion = st.hash, st.storageVersion
	return info, nil
}

// hasTrailer reports whether a file of n bytes ends in a sha256, as etcd
// decides it: a bbolt database is a whole number of pages, a multiple of 512.
func hasTrailer(n int64) bool { return n%512 == sha256.Size }

// checkTrailer compares the sha256 of the first size-32 bytes of f with the
// last 32.
func checkTrailer(f *os.File, size int64) error {
	want := make([]byte, sha256.Size)
	if _, err := f.ReadAt(want, size-sha256.Size); err != nil {
		return fmt.Errorf("read sha256 trailer: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size-sha256.Size)); err != nil {
		return fmt.Errorf("hash database: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("%w: the sha256 trailer does not match the content (damaged, truncated or not a snapshot)", ErrCorrupt)
	}
	return nil
}

// bbolt's meta page, as go.etcd.io/bbolt lays it out: a 16-byte page header,
// then magic, version, page size, flags (4 bytes each), the root bucket
// (page id, sequence), the freelist page id, the high water mark (pages in
// use), the transaction id and an FNV-64a checksum of the fields before it
// (8 bytes each). Integers are in the host's byte order: little-endian on
// every platform this runs on.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	metaSumOffset  = 56
	noFreelist     = ^uint64(0)
)

type boltMeta struct {
	pageSize           uint32
	root, freelist, hw uint64
	txid               uint64
}

// CheckBoltFile checks that the bbolt database at path fits in its file
// (see checkMeta) before anything maps it: bbolt maps the file into memory,
// and reading a page beyond a truncated file's end kills the process with
// SIGBUS instead of failing. etcd's backend is such a database too.
func CheckBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkMeta(f, fi.Size())
}

// checkMeta reads both meta pages of the database in the first dbSize bytes
// of f and checks that the newest valid one fits in the file (bbolt maps
// the file into memory and would fault on a page beyond its end), and that
// the database is whole pages, as bbolt writes and grows it.
func checkMeta(f *os.File, dbSize int64) error {
	m, err := newestMeta(f)
	if err != nil {
		return err
	}
	if m.root >= m.hw || (m.freelist >= m.hw && m.freelist != noFreelist) {
		return fmt.Errorf("%w: the meta page points beyond the database", ErrCorrupt)
	}
	if need := int64(m.hw) * int64(m.pageSize); need > dbSize {
		return fmt.Errorf("%w: truncated: the database needs %d bytes, the file holds %d", ErrCorrupt, need, dbSize)
	}
	if dbSize%int64(m.pageSize) != 0 {
		return fmt.Errorf("%w: the database's %d bytes are no whole number of %d-byte pages (truncated or appended to)", ErrCorrupt, dbSize, m.pageSize)
	}
	return nil
}

// newestMeta returns the valid meta page with the highest transaction id,
// as bbolt picks it. Meta page 1 is looked for one page after page 0, with
// page 0's page size, or 4096 when page 0 is damaged.
func newestMeta(f *os.File) (boltMeta, error) {
	m0, err0 := readMeta(f, 0)
	off := int64(4096)
	if err0 == nil {
		off = int64(m0.pageSize)
	}
	m1, err1 := readMeta(f, off)
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("%w: no valid bbolt meta page (%v)", ErrCorrupt, err0)
	case err0 != nil:
		return m1, nil
	case err1 != nil || m0.txid >= m1.txid:
		return m0, nil
	default:
		return m1, nil
	}
}

func readMeta(f *os.File, pageOffset int64) (boltMeta, error) {
	b := make([]byte, metaSize)
	if _, err := f.ReadAt(b, pageOffset+pageHeaderSize); err != nil {
		return boltMeta{}, fmt.Errorf("read meta page at %d: %w", pageOffset, err)
	}
	le := binary.LittleEndian
	switch {
	case le.Uint32(b[0:]) != boltMagic:
		return boltMeta{}, errors.New("bad magic number")
	case le.Uint32(b[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt version %d", le.Uint32(b[4:]))
	}
	sum := fnv.New64a()
	_, _ = sum.Write(b[:metaSumOffset])
	if sum.Sum64() != le.Uint64(b[metaSumOffset:]) {
		return boltMeta{}, errors.New("bad meta checksum")
	}
	m := boltMeta{
		pageSize: le.Uint32(b[8:]),
		root:     le.Uint64(b[16:]),
		freelist: le.Uint64(b[32:]),
		hw:       le.Uint64(b[40:]),
		txid:     le.Uint64(b[48:]),
	}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}
