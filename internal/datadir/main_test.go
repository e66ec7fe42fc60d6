package datadir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// childEnv makes the test binary run Inspect on the named dir and exit, so
// that a test running as root can watch Inspect run as an unprivileged user.
const childEnv = "DATADIR_TEST_INSPECT_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		got, err := Inspect(Layout{DataDir: dir})
		fmt.Printf("data=%+v\nerr=%v\npermission=%t\n", got, err, errors.Is(err, fs.ErrPermission))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestInspectPermissionDenied: a member dir the process may not search is an
// error (EACCES), never DataUnreadable. As root, chmod does not deny, so the
// test binary is copied where user nobody can run it and run as nobody.
func TestInspectPermissionDenied(t *testing.T) {
	dir := makeTree(t, map[string][]byte{"member/wal/" + firstWAL: walBytes(0, 1, 2)})
	if err := os.Chmod(filepath.Join(dir, "member"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "member"), 0o700) })
	if os.Geteuid() != 0 {
		got, err := Inspect(Layout{DataDir: dir})
		if !errors.Is(err, fs.ErrPermission) || got.Kind != "" {
			t.Fatalf("Inspect = %+v, %v; want a permission error", got, err)
		}
		return
	}
	out := inspectAsNobody(t, dir)
	for _, want := range []string{"data={Kind: ", "permission denied", "permission=true", filepath.Join(dir, "member", "wal")} {
		if !strings.Contains(out, want) {
			t.Errorf("child output %q does not contain %q", out, want)
		}
	}
}

// inspectAsNobody runs Inspect(dir) in a copy of the test binary as uid and
// gid 65534 and returns what it printed. Every directory on the way to dir
// must be searchable by others.
func inspectAsNobody(t *testing.T, dir string) string {
	t.Helper()
	for p := dir; p != "/"; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin := filepath.Join(filepath.Dir(dir), "datadir.test")
	copyExecutable(t, bin)
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{childEnv + "=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	return string(out)
}

func copyExecutable(t *testing.T, to string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
