package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
)

func TestEtcdctlVars(t *testing.T) {
	pw := writeFile(t, "pw", "s3cret\n")
	cfg := &config.Config{
		LocalClientURL:     "https://127.0.0.1:2379",
		LocalAdvertisedURL: "https://n1.example:2379",
		PeerClientURLs:     []string{"https://n2.example:2379", "https://n1.example:2379", "https://n3.example:2379"},
		ClientTLS:          config.TLS{CertFile: "/c.pem", KeyFile: "/k.pem", TrustedCAFile: "/ca.pem", InsecureSkipVerify: true},
		ClientAuth:         config.Auth{Username: "root", PasswordFile: pw},
	}
	got, err := etcdctlVars(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ETCDCTL_API":                      "3",
		"ETCDCTL_ENDPOINTS":                "https://n1.example:2379,https://n2.example:2379,https://n3.example:2379",
		"ETCDCTL_CACERT":                   "/ca.pem",
		"ETCDCTL_CERT":                     "/c.pem",
		"ETCDCTL_KEY":                      "/k.pem",
		"ETCDCTL_INSECURE_SKIP_TLS_VERIFY": "true",
		"ETCDCTL_USER":                     "root",
		"ETCDCTL_PASSWORD":                 "s3cret",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("etcdctlVars =\n%v\nwant\n%v", got, want)
	}
	cfg.ClientAuth.PasswordFile = filepath.Join(t.TempDir(), "missing")
	if _, err := etcdctlVars(cfg); err == nil || !strings.Contains(err.Error(), "etcd user root") {
		t.Errorf("missing password file: %v, want an error naming the user", err)
	}
}

// The command replaces itself with etcdctl: the arguments unchanged, the
// service's endpoint, inherited ETCDCTL_* variables dropped.
func TestEtcdctlExec(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"etcd", "etcdctl"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var path string
	var argv, env []string
	old := execve
	execve = func(p string, a, e []string) error { path, argv, env = p, a, e; return nil }
	t.Cleanup(func() { execve = old })
	code, _, stderr := runIn(t, []string{
		"ETCD_REJOIN_ETCD_BINARY=" + filepath.Join(bin, "etcd"), "ETCDCTL_ENDPOINTS=http://elsewhere:2379", "ETCDCTL_CERT=/other.pem",
		"ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379", "ETCD_OTHER_PEERS_CLIENT_URLS=http://10.0.0.2:2379",
	}, "etcdctl", "--", "member", "list", "-w", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if path != filepath.Join(bin, "etcdctl") || !slices.Equal(argv, []string{"etcdctl", "member", "list", "-w", "json"}) {
		t.Errorf("exec %s %q; want the etcdctl beside etcd, the arguments unchanged", path, argv)
	}
	var ctl []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "ETCDCTL_") {
			ctl = append(ctl, kv)
		}
	}
	if want := []string{"ETCDCTL_API=3", "ETCDCTL_ENDPOINTS=http://127.0.0.1:2379,http://10.0.0.2:2379"}; !slices.Equal(ctl, want) {
		t.Errorf("ETCDCTL_ variables %q, want %q", ctl, want)
	}
}
