package supervise

import (
	"context"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

func TestEtcdVersionOfRealBinaries(t *testing.T) {
	for _, ver := range testetcd.Versions(t) {
		got, err := EtcdVersion(context.Background(), ver.Binary)
		if err != nil || got.MinorString() != ver.Name {
			t.Errorf("EtcdVersion(%s) = %v, %v; want %s.x", ver.Binary, got, err, ver.Name)
		}
	}
	if _, err := EtcdVersion(context.Background(), "/bin/true"); err == nil {
		t.Errorf("a binary that prints no version has one")
	}
}
