package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/etcd-rejoin/etcd-rejoin/internal/etcdversion"
)

// An exec of `etcd --version` costs 60-100 ms on a small host, most of a
// start's decision time. The answer only changes when the binary does, so
// it is remembered beside the state file together with the binary's
// identity: any replacement (a new inode) or rewrite (a new size, mtime or
// ctime) makes the remembered answer void and etcd is asked again.

// maxVersionCache bounds what is read of a version cache file.
const maxVersionCache = 4 << 10

// binaryIdentity is what tells one etcd binary from another without reading
// it. ctime cannot be set by a user, so a rewrite that restores mtime still
// changes it.
type binaryIdentity struct {
	Path    string `json:"path"`
	Device  uint64 `json:"device"`
	Inode   uint64 `json:"inode"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	CtimeNs int64  `json:"ctime_ns"`
}

type versionCacheFile struct {
	Binary  binaryIdentity `json:"binary"`
	Version string         `json:"version"`
}

// identify resolves binary as exec would (a bare name through PATH) and
// reads its identity.
func identify(binary string) (binaryIdentity, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return binaryIdentity{}, err
	}
	if path, err = filepath.Abs(path); err != nil {
		return binaryIdentity{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return binaryIdentity{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return binaryIdentity{}, fmt.Errorf("stat %s: no device and inode on this system", path)
	}
	return binaryIdentity{
		Path:    path,
		Device:  uint64(st.Dev),
		Inode:   st.Ino,
		Size:    st.Size,
		MtimeNs: st.Mtim.Nano(),
		CtimeNs: st.Ctim.Nano(),
	}, nil
}

// CachedEtcdVersion is EtcdVersion remembered in cachePath ("" remembers
// nothing). cached says the answer came from the file. A cache that cannot
// be read or written is only a slower start: its error is returned as
// cacheErr beside a good answer, for the caller to log.
func CachedEtcdVersion(ctx context.Context, binary, cachePath string) (v etcdversion.Version, cached bool, cacheErr, err error) {
	if cachePath == "" {
		v, err = EtcdVersion(ctx, binary)
		return v, false, nil, err
	}
	id, idErr := identify(binary)
	if idErr == nil {
		v, ok, rerr := readVersionCache(cachePath, id)
		if ok {
			return v, true, nil, nil
		}
		cacheErr = rerr
	}
	v, err = EtcdVersion(ctx, binary)
	if err != nil || idErr != nil {
		return v, false, cacheErr, err
	}
	if werr := writeVersionCache(cachePath, versionCacheFile{Binary: id, Version: v.String()}); werr != nil {
		cacheErr = werr
	}
	return v, false, cacheErr, nil
}

// readVersionCache returns the remembered version when the file names this
// very binary; a missing or foreign file is no error, a damaged one is.
func readVersionCache(path string, id binaryIdentity) (etcdversion.Version, bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return etcdversion.Version{}, false, nil
	}
	if err != nil {
		return etcdversion.Version{}, false, fmt.Errorf("read etcd version cache: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxVersionCache+1))
	if err != nil {
		return etcdversion.Version{}, false, fmt.Errorf("read etcd version cache %s: %w", path, err)
	}
	var c versionCacheFile
	if len(b) > maxVersionCache {
		return etcdversion.Version{}, false, fmt.Errorf("etcd version cache %s: larger than %d bytes", path, maxVersionCache)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return etcdversion.Version{}, false, fmt.Errorf("etcd version cache %s: %w", path, err)
	}
	if c.Binary != id {
		return etcdversion.Version{}, false, nil
	}
	v, err := etcdversion.Parse(c.Version)
	if err != nil {
		return etcdversion.Version{}, false, fmt.Errorf("etcd version cache %s: %w", path, err)
	}
	return v, true, nil
}

// writeVersionCache replaces the file in one rename: a reader sees the old
// answer or the new one, never half of one.
func writeVersionCache(path string, c versionCacheFile) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write etcd version cache %s: %w", path, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write etcd version cache %s: %w", path, err)
	}
	return nil
}
