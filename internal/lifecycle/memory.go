package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datadir"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

// saveMemory writes the state file and, when this command runs as root and
// the file's directory belongs to another user (the service's), gives the
// file to that user: the service must be able to read it.
func saveMemory(path string, m plan.Memory) error {
	if err := datadir.SaveMemory(path, m); err != nil {
		return err
	}
	if err := giveToDirOwner(path); err != nil {
		return fmt.Errorf("save state file: %w", err)
	}
	return nil
}

// giveToDirOwner chowns path to the owner of its directory when this
// process is root and that owner is not.
func giveToDirOwner(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	if err := os.Lchown(path, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("give %s to the owner of its directory: %w", path, err)
	}
	return nil
}
