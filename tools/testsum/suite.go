package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// runSuite reads one suite's `go test -json` stream (several runs of go
// test may follow each other) from stdin and returns 1 when a test failed
// or none ran.
func runSuite(args []string, stdin io.Reader, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("testsum", flag.ContinueOnError)
	suite := fs.String("suite", "", "the suite's name in the summary line (required)")
	logPath := fs.String("log", "", "write the plain go test -v text here")
	summaryPath := fs.String("summary", "", "write the summary line here")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if *suite == "" || fs.NArg() > 0 {
		return 0, errors.New("usage: go test -json ... | testsum -suite NAME [-log FILE] [-summary FILE]")
	}
	logw, closeLog, err := create(*logPath)
	if err != nil {
		return 0, err
	}
	s := newSummarizer(stdout, logw)
	if err := s.read(stdin); err != nil {
		return 0, err
	}
	line := *suite + ": " + s.counts.String()
	if !s.counts.Ran() {
		line += " (no test ran)"
	}
	fmt.Fprintln(stdout, line)
	if err := closeLog(); err != nil {
		return 0, err
	}
	if err := writeLine(*summaryPath, line); err != nil {
		return 0, err
	}
	if s.counts.Failed > 0 || !s.counts.Ran() {
		return 1, nil
	}
	return 0, nil
}

// create opens path for writing, making its directory; "" is io.Discard.
func create(path string) (io.Writer, func() error, error) {
	if path == "" {
		return io.Discard, func() error { return nil }, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("create log: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create log: %w", err)
	}
	w := bufio.NewWriter(f)
	return w, func() error {
		if err := w.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("write log %s: %w", path, err)
		}
		return f.Close()
	}, nil
}

func writeLine(path, line string) error {
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// isFraming reports whether an output line is go test's own bookkeeping
// (=== RUN, PAUSE, CONT, NAME), which the console does not repeat.
func isFraming(line string) bool {
	return strings.HasPrefix(line, "=== ")
}
