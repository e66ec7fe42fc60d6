package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// TestTake: snapshots of a live member land in a new 0700 dir under their
// final names, verified, with nothing else left behind; TakeFile writes
// exactly the path asked for and never replaces a file.
func TestTake(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, host int) {
		c := startOne(t, v, netTake, host)
		cli := c.Client(t)
		w := writeKeys(t, cli)
		dir := filepath.Join(t.TempDir(), "snapshots")
		first, err := Take(ctxFor(t), opener(cli), dir, t0)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		want := filepath.Join(dir, "etcd-20260304T050607.890Z.snapshot")
		if first.Path != want || !first.TakenAt.Equal(t0) || first.Revision != w.revision || first.TotalKeys != len(w.values) || !first.SHA256 {
			t.Errorf("Take = %+v; want %s taken at %v, revision %d, %d keys, sha256 checked", first, want, t0, w.revision, len(w.values))
		}
		assertMode(t, dir, fs.ModeDir|0o700)
		put(t, cli, "after-first", "x")
		second, err := Take(ctxFor(t), opener(cli), dir, t0.Add(time.Hour))
		if err != nil || second.Revision != w.revision+1 {
			t.Fatalf("second Take = %+v, %v; want revision %d", second, err, w.revision+1)
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{filepath.Base(first.Path), filepath.Base(second.Path)}) {
			t.Errorf("dir holds %q; want the two snapshots", got)
		}
		t.Run("as root in the service's dir", func(t *testing.T) {
			svc := serviceDir(t)
			info, err := Take(ctxFor(t), opener(cli), svc, t0)
			if err != nil {
				t.Fatalf("Take: %v", err)
			}
			assertOwner(t, info.Path, nobody)
		})
		t.Run("TakeFile", func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "before-upgrade.db")
			got, err := TakeFile(ctxFor(t), opener(cli), out)
			if err != nil || got.Path != out || got.Revision != w.revision+1 || !got.SHA256 {
				t.Fatalf("TakeFile = %+v, %v; want %s at revision %d", got, err, out, w.revision+1)
			}
			if names := dirNames(t, filepath.Dir(out)); !slices.Equal(names, []string{"before-upgrade.db"}) {
				t.Errorf("output dir holds %q; want the snapshot alone", names)
			}
			before := contents(t, filepath.Dir(out))
			_, err = TakeFile(ctxFor(t), opener(cli), out)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), out) {
				t.Errorf("TakeFile to an existing file = %v; want ErrExist naming %s", err, out)
			}
			assertContents(t, filepath.Dir(out), before)
		})
	})
}

// TestTakeFailures: whatever goes wrong, Take returns the cause, leaves no
// temporary file, and changes nothing that was in the dir.
func TestTakeFailures(t *testing.T) {
	vs := testetcd.Versions(t)
	c := startOne(t, vs[len(vs)-1], netTake, 20)
	cli := c.Client(t)
	writeKeys(t, cli)
	real := streamBytes(t, opener(cli))
	errBroken := errors.New("connection reset by the test")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	earlier := t0.Add(-time.Hour)
	writeFile(t, dir, FileName(earlier), real)
	writeFile(t, dir, "notes.txt", []byte("mine\n"))
	bg := context.Background()
	rows := []struct {
		name string
		ctx  context.Context
		open Opener
		at   time.Time
		want string
		is   error
	}{
		{"stream breaks half-way", bg, breakAfter(opener(cli), len(real)/2, errBroken), t0, "receive snapshot", errBroken},
		{"stream does not open", bg, func(context.Context) (io.ReadCloser, error) { return nil, errBroken }, t0, "open snapshot stream", errBroken},
		{"stream without sha256 trailer", bg, serve(real[:len(real)-32]), t0, "no sha256 trailer", ErrCorrupt},
		{"stream damaged", bg, serve(flip(real, len(real)/3)), t0, "sha256 trailer does not match", ErrCorrupt},
		{"stream of something else", bg, serve([]byte("<html>502 Bad Gateway</html>\n")), t0, "no valid bbolt meta page", ErrCorrupt},
		{"context cancelled", cancelled, opener(cli), t0, "snapshot", context.Canceled},
		{"name taken", bg, opener(cli), earlier, FileName(earlier), fs.ErrExist},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			before := contents(t, dir)
			_, err := Take(r.ctx, r.open, dir, r.at)
			if !errors.Is(err, r.is) || !strings.Contains(err.Error(), r.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Take = %v; want %v, mentioning %q and %s", err, r.is, r.want, dir)
			}
			assertContents(t, dir, before)
		})
	}
}

