package lifecycle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrBackendLocked means a running etcd holds the data dir's backend: etcd
// locks it exclusively for as long as it runs.
var ErrBackendLocked = errors.New("the backend is locked by a running etcd")

// backendLockWait is how long a look at the backend waits for etcd's lock.
const backendLockWait = 500 * time.Millisecond

// Backend is the path of a data dir's backend database.
func Backend(dataDir string) string {
	return filepath.Join(dataDir, "member", "snap", "db")
}

// AppliedIndex reads the raft index up to which the backend of dataDir has
// applied the log: the "consistent_index" of its "meta" bucket (8 bytes,
// big-endian, the same in etcd 3.4, 3.5 and 3.6). It opens the database
// read-only and never waits long for its lock: a running etcd gives an error
// wrapping ErrBackendLocked, a missing backend one wrapping fs.ErrNotExist.
func AppliedIndex(dataDir string) (uint64, error) {
	idx, err := appliedIndex(Backend(dataDir))
	if err != nil {
		return 0, fmt.Errorf("read the applied index of %s: %w", dataDir, err)
	}
	return idx, nil
}

func appliedIndex(path string) (idx uint64, err error) {
	defer func() {
		// bbolt panics on some damaged files.
		if r := recover(); r != nil {
			idx, err = 0, fmt.Errorf("read %s: %v", path, r)
		}
	}()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: backendLockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, fmt.Errorf("%s: %w", path, ErrBackendLocked)
	}
	if err != nil {
		return 0, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if b == nil {
			return errors.New("no meta bucket")
		}
		v := b.Get([]byte("consistent_index"))
		if len(v) != 8 {
			return fmt.Errorf("consistent_index of %d bytes, want 8", len(v))
		}
		idx = binary.BigEndian.Uint64(v)
		return nil
	})
	return idx, err
}
