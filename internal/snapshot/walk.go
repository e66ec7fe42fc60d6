package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/encoding/protowire"
)

// lockTimeout bounds the wait for bbolt's shared lock on the file: a
// database that a running etcd holds is refused instead of waited for.
const lockTimeout = time.Second

// etcd's bucket and key names that the walk reads.
var (
	keyBucket         = []byte("key")
	metaBucket        = []byte("meta")
	storageVersionKey = []byte("storageVersion")
)

// dbStats is what walking every bucket of a database finds.
type dbStats struct {
	size           int64
	revision       int64
	keys           int
	entries        int
	hash           uint32
	storageVersion string
}

// walkDB opens the database at path read-only and reads every bucket, key
// and value, computing etcdutl's status figures on the way.
func walkDB(path string) (dbStats, error) {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return dbStats{}, errors.New("open database: locked by another process (a running etcd?)")
	}
	if err != nil {
		return dbStats{}, fmt.Errorf("%w: open database: %v", ErrCorrupt, err)
	}
	defer db.Close()
	var st dbStats
	err = db.View(func(tx *bolt.Tx) error {
		return guarded(func() error { return st.walk(tx) })
	})
	return st, err
}

// guarded runs fn and turns a panic or a memory fault inside it into an
// error: bbolt trusts the pages it reads, and a damaged page can send it
// beyond the mapped file.
func guarded(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading the database failed: %v", ErrCorrupt, r)
		}
	}()
	return fn()
}

func (st *dbStats) walk(tx *bolt.Tx) error {
	st.size = tx.Size()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	live := map[string]bool{}
	c := tx.Cursor()
	for name, _ := c.First(); name != nil; name, _ = c.Next() {
		b := tx.Bucket(name)
		if b == nil {
			return fmt.Errorf("%w: %q is not a bucket", ErrCorrupt, name)
		}
		_, _ = h.Write(name)
		isKey := bytes.Equal(name, keyBucket)
		err := b.ForEach(func(k, v []byte) error {
			_, _ = h.Write(k)
			_, _ = h.Write(v)
			st.entries++
			if isKey {
				return st.revisionEntry(k, v, live)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("bucket %q: %w", name, err)
		}
	}
	st.hash = h.Sum32()
	st.keys = countTrue(live)
	if mb := tx.Bucket(metaBucket); mb != nil {
		st.storageVersion = string(mb.Get(storageVersionKey))
	}
	return nil
}

// revisionEntry reads one entry of the key bucket: the key is the revision
// (8 bytes main, '_', 8 bytes sub, and 't' when it records a deletion), the
// value the mvccpb.KeyValue at that revision. Entries come in revision order.
func (st *dbStats) revisionEntry(k, v []byte, live map[string]bool) error {
	if len(k) < 17 || k[8] != '_' || len(k) > 18 || (len(k) == 18 && k[17] != 't') {
		return fmt.Errorf("%w: bad revision key %x", ErrCorrupt, k)
	}
	userKey, err := kvKey(v)
	if err != nil {
		return fmt.Errorf("revision %x: %w", k, err)
	}
	st.revision = int64(binary.BigEndian.Uint64(k[:8]))
	live[string(userKey)] = len(k) == 17
	return nil
}

// kvKey returns field 1 (key) of an mvccpb.KeyValue in protobuf wire format.
func kvKey(b []byte) ([]byte, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: bad KeyValue: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, fmt.Errorf("%w: bad KeyValue key: %v", ErrCorrupt, protowire.ParseError(m))
			}
			return v, nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, fmt.Errorf("%w: bad KeyValue: %v", ErrCorrupt, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil, fmt.Errorf("%w: KeyValue without a key", ErrCorrupt)
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, ok := range m {
		if ok {
			n++
		}
	}
	return n
}
