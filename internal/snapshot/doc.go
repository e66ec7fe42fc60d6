// Package snapshot takes, verifies, lists, prunes and restores etcd v3
// snapshots, and runs the operator's snapshot-command on a new one.
//
// A snapshot is the bbolt database that etcd's maintenance API streams,
// followed by the sha256 of that database (32 bytes). Verify reads it with
// go.etcd.io/bbolt, read-only, and reports what `etcdutl snapshot status`
// shows; nothing of the etcd server is imported.
//
// Take streams a snapshot into a temporary file, fsyncs and verifies it and
// renames it to etcd-<UTC time>.snapshot, one Take per directory at a time
// across processes. List shows every *.snapshot and *.db file of a
// directory; Prune removes only the oldest of the files Take named.
//
// RunHook runs snapshot-command through /bin/sh -c with the path as "$1"
// and in $SNAPSHOT_PATH, in a process group that is killed at its timeout.
//
// Restore runs the restore tool of the server's own release (FindTool):
// etcdutl for etcd 3.5 and later, whose etcdctl no longer restores (3.6) or
// only in a deprecated form (3.5); etcdctl for Debian's etcd 3.4, which has
// no etcdutl. The tool, not a library, because restoring writes the WAL and
// membership of the server's release, and importing the etcd server to do
// it would tie this module to one release of it.
package snapshot
