package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// event is one record of `go test -json` (cmd/test2json), including the
// build records (ImportPath, build-output, build-fail).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	ImportPath  string
	FailedBuild string
}

// instance is one run of one test (or subtest) that has not ended yet.
type instance struct {
	name        string
	output      []string
	children    bool // a subtest of it has started
	childFailed bool // a subtest of it failed
}

// pkgRun is one run of one test binary, from "start" to its pass or fail.
type pkgRun struct {
	output   []string // lines outside any test
	failures int      // failed tests counted in this run
}

// summarizer counts a stream's tests and prints what a reader needs.
type summarizer struct {
	console io.Writer
	log     io.Writer
	counts  Counts
	open    map[string]*instance // by package + "\x00" + test name
	pkgs    map[string]*pkgRun
}

func newSummarizer(console, log io.Writer) *summarizer {
	return &summarizer{console: console, log: log, open: map[string]*instance{}, pkgs: map[string]*pkgRun{}}
}

// read handles every line of r; lines that are not JSON events (go's own
// messages on stderr) are shown and logged as they are.
func (s *summarizer) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			fmt.Fprintf(s.console, "%s\n", line)
			fmt.Fprintf(s.log, "%s\n", line)
			continue
		}
		s.handle(ev)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read go test -json: %w", err)
	}
	s.finishAll()
	return nil
}

func (s *summarizer) handle(ev event) {
	switch {
	case ev.Action == "build-output":
		fmt.Fprint(s.console, ev.Output)
		fmt.Fprint(s.log, ev.Output)
	case ev.Action == "start":
		s.pkgs[ev.Package] = &pkgRun{}
	case ev.Action == "run":
		s.start(ev.Package, ev.Test)
	case ev.Action == "output":
		s.output(ev)
	case ev.Test != "" && isVerdict(ev.Action):
		s.finish(ev.Package, ev.Test, ev.Action, ev.Elapsed)
	case ev.Test == "" && isVerdict(ev.Action):
		s.finishPackage(ev.Package, ev.Action == "fail")
	}
}

func isVerdict(action string) bool {
	return action == "pass" || action == "fail" || action == "skip"
}

func key(pkg, test string) string { return pkg + "\x00" + test }

// parentOf returns the name of a subtest's parent, "" for a top-level test.
func parentOf(test string) string {
	if i := strings.LastIndexByte(test, '/'); i >= 0 {
		return test[:i]
	}
	return ""
}

func (s *summarizer) start(pkg, test string) {
	s.open[key(pkg, test)] = &instance{name: test}
	if p := s.open[key(pkg, parentOf(test))]; p != nil {
		p.children = true
	}
}

func (s *summarizer) output(ev event) {
	fmt.Fprint(s.log, ev.Output)
	line := strings.TrimRight(ev.Output, "\n")
	if ev.Test == "" {
		s.pkg(ev.Package).output = append(s.pkg(ev.Package).output, line)
		return
	}
	if strings.HasPrefix(line, "fuzz: ") {
		fmt.Fprintln(s.console, line)
	}
	if in := s.open[key(ev.Package, ev.Test)]; in != nil {
		in.output = append(in.output, line)
		return
	}
	s.pkg(ev.Package).output = append(s.pkg(ev.Package).output, line)
}

// packageLines drops from a package's lines outside any test what says
// nothing the result lines do not: go test's bare PASS/FAIL, a package
// without tests. What a TestMain prints (the lab's timings, say) stays, and
// so does the package's ok/FAIL line.
func packageLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if l == "PASS" || l == "FAIL" || strings.HasPrefix(l, "?   \t") || l == "testing: warning: no tests to run" {
			continue
		}
		out = append(out, l)
	}
	return out
}

// pkg returns the package's current run, making one for a stream that
// lacks the "start" record.
func (s *summarizer) pkg(name string) *pkgRun {
	if s.pkgs[name] == nil {
		s.pkgs[name] = &pkgRun{}
	}
	return s.pkgs[name]
}

