package access

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// A key only root may read is reported for the service's user; one its
// group may read is not; paths the unit hides are reported without a read.
func TestReadAs(t *testing.T) {
	testcmd.NeedRoot(t, "reading files as another user")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	dir, err := os.MkdirTemp("/var/lib", "access-test-") // outside /tmp, which the unit hides
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, mode os.FileMode, gid int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gid := atoi(t, nobody.Gid)
	rootOnly := write("root-only.key", 0o600, 0)
	group := write("group.key", 0o640, gid)
	world := write("world.crt", 0o644, 0)
	missing := filepath.Join(dir, "missing.crt")
	got, err := ReadAs(context.Background(), "nobody", []string{rootOnly, group, world, missing, "/home/op/etcd.key"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{
		{rootOnly, "permission denied"},
		{missing, "no such file or directory"},
		{"/home/op/etcd.key", "the unit's ProtectHome=yes hides /home"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadAs = %+v\nwant %+v", got, want)
	}
	if _, err := ReadAs(context.Background(), "no-such-user-here", nil); err == nil {
		t.Errorf("an unknown user is no error")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
