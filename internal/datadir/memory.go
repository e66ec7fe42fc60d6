package datadir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// BesideState is the path of another of etcd-rejoin's files kept beside
// the state file: the state file's name with "-state" (or the whole stem)
// followed by "-<kind>.json", e.g. default.etcd.rejoin-state.json and
// "status" -> default.etcd.rejoin-status.json.
func BesideState(stateFile, kind string) string {
	stem := strings.TrimSuffix(stateFile, ".json")
	stem = strings.TrimSuffix(stem, "-state")
	return stem + "-" + kind + ".json"
}

// maxStateFile bounds what LoadMemory reads: the file holds two IDs.
const maxStateFile = 64 << 10

// stateFile is the state file's JSON form: IDs as hex strings, as etcd
// prints them.
type stateFile struct {
	MemberID  *string         `json:"member_id"`
	ClusterID *string         `json:"cluster_id"`
	Added     *addedEntry     `json:"added,omitempty"`
	Left      *leftEntry      `json:"left,omitempty"`
	Recovered *recoveredEntry `json:"recovered,omitempty"`
	Corrupt   *corruptEntry   `json:"corrupt,omitempty"`
	Seen      *seenEntry      `json:"seen,omitempty"`
}

// seenEntry is plan.Seen in the state file.
type seenEntry struct {
	At        time.Time `json:"at"`
	ClusterID string    `json:"cluster_id"`
}

// corruptEntry is plan.Corrupt in the state file.
type corruptEntry struct {
	At       time.Time `json:"at"`
	MemberID string    `json:"member_id"`
	Why      string    `json:"why,omitempty"`
}

// leftEntry is plan.Left in the state file.
type leftEntry struct {
	At        time.Time `json:"at"`
	MemberID  string    `json:"member_id"`
	ClusterID string    `json:"cluster_id"`
}

// recoveredEntry is plan.Recovered in the state file.
type recoveredEntry struct {
	At        time.Time `json:"at"`
	ClusterID string    `json:"cluster_id"`
	From      string    `json:"from"`
}

// addedEntry is plan.Added in the state file.
type addedEntry struct {
	ID        string   `json:"id"`
	ClusterID string   `json:"cluster_id"`
	PeerURLs  []string `json:"peer_urls"`
}

// LoadMemory reads the state file at path. A missing file gives the zero
// Memory and no error; a file that cannot be read or parsed is an error
// naming the path, never a silent zero.
func LoadMemory(path string) (plan.Memory, error) {
	b, err := readSmall(path)
	if errors.Is(err, fs.ErrNotExist) {
		return plan.Memory{}, nil
	}
	if err != nil {
		return plan.Memory{}, fmt.Errorf("load state file: %w", err)
	}
	m, err := parseMemory(b)
	if err != nil {
		return plan.Memory{}, fmt.Errorf("load state file %s: corrupt: %w", path, err)
	}
	return m, nil
}

// readSmall reads a small regular file. It never follows a symlink and
// never blocks on a FIFO: the state file is etcd-rejoin's own, and anything
// else found at its path is refused.
func readSmall(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink; the state file must be a regular file", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s; the state file must be a regular file", path, kindOf(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxStateFile {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxStateFile)
	}
	return b, nil
}

