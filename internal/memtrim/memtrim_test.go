package memtrim

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRegions(t *testing.T) {
	maps := `00400000-00b2b000 r-xp 00000000 fe:01 1311 /usr/bin/etcd-rejoin
00b2b000-01245000 r--p 0072b000 fe:01 1311 /usr/bin/etcd-rejoin
01245000-012a1000 rw-p 00e45000 fe:01 1311 /usr/bin/etcd-rejoin
012a1000-012f0000 rw-p 00000000 00:00 0
c000000000-c000400000 rw-p 00000000 00:00 0
7f1c0000-7f1c1000 r--p 00000000 fe:01 99 /usr/bin/etcd-rejoin.old
7ffd1000-7ffd2000 r-xp 00000000 00:00 0 [vdso]
`
	got, err := Regions(strings.NewReader(maps), "/usr/bin/etcd-rejoin")
	want := []Region{{0x400000, 0xb2b000}, {0xb2b000, 0x1245000}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Regions = %x, %v; want %x", got, err, want)
	}
	if _, err := Regions(strings.NewReader("zz-00400000 r-xp 0 fe:01 1 /x\n"), "/x"); err == nil {
		t.Error("a bad range was accepted")
	}
}

// TestExecutableLowersRSS: the test binary's own file-backed resident pages
// fall after Executable.
func TestExecutableLowersRSS(t *testing.T) {
	// go test has just written this binary: its pages may still be dirty,
	// and the kernel pages out clean file pages only (an installed binary's
	// are).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	before := rssFileKiB(t)
	n, err := Executable()
	if err != nil {
		t.Fatalf("Executable: %v", err)
	}
	after := rssFileKiB(t)
	t.Logf("paged out %d bytes of mappings; RssFile %d -> %d KiB", n, before, after)
	if n == 0 || after >= before {
		t.Errorf("RssFile %d -> %d KiB after paging out %d bytes", before, after, n)
	}
	if got := randomReadMappings(t, exe); got.marked == 0 || got.unmarked != 0 {
		t.Errorf("read-only mappings of %s: %d marked for random reads (VmFlags rr), %d not", exe, got.marked, got.unmarked)
	}
}

type marks struct{ marked, unmarked int }

// randomReadMappings counts path's read-only mappings in /proc/self/smaps
// by whether the kernel flags them for random reads.
func randomReadMappings(t *testing.T, path string) marks {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var m marks
	ours := false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "VmFlags:":
			if !ours {
				continue
			}
			if slices.Contains(f[1:], "rr") {
				m.marked++
			} else {
				m.unmarked++
			}
		case !strings.HasSuffix(f[0], ":"): // a mapping's header line
			ours = readOnlyMapping(f, path)
		}
	}
	return m
}

func rssFileKiB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
