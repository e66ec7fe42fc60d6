package supervise

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want.env from BuildEnv's output")

// readEnvFile reads NAME=value lines; blank lines and lines starting with '#'
// are skipped, anything else is kept verbatim (malformed entries included).
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return out
}

func readSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	settings := map[string]string{}
	for _, kv := range readEnvFile(t, path) {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%s: malformed setting %q", path, kv)
		}
		settings[name] = value
	}
	return settings
}

func TestBuildEnvGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases found: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			base := readEnvFile(t, filepath.Join(dir, "base.env"))
			settings := readSettings(t, filepath.Join(dir, "settings.env"))
			got := BuildEnv(base, settings)
			wantPath := filepath.Join(dir, "want.env")
			if *update {
				if err := os.WriteFile(wantPath, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readEnvFile(t, wantPath)
			if !slices.Equal(got, want) {
				t.Errorf("BuildEnv mismatch\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestBuildEnvNeverLeaks checks the invariants on every golden case, so a
// wrongly updated want.env cannot hide a leak.
func TestBuildEnvNeverLeaks(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			base := readEnvFile(t, filepath.Join(dir, "base.env"))
			settings := readSettings(t, filepath.Join(dir, "settings.env"))
			got := BuildEnv(base, settings)
			if !slices.IsSorted(got) {
				t.Errorf("output not sorted: %q", got)
			}
			seen := map[string]bool{}
			for _, kv := range got {
				name, value, _ := strings.Cut(kv, "=")
				if seen[name] {
					t.Errorf("%s appears twice", name)
				}
				seen[name] = true
				if isDenied(name) {
					t.Errorf("denied variable %s reached the child", name)
				}
				if want, ok := settings[name]; strings.HasPrefix(name, "ETCD_") && (!ok || want != value) {
					t.Errorf("%s=%q does not come from settings (%q)", name, value, want)
				}
			}
		})
	}
}

func TestBuildEnvDeterministic(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/root", "LANG=C.UTF-8"}
	settings := map[string]string{"ETCD_NAME": "n1", "ETCD_DATA_DIR": "/var/lib/etcd", "ETCD_LOG_LEVEL": "info"}
	first := BuildEnv(base, settings)
	for range 20 {
		if got := BuildEnv(base, settings); !slices.Equal(got, first) {
			t.Fatalf("BuildEnv not deterministic: %q vs %q", got, first)
		}
	}
	if got := BuildEnv(nil, nil); len(got) != 0 {
		t.Errorf("BuildEnv(nil, nil) = %q, want empty", got)
	}
}
