package faults

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Disk is one member's file system: a size-limited tmpfs holding its data
// dir, wal dir, state file and moved-aside copies, so that it can be filled
// up and so that fsync costs nothing on a two-core machine.
type Disk struct {
	Dir  string
	Size string // tmpfs size= option, e.g. "1g"
}

const fillerName = "campaign-filler"

// Mount mounts the tmpfs at Dir.
func (d Disk) Mount() error {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return fmt.Errorf("mount disk: %w", err)
	}
	if err := unix.Mount("tmpfs", d.Dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size="+d.Size); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", d.Dir, err)
	}
	return nil
}

// Fill writes a file that takes every free byte of the disk.
func (d Disk) Fill() error {
	f, err := os.OpenFile(filepath.Join(d.Dir, fillerName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("fill %s: %w", d.Dir, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		_, err := f.Write(buf)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			return fmt.Errorf("fill %s: %w", d.Dir, err)
		}
	}
	// The last few bytes: smaller writes until nothing fits.
	for n := 4096; n > 0; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	return nil
}

// Free returns the bytes left on the disk.
func (d Disk) Free() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(d.Dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", d.Dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Unfill removes the file Fill wrote.
func (d Disk) Unfill() error {
	if err := os.Remove(filepath.Join(d.Dir, fillerName)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("unfill %s: %w", d.Dir, err)
	}
	return nil
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	points, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return nil
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}
