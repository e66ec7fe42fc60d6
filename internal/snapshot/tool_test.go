package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// TestFindTool: each release's own tool is found beside its server
// (etcdutl from 3.5, etcdctl for 3.4).
func TestFindTool(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, _ int) {
		tool, err := FindTool(v.Binary)
		if err != nil {
			t.Fatalf("FindTool: %v", err)
		}
		want := v.SnapshotTool(t)
		if tool.Path != want || tool.Name != filepath.Base(want) || minor(tool.Version) != v.Name {
			t.Errorf("FindTool = %s; want %s of release %s", tool, want, v.Name)
		}
	})
}

// TestFindToolRelease: a tool of another release is passed over, beside
// the server or on PATH, and the error says what was found; a server named
// on PATH is looked up there.
func TestFindToolRelease(t *testing.T) {
	var newer testetcd.Version
	for _, v := range testetcd.Versions(t) {
		if v.Etcdutl != "" {
			newer = v
		}
	}
	if newer.Binary == "" {
		t.Skip("no etcd with etcdutl")
	}
	old := testetcd.Etcdctl(t)
	dir := t.TempDir()
	server := link(t, newer.Binary, filepath.Join(dir, "etcd"))
	link(t, old, filepath.Join(dir, "etcdctl"))
	t.Setenv("PATH", dir)

	_, err := FindTool(server)
	t.Logf("FindTool: %v", err)
	for _, want := range []string{server, filepath.Join(dir, "etcdctl") + ": release 3.4", "is not etcd's " + newer.Name, "no etcdutl or etcdctl of etcd " + newer.Name} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FindTool with only etcdctl 3.4 = %v; want an error with %q", err, want)
		}
	}

	utl := link(t, newer.Etcdutl, filepath.Join(dir, "etcdutl"))
	tool, err := FindTool("etcd")
	if err != nil || tool.Path != utl || minor(tool.Version) != newer.Name {
		t.Errorf("FindTool(etcd on PATH) = %s, %v; want %s", tool, err, utl)
	}
}

func link(t *testing.T, target, name string) string {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
	return name
}
