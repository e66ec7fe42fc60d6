package snapshot

import (
	"fmt"
	"io"
	"os"
	"testing"
)

// lockChildEnv makes the test binary hold the snapshot lock of the named
// dir until its standard input closes: another process for Take to meet.
const lockChildEnv = "SNAPSHOT_TEST_LOCK_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		os.Exit(holdLock(dir))
	}
	os.Exit(m.Run())
}

func holdLock(dir string) int {
	unlock, err := lockDir(dir)
	if err != nil {
		fmt.Println("lock:", err)
		return 1
	}
	defer unlock()
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}
