package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Ledger keeps track of the copies of one member's data on its disk, so
// that the campaign sees data disappear that it did not remove itself.
//
// A copy is a directory directly in the disk's root, known by its inode and
// birth time (a move aside is a rename on the same file system and keeps
// both). It
// counts as holding data once it had a readable WAL, or was the live data
// or wal dir of the member while the member was healthy. Such a copy may
// only disappear when the campaign removed it, or when it had been moved
// aside and at least keep copies that hold data were moved aside after it
// (retention): remnants of failed starts, which never held data, never
// count toward those.
type Ledger struct {
	member string
	root   string
	live   []string // the data dir and, if any, the wal dir
	keep   int

	mu       sync.Mutex
	copies   map[dirKey]*dataCopy
	released map[dirKey]bool
	seq      int
	moves    int
}

// dirKey names a directory for good: its inode and its birth time (a file
// system may give a freed inode number to a new directory).
type dirKey struct {
	ino   uint64
	btime int64
}

// keyOf returns path's key (without following a symlink).
func keyOf(path string) (dirKey, bool) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_BTIME, &st); err != nil {
		return dirKey{}, false
	}
	return dirKey{ino: st.Ino, btime: st.Btime.Sec*1e9 + int64(st.Btime.Nsec)}, true
}

// dataCopy is one tracked directory.
type dataCopy struct {
	key   dirKey
	path  string
	ids   walIDs
	moved int // order of its first sighting away from a live path; 0 while live
}

// NewLedger tracks the copies in root; live are the member's data and wal dirs.
func NewLedger(member, root string, live []string, keep int) *Ledger {
	return &Ledger{member: member, root: root, live: live, keep: keep,
		copies: map[dirKey]*dataCopy{}, released: map[dirKey]bool{}}
}

// dirEntry is a directory found in the disk's root.
type dirEntry struct {
	path string
	key  dirKey
}

func (l *Ledger) scan() ([]dirEntry, error) {
	entries, err := os.ReadDir(l.root)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", l.root, err)
	}
	var out []dirEntry
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(l.root, e.Name())
		if k, ok := keyOf(p); ok {
			out = append(out, dirEntry{path: p, key: k})
		}
	}
	return out, nil
}

func (l *Ledger) isLive(path string) bool {
	for _, p := range l.live {
		if p == path {
			return true
		}
	}
	return false
}

// holdsWAL reports the IDs of a directory that is a data dir with a WAL or
// a wal dir.
func holdsWAL(path string) (walIDs, bool) {
	if ids, err := readWALIDs(filepath.Join(path, "member", "wal")); err == nil {
		return ids, true
	}
	ids, err := readWALIDs(path)
	return ids, err == nil
}

// Check scans the disk and returns a problem for every copy holding data
// that vanished against the rules. healthy says the member is healthy now:
// its live dirs then hold data.
func (l *Ledger) Check(healthy bool) []string {
	entries, err := l.scan()
	if err != nil {
		return []string{err.Error()}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	present := map[dirKey]bool{}
	for _, e := range entries {
		present[e.key] = true
		l.observe(e, healthy)
	}
	var problems []string
	for k, c := range l.copies {
		if present[k] {
			continue
		}
		delete(l.copies, k)
		if l.released[k] {
			continue
		}
		if why := l.vanished(c); why != "" {
			problems = append(problems, why)
		}
	}
	return problems
}

// observe updates the record of one directory.
func (l *Ledger) observe(e dirEntry, healthy bool) {
	c, tracked := l.copies[e.key]
	if !tracked {
		ids, ok := holdsWAL(e.path)
		if !ok && !(healthy && l.isLive(e.path)) {
			return // not (yet) known to hold data
		}
		c = &dataCopy{key: e.key, path: e.path, ids: ids}
		l.copies[e.key] = c
		delete(l.released, e.key)
	}
	if c.path != e.path && !l.isLive(e.path) && c.moved == 0 {
		l.moves++
	}
	c.path = e.path
	if l.isLive(e.path) {
		c.moved = 0
	} else if c.moved == 0 {
		l.seq++
		c.moved = l.seq
	}
}

// vanished judges a copy that is gone; "" when retention allows it.
func (l *Ledger) vanished(c *dataCopy) string {
	if c.moved == 0 {
		return fmt.Sprintf("%s: the live copy %s (member %x of cluster %x) vanished", l.member, c.path, c.ids.Member, c.ids.Cluster)
	}
	newer := 0
	for _, o := range l.copies {
		if o.moved > c.moved {
			newer++
		}
	}
	if newer >= l.keep {
		return ""
	}
	return fmt.Sprintf("%s: moved-aside copy %s (member %x of cluster %x) was deleted with only %d copies holding data moved aside after it (keep-backups %d)",
		l.member, c.path, c.ids.Member, c.ids.Cluster, newer, l.keep)
}

// Release tells the ledger that the campaign itself removes or replaces
// what is at path (call it before doing so).
func (l *Ledger) Release(path string) {
	k, ok := keyOf(path)
	if !ok {
		return
	}
	l.mu.Lock()
	l.released[k] = true
	l.mu.Unlock()
}

// Moves is how many copies holding data were moved aside so far.
func (l *Ledger) Moves() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.moves
}

// Copies lists the tracked copies, for logs.
func (l *Ledger) Copies() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.copies {
		out = append(out, fmt.Sprintf("%s (member %x, moved #%d)", filepath.Base(c.path), c.ids.Member, c.moved))
	}
	sort.Strings(out)
	return out
}
