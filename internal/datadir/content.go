package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/snapshot"
)

// backendOpenTimeout bounds the wait for bbolt's file lock: a backend that
// stays locked is in use by a running etcd, and is never moved.
const backendOpenTimeout = time.Second

// holdsData reports whether the member's data could matter to anyone: a WAL
// file, a raft snapshot, a backend holding at least one key, any other file,
// or a backend it cannot prove empty. What a start that etcd refused leaves
// behind (an empty backend, preallocated WAL *.tmp files, empty dirs) holds
// no data: moving it aside makes a remnant, never a copy that counts
// against keep-backups.
func holdsData(l Layout) (bool, error) {
	backend := filepath.Join(l.DataDir, "member", "snap", "db")
	for _, dir := range l.dirs() {
		var found bool
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir(), strings.HasSuffix(path, ".tmp") && filepath.Dir(path) == l.WAL():
				return nil
			case path == backend:
				keys, err := backendKeys(path)
				found = err != nil || keys > 0
			default:
				found = true
			}
			if found {
				return fs.SkipAll
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}

// backendKeys counts the keys in the backend's "key" bucket (every
// revision of every key: zero means nothing was ever written).
func backendKeys(path string) (n int, err error) {
	defer func() {
		// bbolt panics on some corrupt files: that is a backend it cannot
		// prove empty.
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("read backend %s: %v", path, r)
		}
	}()
	// A file truncated below its pages would fault (SIGBUS) in the
	// mapping, which kills the process: it is checked first, and a fault
	// that still happens is turned into a panic recovered above.
	if err := snapshot.CheckBoltFile(path); err != nil {
		return 0, fmt.Errorf("backend %s: %w", path, err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: backendOpenTimeout})
	if err != nil {
		return 0, fmt.Errorf("open backend %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("key")); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}
