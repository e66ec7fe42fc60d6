package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// versionTimeout bounds `<tool> version`.
const versionTimeout = 10 * time.Second

// Tool is the program that restores snapshots for one etcd release:
// etcdutl for etcd 3.5 and later, etcdctl (API 3) for etcd 3.4, which has
// no etcdutl.
type Tool struct {
	// Name is "etcdutl" or "etcdctl".
	Name string
	// Path is the program's path.
	Path string
	// Version is the release it reports, "3.6.16".
	Version string
}

// String names the tool for logs and messages: "etcdutl 3.6.16 (/usr/bin/etcdutl)".
func (t Tool) String() string { return fmt.Sprintf("%s %s (%s)", t.Name, t.Version, t.Path) }

// FindTool picks the restore tool for the etcd server etcdBinary (a path,
// or a name looked up on PATH), in this order: etcdutl next to the server,
// etcdutl on PATH, etcdctl next to the server, etcdctl on PATH. Only a tool
// of the server's own minor release qualifies: restore writes the data dir
// that this server will open, and etcd supports upgrades one minor release
// at a time. The error lists what it found and why each was passed over.
func FindTool(etcdBinary string) (Tool, error) {
	tool, err := findTool(etcdBinary)
	if err != nil {
		return Tool{}, fmt.Errorf("find snapshot restore tool for %s: %w", etcdBinary, err)
	}
	return tool, nil
}

func findTool(etcdBinary string) (Tool, error) {
	server, err := exec.LookPath(etcdBinary)
	if err != nil {
		return Tool{}, err
	}
	want, err := programVersion(server, "--version")
	if err != nil {
		return Tool{}, err
	}
	var passed []string
	for _, c := range candidates(filepath.Dir(server)) {
		t, err := probe(c)
		switch {
		case err != nil:
			passed = append(passed, err.Error())
		case minor(t.Version) != minor(want):
			passed = append(passed, fmt.Sprintf("%s: release %s is not etcd's %s", t.Path, t.Version, minor(want)))
		default:
			return t, nil
		}
	}
	return Tool{}, fmt.Errorf("no etcdutl or etcdctl of etcd %s: %s", want, strings.Join(passed, "; "))
}

// candidates lists where FindTool looks, in order, without duplicates.
func candidates(serverDir string) []string {
	var out []string
	for _, name := range []string{"etcdutl", "etcdctl"} {
		beside := filepath.Join(serverDir, name)
		out = append(out, beside)
		if p, err := exec.LookPath(name); err == nil && p != beside {
			out = append(out, p)
		}
	}
	return out
}

// probe returns the tool at path with the version it reports.
func probe(path string) (Tool, error) {
	if _, err := exec.LookPath(path); err != nil {
		return Tool{}, err
	}
	v, err := programVersion(path, "version")
	if err != nil {
		return Tool{}, err
	}
	return Tool{Name: filepath.Base(path), Path: path, Version: v}, nil
}

// versionRe finds the release in `etcd --version` ("etcd Version: 3.4.23"),
// `etcdutl version` ("etcdutl version: 3.6.16") and `etcdctl version`.
var versionRe = regexp.MustCompile(`(?i)version: v?(\d+\.\d+\.\d+)`)

// programVersion runs `path arg` (arg: "version" for the tools,
// "--version" for the server) and returns the release it prints.
func programVersion(path, arg string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, arg)
	cmd.Env = toolEnv()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", path, arg, errors.Join(err, stderrOf(err)))
	}
	m := versionRe.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s %s: no version in %q", path, arg, tail(string(out), 200))
	}
	return string(m[1]), nil
}

// minor returns "3.6" of "3.6.16".
func minor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// toolEnv is the environment of the etcd tools: a fixed PATH and API 3,
// and nothing of the caller's ETCDCTL_*/ETCDUTL_* settings.
func toolEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ETCDCTL_API=3"}
}

func stderrOf(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return errors.New(tail(strings.TrimSpace(string(ee.Stderr)), 500))
	}
	return nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