// TestTakeInProgress: a second Take while one runs, in this process or in
// another, fails at once with ErrInProgress and leaves the first alone.
func TestTakeInProgress(t *testing.T) {
	vs := testetcd.Versions(t)
	c := startOne(t, vs[len(vs)-1], netTake, 21)
	cli := c.Client(t)
	dir := t.TempDir()
	t.Run("same process", func(t *testing.T) {
		gate := make(chan struct{})
		done := make(chan error, 1)
		started := make(chan struct{})
		slow := func(ctx context.Context) (io.ReadCloser, error) {
			close(started)
			<-gate
			return cli.Snapshot(ctx)
		}
		go func() {
			_, err := Take(ctxFor(t), slow, dir, t0)
			done <- err
		}()
		<-started
		_, err := Take(ctxFor(t), opener(cli), dir, t0.Add(time.Second))
		if !errors.Is(err, ErrInProgress) || !strings.Contains(err.Error(), dir) {
			t.Errorf("concurrent Take = %v; want ErrInProgress naming %s", err, dir)
		}
		close(gate)
		if err := <-done; err != nil {
			t.Fatalf("first Take: %v", err)
		}
		if _, err := Take(ctxFor(t), opener(cli), dir, t0.Add(2*time.Second)); err != nil {
			t.Errorf("Take after the first finished: %v", err)
		}
	})
	t.Run("other process", func(t *testing.T) {
		release := lockInChild(t, dir)
		_, err := Take(ctxFor(t), opener(cli), dir, t0.Add(3*time.Second))
		if !errors.Is(err, ErrInProgress) {
			t.Errorf("Take while another process holds the lock = %v; want ErrInProgress", err)
		}
		release()
		if _, err := Take(ctxFor(t), opener(cli), dir, t0.Add(4*time.Second)); err != nil {
			t.Errorf("Take after the other process let go: %v", err)
		}
	})
}

// TestTakeRemovesStaleParts: Take removes what a crashed Take left, and
// nothing else hidden in the dir.
func TestTakeRemovesStaleParts(t *testing.T) {
	vs := testetcd.Versions(t)
	c := startOne(t, vs[len(vs)-1], netTake, 22)
	dir := t.TempDir()
	writeFile(t, dir, partPrefix+"123456"+partSuffix, []byte("half a snapshot"))
	writeFile(t, dir, ".keep", nil)
	writeFile(t, dir, "upload.part", nil)
	info, err := Take(ctxFor(t), opener(c.Client(t)), dir, t0)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	want := []string{".keep", filepath.Base(info.Path), "upload.part"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("dir holds %q; want %q", got, want)
	}
}

// lockInChild starts a copy of the test binary that holds dir's snapshot
// lock, and returns a function that makes it let go and waits for it.
func lockInChild(t *testing.T, dir string) func() {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("child: %q, %v", line, err)
	}
	var once bool
	release := func() {
		if once {
			return
		}
		once = true
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}
	t.Cleanup(release)
	return release
}

// streamBytes reads one whole snapshot stream.
func streamBytes(t *testing.T, open Opener) []byte {
	t.Helper()
	rc, err := open(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve is an Opener of fixed bytes.
func serve(b []byte) Opener {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// breakAfter passes n bytes of open's stream, then fails with err.
func breakAfter(open Opener, n int, err error) Opener {
	return func(ctx context.Context) (io.ReadCloser, error) {
		rc, oerr := open(ctx)
		if oerr != nil {
			return nil, oerr
		}
		r := io.MultiReader(io.LimitReader(rc, int64(n)), errReader{err})
		return struct {
			io.Reader
			io.Closer
		}{r, rc}, nil
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func put(t *testing.T, cli *clientv3.Client, k, v string) {
	t.Helper()
	if _, err := cli.Put(ctxFor(t), k, v); err != nil {
		t.Fatalf("put %s: %v", k, err)
	}
}

// contents maps the names in dir to their bytes, and each subdirectory to
// its contents, recursively.
func contents(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, n := range dirNames(t, dir) {
		p := filepath.Join(dir, n)
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			m[n+"/"] = fmt.Sprint(contents(t, p))
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[n] = string(b)
	}
	return m
}

func assertContents(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	if got := contents(t, dir); !maps.Equal(got, want) {
		t.Errorf("dir now holds %q; want %q unchanged", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s has mode %v; want %v", path, fi.Mode(), want)
	}
}

// nobody is the uid and gid that stand for the service's user.
const nobody = 65534

// serviceDir returns a new dir that belongs to nobody, skipping the test
// when it does not run as root.
func serviceDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root")
	}
	dir := filepath.Join(t.TempDir(), "service")
	mkdir(t, dir)
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assertOwner checks that path and everything under it belong to uid and
// gid id.
func assertOwner(t *testing.T, path string, id uint32) {
	t.Helper()
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != id || st.Gid != id {
			t.Errorf("%s belongs to %d:%d; want %d:%d", p, st.Uid, st.Gid, id, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
