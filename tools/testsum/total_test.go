package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line  string
		suite string
		c     Counts
		ok    bool
	}{
		{"e2e: 52 passed, 0 failed", "e2e", Counts{52, 0, 0}, true},
		{"unit: 3 passed, 1 failed, 2 skipped", "unit", Counts{3, 1, 2}, true},
		{"x: 0 passed, 0 failed (no test ran)", "x", Counts{}, true},
		{"lab: NOT RUN (not root)", "", Counts{}, false},
		{"garbage", "", Counts{}, false},
	} {
		suite, c, ok := ParseLine(tc.line)
		if suite != tc.suite || c != tc.c || ok != tc.ok {
			t.Errorf("ParseLine(%q) = %q %+v %v, want %q %+v %v", tc.line, suite, c, ok, tc.suite, tc.c, tc.ok)
		}
	}
	if got := (Counts{412, 0, 3}).String(); got != "412 passed, 0 failed, 3 skipped" {
		t.Errorf("String = %q", got)
	}
	if got := (Counts{1, 2, 0}).String(); got != "1 passed, 2 failed" {
		t.Errorf("String = %q", got)
	}
}

func writeSummaries(t *testing.T, lines map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for step, line := range lines {
		if err := os.WriteFile(filepath.Join(dir, step), []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func total(t *testing.T, dir string, steps ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"total", "-dir", dir}, steps...), nil, &out, &errOut)
	if errOut.Len() > 0 {
		t.Fatalf("stderr: %s", errOut.String())
	}
	return code, out.String()
}

func TestTotalAddsSuitesInOrder(t *testing.T) {
	dir := writeSummaries(t, map[string]string{
		"lint":      "lint: 3 passed, 0 failed",
		"test-unit": "unit: 300 passed, 0 failed, 3 skipped",
		"test-e2e":  "e2e: 52 passed, 0 failed",
		"lab-test":  "lab: NOT RUN: not root",
	})
	code, out := total(t, dir, "lint=0", "test-unit=0", "test-e2e=0", "lab-test=0")
	want := "lint: 3 passed, 0 failed\nunit: 300 passed, 0 failed, 3 skipped\ne2e: 52 passed, 0 failed\nlab: NOT RUN: not root\ntotal: 355 passed, 0 failed, 3 skipped\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
}

func TestTotalFailsOnAnyFailure(t *testing.T) {
	dir := writeSummaries(t, map[string]string{
		"lint":      "lint: 2 passed, 1 failed",
		"test-unit": "unit: 10 passed, 0 failed",
		"fuzz":      "fuzz: 4 passed, 0 failed",
		"lab-test":  "lab: NOT RUN: not root",
	})
	for _, tc := range []struct {
		name  string
		steps []string
		want  []string
	}{
		{"a failed test", []string{"lint=2", "test-unit=0"},
			[]string{"lint: 2 passed, 1 failed\n", "failed: lint\n", "total: 12 passed, 1 failed\n"}},
		{"a step that exited non-zero with no failure counted", []string{"test-unit=2"},
			[]string{"unit: 10 passed, 0 failed (but the step exited 2)\n", "failed: test-unit\n", "total: 10 passed, 1 failed\n"}},
		{"a step that failed before it reported", []string{"fuzz=0", "test-e2e=2"},
			[]string{"test-e2e: FAILED before its tests reported (exit 2)\n", "total: 4 passed, 1 failed\n"}},
		{"a step that exited 0 without a summary", []string{"faults-short=0"},
			[]string{"faults-short: wrote no summary line", "total: 0 passed, 1 failed\n"}},
		{"NOT RUN from a step that failed", []string{"lab-test=1"},
			[]string{"lab: NOT RUN: not root (exit 1)\n", "total: 0 passed, 1 failed\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := total(t, dir, tc.steps...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestTotalUsage(t *testing.T) {
	for _, args := range [][]string{{"total"}, {"total", "lint"}, {"total", "lint=x"}} {
		var out, errOut bytes.Buffer
		if code := run(args, nil, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}
