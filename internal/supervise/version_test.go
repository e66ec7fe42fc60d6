package supervise

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

func TestEtcdVersionOfRealBinaries(t *testing.T) {
	for _, ver := range testetcd.Versions(t) {
		got, err := EtcdVersion(context.Background(), ver.Binary)
		if err != nil || got.MinorString() != ver.Name {
			t.Errorf("EtcdVersion(%s) = %v, %v; want %s.x", ver.Binary, got, err, ver.Name)
		}
	}
	for _, ver := range testetcd.Versions(t) {
		cache := filepath.Join(t.TempDir(), "etcd-version.json")
		for _, wantCached := range []bool{false, true} {
			got, cached, cacheErr, err := CachedEtcdVersion(context.Background(), ver.Binary, cache)
			if err != nil || cacheErr != nil || cached != wantCached || got.MinorString() != ver.Name {
				t.Errorf("CachedEtcdVersion(%s) = %v, cached %v, %v, %v; want %s.x, cached %v", ver.Binary, got, cached, cacheErr, err, ver.Name, wantCached)
			}
		}
	}
	if _, err := EtcdVersion(context.Background(), "/bin/true"); err == nil {
		t.Errorf("a binary that prints no version has one")
	}
}

// fakeEtcd writes a script that prints version and counts its runs in
// runs; it returns its path.
func fakeEtcd(t *testing.T, dir, version string) string {
	t.Helper()
	p := filepath.Join(dir, "etcd")
	script := "#!/bin/sh\necho run >> " + filepath.Join(dir, "runs") + "\necho 'etcd Version: " + version + "'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func runs(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "runs"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run\n")
}

func TestCachedEtcdVersion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := fakeEtcd(t, dir, "3.5.9")
	cache := filepath.Join(dir, "x.rejoin-etcd-version.json")
	ask := func(wantVersion string, wantCached bool, wantRuns int) {
		t.Helper()
		v, cached, cacheErr, err := CachedEtcdVersion(ctx, bin, cache)
		if err != nil || cacheErr != nil || v.String() != wantVersion || cached != wantCached {
			t.Fatalf("CachedEtcdVersion = %v, cached %v, cache error %v, error %v; want %s, cached %v", v, cached, cacheErr, err, wantVersion, wantCached)
		}
		if got := runs(t, dir); got != wantRuns {
			t.Fatalf("etcd --version ran %d times, want %d", got, wantRuns)
		}
	}
	ask("3.5.9", false, 1)
	ask("3.5.9", true, 1)

	// Rewritten in place (a new mtime and ctime even at the same size).
	time.Sleep(10 * time.Millisecond)
	fakeEtcd(t, dir, "3.5.8")
	ask("3.5.8", false, 2)
	ask("3.5.8", true, 2)

	// Replaced by a rename (a new inode), as a package upgrade does.
	other := t.TempDir()
	next := fakeEtcd(t, other, "3.6.1")
	if err := os.Rename(next, bin); err != nil {
		t.Fatal(err)
	}
	v, cached, cacheErr, err := CachedEtcdVersion(ctx, bin, cache)
	if err != nil || cacheErr != nil || cached || v.String() != "3.6.1" || runs(t, other) != 1 {
		t.Fatalf("after a replacement: %v, cached %v, cache error %v, error %v, %d runs of the new binary; want 3.6.1 asked once",
			v, cached, cacheErr, err, runs(t, other))
	}
}

func TestCachedEtcdVersionBadCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := fakeEtcd(t, dir, "3.4.23")
	for _, c := range []struct {
		name    string
		prepare func(cache string) error
		wantErr string
	}{
		{"damaged", func(cache string) error { return os.WriteFile(cache, []byte(`{"binary":`), 0o600) }, "unexpected end of JSON input"},
		{"bad version", func(cache string) error {
			if _, _, _, err := CachedEtcdVersion(ctx, bin, cache); err != nil {
				return err
			}
			b, err := os.ReadFile(cache)
			if err != nil {
				return err
			}
			return os.WriteFile(cache, []byte(strings.Replace(string(b), `"3.4.23"`, `"three"`, 1)), 0o600)
		}, `"three" is not an etcd version`},
		{"symlink", func(cache string) error { return os.Symlink(filepath.Join(dir, "elsewhere"), cache) }, "too many levels of symbolic links"},
		// Unwritable even to root: its directory is a file.
		{"unwritable", func(string) error { return nil }, "write etcd version cache " + filepath.Join(bin, "etcd-version.json")},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "etcd-version.json")
			if c.name == "unwritable" {
				cache = filepath.Join(bin, "etcd-version.json")
			}
			if err := c.prepare(cache); err != nil {
				t.Fatal(err)
			}
			before := runs(t, dir)
			v, cached, cacheErr, err := CachedEtcdVersion(ctx, bin, cache)
			if err != nil || cached || v.String() != "3.4.23" {
				t.Fatalf("CachedEtcdVersion = %v, cached %v, error %v; want 3.4.23 asked again", v, cached, err)
			}
			if cacheErr == nil || !strings.Contains(cacheErr.Error(), c.wantErr) {
				t.Fatalf("cache error %v, want one saying %q", cacheErr, c.wantErr)
			}
			if runs(t, dir) != before+1 {
				t.Fatalf("etcd --version ran %d times, want once", runs(t, dir)-before)
			}
		})
	}
}
