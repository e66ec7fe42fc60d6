package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// step is one target of `make test` and how it exited.
type step struct {
	name string
	code int
}

// runTotal prints each step's summary line and the total; it returns 1
// when a test failed or a step exited non-zero.
func runTotal(args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("testsum total", flag.ContinueOnError)
	dir := fs.String("dir", "build/summary", "where each step wrote its summary line, in a file named after it")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	steps, err := parseSteps(fs.Args())
	if err != nil {
		return 0, err
	}
	var total Counts
	var failed []string
	for _, st := range steps {
		line, c := stepLine(*dir, st)
		fmt.Fprintln(stdout, line)
		total = total.Add(c)
		if st.code != 0 || c.Failed > 0 {
			failed = append(failed, st.name)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintln(stdout, "failed:", strings.Join(failed, " "))
	}
	fmt.Fprintln(stdout, "total: "+total.String())
	if len(failed) > 0 {
		return 1, nil
	}
	return 0, nil
}

// parseSteps reads NAME=EXITCODE arguments.
func parseSteps(args []string) ([]step, error) {
	if len(args) == 0 {
		return nil, errors.New("usage: testsum total [-dir DIR] STEP=EXITCODE [STEP=EXITCODE]")
	}
	steps := make([]step, 0, len(args))
	for _, a := range args {
		name, code, ok := strings.Cut(a, "=")
		n, err := strconv.Atoi(code)
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("step %q: want NAME=EXITCODE", a)
		}
		steps = append(steps, step{name, n})
	}
	return steps, nil
}

// stepLine returns the line to print for a step and what it counts. A step
// that wrote no line, or a line that counts no failure although the step
// exited non-zero, counts one failure; a line saying "NOT RUN" (a suite
// that this user cannot run, outside CI) counts nothing.
func stepLine(dir string, st step) (string, Counts) {
	b, err := os.ReadFile(filepath.Join(dir, st.name))
	line := strings.TrimSpace(string(b))
	if err != nil || line == "" {
		if st.code == 0 {
			return st.name + ": wrote no summary line (it must run tests through testsum)", Counts{Failed: 1}
		}
		return fmt.Sprintf("%s: FAILED before its tests reported (exit %d)", st.name, st.code), Counts{Failed: 1}
	}
	_, c, ok := ParseLine(line)
	switch {
	case !ok && strings.Contains(line, "NOT RUN") && st.code == 0:
		return line, Counts{}
	case !ok:
		return fmt.Sprintf("%s (exit %d)", line, st.code), Counts{Failed: 1}
	case st.code != 0 && c.Failed == 0:
		c.Failed = 1
		return fmt.Sprintf("%s (but the step exited %d)", line, st.code), c
	}
	return line, c
}
