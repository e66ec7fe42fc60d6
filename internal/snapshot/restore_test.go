package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// TestRestore: a real etcd started on the restored data dir (and WAL dir)
// serves every key written before the snapshot, alone, under a new cluster
// ID; with a revision bump, the old revisions read as compacted.
func TestRestore(t *testing.T) {
	forVersions(t, func(t *testing.T, v testetcd.Version, host int) {
		src, w, info := snapshotOf(t, v, netRestore, host)
		oldID := clusterID(t, src.Client(t))
		tool := toolFor(t, v)
		rows := []struct {
			name    string
			wal     bool
			bump    uint64
			service bool // restore as root into dirs of the service's user
		}{
			{"data dir", false, 0, false},
			{"data dir and WAL dir", true, 0, false},
			{"revision bump", false, 1000, false},
			{"as root for the service", true, 0, true},
		}
		for i, r := range rows {
			if r.bump != 0 && tool.Name != "etcdutl" {
				continue // etcdctl 3.4 cannot: TestRestoreRefuses checks that it is refused
			}
			t.Run(r.name, func(t *testing.T) {
				dataParent, walParent := t.TempDir(), t.TempDir()
				if r.service {
					dataParent, walParent = serviceDir(t), serviceDir(t)
				}
				node := testetcd.NewNode("r1", fmt.Sprintf("%s.%d", netRestore, 10*host+i+1), dataParent)
				spec := specFor(node, info.Path, tool)
				spec.RevisionBump = r.bump
				var opts []testetcd.Option
				if r.wal {
					spec.WALDir = filepath.Join(walParent, "wal")
					opts = append(opts, testetcd.Args("--wal-dir="+spec.WALDir))
				}
				if err := Restore(ctxFor(t), spec); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				assertOnly(t, filepath.Dir(spec.DataDir), filepath.Base(spec.DataDir))
				if r.wal {
					assertOnly(t, filepath.Dir(spec.WALDir), "wal")
				}
				if r.service {
					assertOwner(t, spec.DataDir, nobody)
					assertOwner(t, spec.WALDir, nobody)
				}
				c := testetcd.NewCluster(t, v, []testetcd.Node{node}, opts...)
				c.Start(t, 0, "existing")
				cli := c.Client(t)
				assertKeys(t, cli, w, int64(r.bump))
				assertAlone(t, cli, node, oldID)
			})
		}
	})
}

// TestRestoreRefuses: an existing data or WAL dir, a damaged snapshot, a
// plain database (unless allowed), a failing tool or an incomplete spec
// leave everything as it was.
func TestRestoreRefuses(t *testing.T) {
	vs := testetcd.Versions(t)
	v := vs[len(vs)-1]
	_, _, info := snapshotOf(t, v, netRestore, 90)
	tool := toolFor(t, v)
	good, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	damaged := writeFile(t, files, "damaged.snapshot", flip(good, len(good)/2))
	plain := writeFile(t, files, "plain.db", good[:len(good)-32])
	rows := []struct {
		name  string
		setup func(s *RestoreSpec)
		want  string
		is    error
	}{
		{"data dir exists", func(s *RestoreSpec) { mkdir(t, s.DataDir) }, "restore never overwrites", fs.ErrExist},
		{"WAL dir exists", func(s *RestoreSpec) { s.WALDir = filepath.Join(filepath.Dir(s.DataDir), "wal"); mkdir(t, s.WALDir) }, "restore never overwrites", fs.ErrExist},
		{"damaged snapshot", func(s *RestoreSpec) { s.Snapshot = damaged }, "sha256 trailer does not match", ErrCorrupt},
		{"plain database", func(s *RestoreSpec) { s.Snapshot = plain }, "no sha256 trailer", ErrCorrupt},
		{"tool fails", func(s *RestoreSpec) { s.PeerURLs = []string{netRestore + ".99:2380"} }, "snapshot restore: exit status", nil},
		{"tool fails with a WAL dir", func(s *RestoreSpec) {
			s.PeerURLs = []string{netRestore + ".99:2380"}
			s.WALDir = filepath.Join(filepath.Dir(s.DataDir), "wal")
		}, "snapshot restore: exit status", nil},
		{"spec incomplete", func(s *RestoreSpec) { s.Name, s.ClusterToken = "", "" }, "missing name, cluster token", nil},
		{"WAL dir is the data dir", func(s *RestoreSpec) { s.WALDir = s.DataDir + "/" }, "the WAL dir is the data dir", nil},
		{"revision bump with etcdctl", func(s *RestoreSpec) { s.Tool.Name, s.RevisionBump = "etcdctl", 10 }, "cannot bump the revision", nil},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			parent := t.TempDir()
			spec := specFor(testetcd.NewNode("r1", netRestore+".99", parent), info.Path, tool)
			r.setup(&spec)
			before := contents(t, parent)
			err := Restore(ctxFor(t), spec)
			t.Logf("Restore: %v", err)
			if err == nil || (r.is != nil && !errors.Is(err, r.is)) || !strings.Contains(err.Error(), r.want) || !strings.Contains(err.Error(), spec.DataDir) {
				t.Errorf("Restore = %v; want %v with %q, naming %s", err, r.is, r.want, spec.DataDir)
			}
			assertContents(t, parent, before)
		})
	}
	t.Run("plain database allowed", func(t *testing.T) {
		parent := t.TempDir()
		spec := specFor(testetcd.NewNode("r1", netRestore+".99", parent), plain, tool)
		spec.AllowNoSHA256 = true
		if err := Restore(ctxFor(t), spec); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		for _, p := range []string{"member/snap/db", "member/wal"} {
			if _, err := os.Stat(filepath.Join(spec.DataDir, p)); err != nil {
				t.Errorf("restored data dir lacks %s: %v", p, err)
			}
		}
	})
}

