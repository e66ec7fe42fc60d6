package supervise

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/etcdversion"
)

// versionTimeout bounds `etcd --version`.
const versionTimeout = 10 * time.Second

// binaryVersion finds the release in `etcd --version` ("etcd Version: 3.4.23").
var binaryVersion = regexp.MustCompile(`(?i)etcd version: v?(\d+\.\d+\.\d+)`)

// EtcdVersion runs `binary --version` and returns the release it prints.
func EtcdVersion(ctx context.Context, binary string) (etcdversion.Version, error) {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		return etcdversion.Version{}, fmt.Errorf("%s --version: %w", binary, err)
	}
	m := binaryVersion.FindSubmatch(out)
	if m == nil {
		return etcdversion.Version{}, fmt.Errorf("%s --version printed no etcd version: %q", binary, out)
	}
	return etcdversion.Parse(string(m[1]))
}