// finish counts a test that ended: a leaf by its verdict; a test with
// subtests only when it failed while none of them did.
func (s *summarizer) finish(pkg, test, action string, elapsed float64) {
	k := key(pkg, test)
	in := s.open[k]
	if in == nil {
		in = &instance{name: test}
	}
	delete(s.open, k)
	fmt.Fprintf(s.console, "%s--- %s: %s (%.2fs)\n", indent(test), strings.ToUpper(action), test, elapsed)
	counted := !in.children || (action == "fail" && !in.childFailed)
	if counted {
		s.count(pkg, action)
	}
	switch {
	case action == "fail" && (counted || hasOwnLines(in.output)):
		s.show("failed test "+test, in.output)
	case action == "skip" && counted:
		s.showReason(test, in.output)
	}
	if action == "fail" {
		if p := s.open[key(pkg, parentOf(test))]; p != nil {
			p.childFailed = true
		}
	}
}

func (s *summarizer) count(pkg, action string) {
	switch action {
	case "pass":
		s.counts.Passed++
	case "fail":
		s.counts.Failed++
		s.pkg(pkg).failures++
	case "skip":
		s.counts.Skipped++
	}
}

// finishPackage ends one test binary's run. Tests still running when it
// ended (a timeout, a crash) failed; a failed package with no failed test
// (build error, TestMain, a panic outside tests) counts as one failure.
func (s *summarizer) finishPackage(pkg string, failed bool) {
	for _, test := range s.openLeaves(pkg) {
		in := s.open[key(pkg, test)]
		fmt.Fprintf(s.console, "%s--- FAIL: %s (did not finish)\n", indent(test), test)
		s.count(pkg, "fail")
		s.show("test "+test+" that did not finish", in.output)
	}
	s.closeOpen(pkg)
	run := s.pkg(pkg)
	lines := packageLines(run.output)
	if failed && run.failures == 0 {
		s.counts.Failed++
		s.show("package "+pkg+" (failed outside any test)", lines)
	} else {
		for _, l := range lines {
			fmt.Fprintln(s.console, l)
		}
	}
	delete(s.pkgs, pkg)
}

// finishAll ends packages whose stream stopped without a verdict (go test
// killed, say): what was still running failed.
func (s *summarizer) finishAll() {
	for pkg := range s.pkgs {
		s.finishPackage(pkg, true)
	}
	for k := range s.open {
		pkg, _, _ := strings.Cut(k, "\x00")
		s.finishPackage(pkg, true)
	}
}

// openLeaves lists the package's running tests that have no running
// subtest: the ones a hang or crash caught.
func (s *summarizer) openLeaves(pkg string) []string {
	var names []string
	for k, in := range s.open {
		if p, _, _ := strings.Cut(k, "\x00"); p != pkg {
			continue
		}
		if !s.hasOpenChild(pkg, in.name) {
			names = append(names, in.name)
		}
	}
	return names
}

func (s *summarizer) hasOpenChild(pkg, test string) bool {
	for k := range s.open {
		p, name, _ := strings.Cut(k, "\x00")
		if p == pkg && strings.HasPrefix(name, test+"/") {
			return true
		}
	}
	return false
}

func (s *summarizer) closeOpen(pkg string) {
	for k := range s.open {
		if p, _, _ := strings.Cut(k, "\x00"); p == pkg {
			delete(s.open, k)
		}
	}
}

// show prints the whole output of something that failed, but go test's
// framing lines.
func (s *summarizer) show(what string, lines []string) {
	fmt.Fprintf(s.console, "=== output of %s:\n", what)
	for _, l := range lines {
		if !isFraming(l) {
			fmt.Fprintln(s.console, l)
		}
	}
	fmt.Fprintf(s.console, "=== end of %s\n", what)
}

// hasOwnLines reports whether a test printed more than go test's framing
// and result lines (a parent that failed with its subtests may still hold
// the panic that killed them).
func hasOwnLines(lines []string) bool {
	for _, l := range lines {
		if !isFraming(l) && !strings.HasPrefix(strings.TrimSpace(l), "--- ") {
			return true
		}
	}
	return false
}

// showReason prints a skipped test's own lines: why it was skipped.
func (s *summarizer) showReason(test string, lines []string) {
	for _, l := range lines {
		if !isFraming(l) && !strings.HasPrefix(strings.TrimSpace(l), "--- SKIP: ") {
			fmt.Fprintln(s.console, indent(test)+"    "+strings.TrimLeft(l, " "))
		}
	}
}

// indent is go test's indentation of a (sub)test's result line.
func indent(test string) string {
	return strings.Repeat("    ", strings.Count(test, "/"))
}
