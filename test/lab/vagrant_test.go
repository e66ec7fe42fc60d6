package lab_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testcmd"
)

// TestVagrantfileValidates: `vagrant validate` accepts the Vagrantfile
// offline (no VM boots here), and rejects it when the package it uploads is
// missing, so the check is real. The Vagrantfile provisions with the
// container lab's script.
func TestVagrantfileValidates(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("vagrant"); err != nil {
		if testcmd.InCI() {
			t.Fatalf("vagrant is required (scripts/deps.sh apt): %v", err)
		}
		t.Skipf("vagrant not installed (scripts/deps.sh apt)")
	}
	vf, err := os.ReadFile(filepath.Join(repoRoot, "Vagrantfile"))
	if err != nil {
		t.Fatalf("read Vagrantfile: %v", err)
	}
	for _, want := range []string{`"lab/provision/etcd-node.sh"`, `"192.168.56.11"`, `"192.168.56.12"`, `"192.168.56.13"`, `"debian/bookworm64"`} {
		if !strings.Contains(string(vf), want) {
			t.Errorf("Vagrantfile lacks %s", want)
		}
	}
	debFile := filepath.Join(t.TempDir(), "etcd-rejoin_test_amd64.deb")
	if err := os.WriteFile(debFile, []byte("stand-in: validate only checks that it exists"), 0o644); err != nil {
		t.Fatalf("write stand-in package: %v", err)
	}
	r := validate(t, debFile)
	if r.Code != 0 || !strings.Contains(r.Out, "Vagrantfile validated successfully") {
		t.Errorf("vagrant validate: exit %d:\n%s", r.Code, r.Out)
	}
	r = validate(t, filepath.Join(t.TempDir(), "missing.deb"))
	if r.Code == 0 || !strings.Contains(r.Out, "missing.deb must exist") {
		t.Errorf("vagrant validate with no package: exit %d, want an error naming it:\n%s", r.Code, r.Out)
	}
}

func validate(t *testing.T, deb string) result {
	t.Helper()
	home := t.TempDir()
	return run(t, 2*time.Minute, []string{
		"VAGRANT_CHECKPOINT_DISABLE=1",
		"VAGRANT_HOME=" + filepath.Join(home, "vagrant.d"),
		"VAGRANT_DOTFILE_PATH=" + filepath.Join(home, "dot"),
		"ETCD_REJOIN_DEB=" + deb,
	}, "vagrant", "validate", "--ignore-provider")
}
