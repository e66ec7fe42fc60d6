package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goTestJSON runs `go test -json` with args in testdata/sample, with env
// added to ours, and returns the stream; go test's own exit code does not
// matter here.
func goTestJSON(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", append([]string{"test", "-json", "-count=1"}, args...)...)
	cmd.Dir = filepath.Join("testdata", "sample")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("go test: %v", err)
		}
	}
	return out.Bytes()
}

// summarize runs testsum over stream and returns its exit code, console
// output, the summary file's line and the log.
func summarize(t *testing.T, stream []byte) (code int, console, line, log string) {
	t.Helper()
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code = run([]string{"-suite", "sample", "-log", filepath.Join(dir, "log"), "-summary", filepath.Join(dir, "sum", "sample")},
		bytes.NewReader(stream), &out, &errOut)
	if errOut.Len() > 0 {
		t.Fatalf("testsum wrote to stderr: %s", errOut.String())
	}
	return code, out.String(), readFile(t, filepath.Join(dir, "sum", "sample")), readFile(t, filepath.Join(dir, "log"))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Leaves count: TestPass, TestParent/a and /b, TestParentFailsItself/ok,
// FuzzSample/seed#0, TestHang/inner pass; TestSkip, TestAllSkipped/x skip;
// package broken (built without its tag) has TestNothing.
func TestSuiteCountsLeaves(t *testing.T) {
	code, console, line, log := summarize(t, goTestJSON(t, nil, "./..."))
	if code != 0 || line != "sample: 7 passed, 0 failed, 2 skipped\n" {
		t.Fatalf("exit %d, summary %q; console:\n%s", code, line, console)
	}
	for _, want := range []string{"--- PASS: TestPass", "    --- PASS: TestParent/a", "--- SKIP: TestSkip", "    sample_test.go:14: skipped on purpose", "timings from TestMain\n", "ok  \tsample\t"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	if strings.Contains(console, "\nPASS\n") {
		t.Errorf("console repeats go test's bare PASS:\n%s", console)
	}
	if strings.Contains(console, "a log line") || !strings.Contains(log, ": a log line") {
		t.Errorf("a passing test's log line belongs in the log only; console:\n%s\nlog:\n%s", console, log)
	}
}

func TestSuiteShowsFailures(t *testing.T) {
	for _, tc := range []struct {
		name, env, summary string
		shown              []string
	}{
		{"subtest", "SAMPLE_FAIL_SUBTEST=1", "sample: 6 passed, 1 failed, 2 skipped",
			[]string{"=== output of failed test TestParent/b:", "subtest b failed on purpose"}},
		{"parent itself", "SAMPLE_FAIL_PARENT=1", "sample: 7 passed, 1 failed, 2 skipped",
			[]string{"=== output of failed test TestParentFailsItself:", "the parent failed on purpose"}},
		{"panic", "SAMPLE_PANIC=1", "sample: 6 passed, 1 failed, 2 skipped",
			// test2json gives the panic to the parent, whose output is shown too.
			[]string{"=== output of failed test FuzzSample/seed#0:", "=== output of failed test FuzzSample:", "panic: panic on purpose: seed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, console, line, _ := summarize(t, goTestJSON(t, []string{tc.env}, "./..."))
			if code != 1 || line != tc.summary+"\n" {
				t.Fatalf("exit %d, summary %q, want 1 and %q; console:\n%s", code, line, tc.summary, console)
			}
			for _, want := range tc.shown {
				if !strings.Contains(console, want) {
					t.Errorf("console lacks %q:\n%s", want, console)
				}
			}
		})
	}
}

// A test still running when the binary dies (here: -timeout) failed, and
// its output, which holds the timeout panic, is shown.
func TestSuiteTimeoutFailsTheRunningTest(t *testing.T) {
	stream := goTestJSON(t, []string{"SAMPLE_HANG=1"}, "-timeout", "2s", "-run", "TestHang", ".")
	code, console, line, _ := summarize(t, stream)
	if code != 1 || line != "sample: 0 passed, 1 failed\n" {
		t.Fatalf("exit %d, summary %q; console:\n%s", code, line, console)
	}
	for _, want := range []string{"--- FAIL: TestHang/inner (did not finish)", "panic: test timed out after 2s"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
}

// A test binary that fails after its tests passed (TestMain) counts one
// failure, with its output shown.
func TestSuitePackageFailureCounts(t *testing.T) {
	code, console, line, _ := summarize(t, goTestJSON(t, []string{"SAMPLE_MAIN_FAIL=1"}, "-run", "^TestPass$", "."))
	if code != 1 || line != "sample: 1 passed, 1 failed\n" {
		t.Fatalf("exit %d, summary %q; console:\n%s", code, line, console)
	}
	if !strings.Contains(console, "=== output of package sample (failed outside any test):\nTestMain fails on purpose\n") {
		t.Errorf("console lacks the package's output:\n%s", console)
	}
}

func TestSuiteBuildFailureCounts(t *testing.T) {
	code, console, line, _ := summarize(t, goTestJSON(t, nil, "-tags", "broken", "./broken"))
	if code != 1 || line != "sample: 0 passed, 1 failed\n" {
		t.Fatalf("exit %d, summary %q; console:\n%s", code, line, console)
	}
	for _, want := range []string{`cannot use "not an int"`, "=== output of package sample/broken (failed outside any test)", "FAIL\tsample/broken [build failed]"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
}

func TestSuiteThatRanNothingFails(t *testing.T) {
	code, console, line, _ := summarize(t, goTestJSON(t, nil, "-run", "^TestAllSkipped$", "."))
	if code != 1 || line != "sample: 0 passed, 0 failed, 1 skipped (no test ran)\n" {
		t.Fatalf("exit %d, summary %q; console:\n%s", code, line, console)
	}
	code, _, line, _ = summarize(t, nil)
	if code != 1 || line != "sample: 0 passed, 0 failed (no test ran)\n" {
		t.Fatalf("empty stream: exit %d, summary %q", code, line)
	}
}

// Several go test runs in one stream (the fuzz suite replays seeds, then
// fuzzes) add up; a fuzzing run counts its target once.
func TestSuiteAddsRuns(t *testing.T) {
	var stream []byte
	stream = append(stream, goTestJSON(t, nil, "-run", "^FuzzSample$", ".")...)
	stream = append(stream, goTestJSON(t, nil, "-run", "^$", "-fuzz", "^FuzzSample$", "-fuzztime", "50x", ".")...)
	code, console, line, _ := summarize(t, stream)
	if code != 0 || line != "sample: 2 passed, 0 failed\n" {
		t.Fatalf("exit %d, summary %q; console:\n%s", code, line, console)
	}
	if !strings.Contains(console, "fuzz: elapsed: ") {
		t.Errorf("console lacks the fuzzing progress:\n%s", console)
	}
}

func TestSuiteShowsLinesThatAreNotJSON(t *testing.T) {
	stream := []byte("go: downloading example.com/x v1.0.0\n" +
		`{"Action":"run","Package":"p","Test":"TestA"}` + "\n" +
		`{"Action":"pass","Package":"p","Test":"TestA"}` + "\n")
	code, console, line, log := summarize(t, stream)
	if code != 0 || line != "sample: 1 passed, 0 failed\n" || !strings.Contains(console, "go: downloading") || !strings.Contains(log, "go: downloading") {
		t.Fatalf("exit %d, summary %q, console:\n%s\nlog:\n%s", code, line, console, log)
	}
}

func TestSuiteUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, strings.NewReader(""), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Fatalf("no -suite: exit %d, stderr %q", code, errOut.String())
	}
}