// parseMemory decodes the JSON strictly: one object, both ID keys, an
// optional added entry, nothing else.
func parseMemory(b []byte) (plan.Memory, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s stateFile
	if err := dec.Decode(&s); err != nil {
		return plan.Memory{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return plan.Memory{}, errors.New("data after the JSON object")
	}
	member, err := parseHexID("member_id", s.MemberID)
	if err != nil {
		return plan.Memory{}, err
	}
	cluster, err := parseHexID("cluster_id", s.ClusterID)
	if err != nil {
		return plan.Memory{}, err
	}
	m := plan.Memory{MemberID: member, ClusterID: cluster}
	if m.Added, err = parseAdded(s.Added); err != nil {
		return plan.Memory{}, err
	}
	if m.Left, err = parseLeft(s.Left); err != nil {
		return plan.Memory{}, err
	}
	if m.Recovered, err = parseRecovered(s.Recovered); err != nil {
		return plan.Memory{}, err
	}
	if s.Corrupt != nil {
		id, err := parseHexID("corrupt.member_id", &s.Corrupt.MemberID)
		if err != nil {
			return plan.Memory{}, err
		}
		m.Corrupt = &plan.Corrupt{At: s.Corrupt.At, MemberID: id, Why: s.Corrupt.Why}
	}
	if s.Seen != nil {
		id, err := parseHexID("seen.cluster_id", &s.Seen.ClusterID)
		if err != nil {
			return plan.Memory{}, err
		}
		m.Seen = &plan.Seen{At: s.Seen.At, ClusterID: id}
	}
	return m, nil
}

func parseLeft(l *leftEntry) (*plan.Left, error) {
	if l == nil {
		return nil, nil
	}
	member, err := parseHexID("left.member_id", &l.MemberID)
	if err != nil {
		return nil, err
	}
	cluster, err := parseHexID("left.cluster_id", &l.ClusterID)
	if err != nil {
		return nil, err
	}
	return &plan.Left{At: l.At, MemberID: member, ClusterID: cluster}, nil
}

func parseRecovered(r *recoveredEntry) (*plan.Recovered, error) {
	if r == nil {
		return nil, nil
	}
	cluster, err := parseHexID("recovered.cluster_id", &r.ClusterID)
	if err != nil {
		return nil, err
	}
	return &plan.Recovered{At: r.At, ClusterID: cluster, From: r.From}, nil
}

func parseAdded(a *addedEntry) (*plan.Added, error) {
	if a == nil {
		return nil, nil
	}
	id, err := parseHexID("added.id", &a.ID)
	if err != nil {
		return nil, err
	}
	cluster, err := parseHexID("added.cluster_id", &a.ClusterID)
	if err != nil {
		return nil, err
	}
	if id == 0 || len(a.PeerURLs) == 0 {
		return nil, errors.New(`key "added": needs a member ID and peer URLs`)
	}
	return &plan.Added{ID: id, ClusterID: cluster, PeerURLs: a.PeerURLs}, nil
}

func parseHexID(key string, s *string) (uint64, error) {
	if s == nil {
		return 0, fmt.Errorf("key %q missing", key)
	}
	v, err := strconv.ParseUint(*s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("key %q: %q is not a hex ID", key, *s)
	}
	return v, nil
}

// SaveMemory writes m to path atomically: a temp file in the same
// directory, fsynced, renamed over path, and the directory fsynced. The file
// has mode 0600; a missing parent directory is created with mode 0700.
func SaveMemory(path string, m plan.Memory) error {
	member, cluster := plan.HexID(m.MemberID), plan.HexID(m.ClusterID)
	sf := stateFile{MemberID: &member, ClusterID: &cluster}
	if a := m.Added; a != nil {
		sf.Added = &addedEntry{ID: plan.HexID(a.ID), ClusterID: plan.HexID(a.ClusterID), PeerURLs: a.PeerURLs}
	}
	if l := m.Left; l != nil {
		sf.Left = &leftEntry{At: l.At.UTC(), MemberID: plan.HexID(l.MemberID), ClusterID: plan.HexID(l.ClusterID)}
	}
	if r := m.Recovered; r != nil {
		sf.Recovered = &recoveredEntry{At: r.At.UTC(), ClusterID: plan.HexID(r.ClusterID), From: r.From}
	}
	if c := m.Corrupt; c != nil {
		sf.Corrupt = &corruptEntry{At: c.At.UTC(), MemberID: plan.HexID(c.MemberID), Why: c.Why}
	}
	if v := m.Seen; v != nil {
		sf.Seen = &seenEntry{At: v.At.UTC(), ClusterID: plan.HexID(v.ClusterID)}
	}
	b, err := json.Marshal(sf)
	if err != nil {
		return fmt.Errorf("save state file %s: %w", path, err)
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("save state file: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := writeSync(f, data); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// writeSync writes data, sets mode 0600 (whatever the umask), fsyncs and closes f.
func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
