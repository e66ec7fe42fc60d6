package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
)

// execve replaces this process; tests replace it.
var execve = syscall.Exec

// etcdctl runs etcdctl against this cluster with the service's own
// endpoints, TLS files and etcd user, given to it as ETCDCTL_* variables:
// the arguments go to etcdctl unchanged (a leading "--" is dropped), its
// own flags win over those variables, and its exit status is ours (the
// process is replaced, not supervised).
//
// Chosen over writing an environment file: a file goes stale when the
// configuration changes and must be sourced by hand; this reads the
// configuration that the service itself reads, at each call.
func (a *app) etcdctl(_ context.Context, args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	path, err := findEtcdctl(cfg.EtcdBinary)
	if err != nil {
		return err
	}
	env, err := etcdctlEnv(cfg, os.Environ())
	if err != nil {
		return err
	}
	if err := execve(path, append([]string{"etcdctl"}, args...), env); err != nil {
		return fmt.Errorf("run %s: %w", path, err)
	}
	return nil
}

// findEtcdctl returns the etcdctl beside the etcd server binary (same
// release), else the one on PATH.
func findEtcdctl(etcdBinary string) (string, error) {
	if server, err := exec.LookPath(etcdBinary); err == nil {
		beside := filepath.Join(filepath.Dir(server), "etcdctl")
		if fi, err := os.Stat(beside); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return beside, nil
		}
	}
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		return "", fmt.Errorf("etcdctl: not beside %s nor on PATH (Debian: apt install etcd-client): %w", etcdBinary, err)
	}
	return path, nil
}

// etcdctlEnv is environ without any ETCDCTL_* variable, plus the
// service's endpoints (this member first: by its advertised URL under TLS,
// whose host its certificate names; then peer-client-urls), TLS files and
// etcd user, sorted.
func etcdctlEnv(cfg *config.Config, environ []string) ([]string, error) {
	var env []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	own, err := etcdctlVars(cfg)
	if err != nil {
		return nil, err
	}
	for k, v := range own {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env, nil
}

func etcdctlVars(cfg *config.Config) (map[string]string, error) {
	local := cfg.LocalAdvertisedURL
	if local == "" {
		local = cfg.LocalClientURL
	}
	endpoints := []string{local}
	for _, u := range cfg.PeerClientURLs {
		if u != local {
			endpoints = append(endpoints, u)
		}
	}
	vars := map[string]string{"ETCDCTL_API": "3", "ETCDCTL_ENDPOINTS": strings.Join(endpoints, ",")}
	t := cfg.ClientTLS
	setIf(vars, "ETCDCTL_CACERT", t.TrustedCAFile)
	setIf(vars, "ETCDCTL_CERT", t.CertFile)
	setIf(vars, "ETCDCTL_KEY", t.KeyFile)
	if t.InsecureSkipVerify {
		vars["ETCDCTL_INSECURE_SKIP_TLS_VERIFY"] = "true"
	}
	if err := setUser(vars, cfg.ClientAuth); err != nil {
		return nil, err
	}
	return vars, nil
}

// setUser gives etcdctl the etcd user and its password (read from the
// password file now; in the environment of etcdctl only, never on its
// command line where every user could read it).
func setUser(vars map[string]string, a config.Auth) error {
	if a.Username == "" {
		return nil
	}
	b, err := os.ReadFile(a.PasswordFile)
	if err != nil {
		return fmt.Errorf("etcdctl: read the password of etcd user %s: %w", a.Username, err)
	}
	if len(b) > 4<<10 {
		return errors.New("etcdctl: password file " + a.PasswordFile + " is larger than 4 KiB")
	}
	vars["ETCDCTL_USER"] = a.Username
	vars["ETCDCTL_PASSWORD"] = strings.TrimRight(string(b), "\r\n")
	return nil
}

func setIf(vars map[string]string, key, value string) {
	if value != "" {
		vars[key] = value
	}
}
