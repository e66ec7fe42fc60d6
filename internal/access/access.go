// Package access checks that the files a configuration names can be read as
// the service reads them: as its own user, inside the sandbox of the
// packaged unit. `check` runs as root, where every file opens, so it reads
// each one again as that user.
package access

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// hidden are the paths the packaged unit hides from the service, and why.
var hidden = []struct{ prefix, why string }{
	{"/home/", "the unit's ProtectHome=yes hides /home"},
	{"/root/", "the unit's ProtectHome=yes hides /root"},
	{"/run/user/", "the unit's ProtectHome=yes hides /run/user"},
	{"/tmp/", "the unit's PrivateTmp=yes gives the service a /tmp of its own"},
	{"/var/tmp/", "the unit's PrivateTmp=yes gives the service a /var/tmp of its own"},
	{"/var/lib/etcd/", "the unit makes /var/lib/etcd (Debian's etcd.service) inaccessible"},
}

// Problem is a file the service could not read, and why.
type Problem struct {
	Path string
	Why  string
}

// Sandboxed reports why the packaged unit keeps the service from path, or
// "" when it does not.
func Sandboxed(path string) string {
	p := filepath.Clean(path) + "/"
	for _, h := range hidden {
		if strings.HasPrefix(p, h.prefix) {
			return h.why
		}
	}
	return ""
}

// ReadAs reads the first byte of each file as the named user, with only
// that user's primary group (the unit's PrivateUsers=yes maps every other
// group to nobody), and returns the files that could not be read. It must
// run as root. A user that does not exist is an error.
func ReadAs(ctx context.Context, username string, paths []string) ([]Problem, error) {
	u, err := user.Lookup(username)
	if err != nil {
		return nil, fmt.Errorf("look up user %s: %w", username, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s: uid %q, gid %q are not numbers", username, u.Uid, u.Gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	var out []Problem
	for _, p := range paths {
		if why := Sandboxed(p); why != "" {
			out = append(out, Problem{Path: p, Why: why})
			continue
		}
		if why := readOne(ctx, p, cred); why != "" {
			out = append(out, Problem{Path: p, Why: why})
		}
	}
	return out, nil
}

// readOne reads the first byte of path with cred; it returns why that
// failed, or "".
func readOne(ctx context.Context, path string, cred *syscall.Credential) string {
	cmd := exec.CommandContext(ctx, "head", "-c", "1", "--", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	if err := cmd.Run(); err != nil {
		why := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(why, ": "); i >= 0 {
			why = why[i+2:]
		}
		if why == "" {
			why = err.Error()
		}
		return strings.ToLower(why)
	}
	return ""
}
