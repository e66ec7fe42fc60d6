package faults

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procStat is what /proc/<pid>/stat says about a process.
type procStat struct {
	State byte // R, S, D, T (stopped), Z (zombie), ...
	PPid  int
	PGrp  int
}

// readStat reads /proc/<pid>/stat; ok is false once the process is gone.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	// The command name is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procStat{State: f[0][0], PPid: ppid, PGrp: pgrp}, true
}

// alive reports whether pid runs (a zombie has finished). A zombie whose
// parent is this process (an orphan that came to us as subreaper) is
// reaped on the way.
func alive(pid int) bool {
	st, ok := readStat(pid)
	if !ok {
		return false
	}
	if st.State == 'Z' {
		if st.PPid == os.Getpid() {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		return false
	}
	return true
}

// childrenOf lists the live children of pid.
func childrenOf(pid int) []int {
	var out []int
	for _, p := range allPids() {
		if st, ok := readStat(p); ok && st.PPid == pid && st.State != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// exePath is the program pid runs ("" once gone).
func exePath(pid int) string {
	p, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return p
}

// environOf returns pid's environment as a map.
func environOf(pid int) map[string]string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

// becomeSubreaper makes orphaned descendants (an etcd whose etcd-rejoin was
// killed) children of this process, so that alive can reap them.
func becomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}
	return nil
}

// listens reports whether pid holds a listening TCP socket on one of the
// ports: what tells an etcd server from a short run of the same binary
// (etcd-rejoin runs `etcd --version`, with the member's environment).
func listens(pid int, ports ...int) bool {
	inodes := listeningInodes(pid, ports)
	if len(inodes) == 0 {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && inodes[link] {
			return true
		}
	}
	return false
}

// listeningInodes returns the sockets ("socket:[inode]") listening on the
// ports in pid's network namespace, from /proc/<pid>/net/tcp and tcp6.
func listeningInodes(pid int, ports []int) map[string]bool {
	out := map[string]bool{}
	for _, file := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, portHex, _ := strings.Cut(f[1], ":")
			port, err := strconv.ParseInt(portHex, 16, 32)
			if err == nil && slices.Contains(ports, int(port)) {
				out["socket:["+f[9]+"]"] = true
			}
		}
	}
	return out
}