func specFor(n testetcd.Node, snapshot string, tool Tool) RestoreSpec {
	return RestoreSpec{
		Snapshot:     snapshot,
		Name:         n.Name,
		PeerURLs:     []string{n.PeerURL},
		DataDir:      n.DataDir,
		ClusterToken: "restored-" + filepath.Base(filepath.Dir(n.DataDir)),
		Tool:         tool,
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// assertOnly checks that dir holds exactly name: no temporary dir is left.
func assertOnly(t *testing.T, dir, name string) {
	t.Helper()
	if got := dirNames(t, dir); !slices.Equal(got, []string{name}) {
		t.Errorf("%s holds %q; want only %s", dir, got, name)
	}
}

// assertKeys checks that the member serves exactly the keys and values
// written, and a revision at least bump past the last write.
func assertKeys(t *testing.T, cli *clientv3.Client, w written, bump int64) {
	t.Helper()
	resp, err := cli.Get(ctxFor(t), "k", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	if !maps.Equal(got, w.values) {
		t.Errorf("restored member serves %d keys; want the %d written (first: %q)", len(got), len(w.values), slices.Sorted(maps.Keys(got))[:1])
	}
	if resp.Header.Revision < w.revision+bump {
		t.Errorf("revision %d; want at least %d", resp.Header.Revision, w.revision+bump)
	}
	if bump == 0 {
		return
	}
	_, err = cli.Get(ctxFor(t), "k000", clientv3.WithRev(w.revision))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get at the snapshot's revision = %v; want compacted", err)
	}
}

// assertAlone checks that the member is alone, as node, in a cluster whose
// ID is not oldID.
func assertAlone(t *testing.T, cli *clientv3.Client, node testetcd.Node, oldID uint64) {
	t.Helper()
	resp, err := cli.MemberList(ctxFor(t))
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	if len(resp.Members) != 1 || resp.Members[0].Name != node.Name || !slices.Equal(resp.Members[0].PeerURLs, []string{node.PeerURL}) {
		t.Errorf("members %v; want %s alone at %s", resp.Members, node.Name, node.PeerURL)
	}
	if resp.Header.ClusterId == oldID || resp.Header.ClusterId == 0 {
		t.Errorf("cluster ID %x; want a new one, not %x", resp.Header.ClusterId, oldID)
	}
}

func clusterID(t *testing.T, cli *clientv3.Client) uint64 {
	t.Helper()
	resp, err := cli.MemberList(ctxFor(t))
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	return resp.Header.ClusterId
}
