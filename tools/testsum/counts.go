package main

import (
	"fmt"
	"regexp"
	"strconv"
)

// Counts are the outcomes of the tests of one suite, or of all.
type Counts struct {
	Passed, Failed, Skipped int
}

// String is the plain summary form: "N passed, N failed", with ", N skipped"
// only where some were.
func (c Counts) String() string {
	s := fmt.Sprintf("%d passed, %d failed", c.Passed, c.Failed)
	if c.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", c.Skipped)
	}
	return s
}

// Add returns the sum of c and o.
func (c Counts) Add(o Counts) Counts {
	return Counts{c.Passed + o.Passed, c.Failed + o.Failed, c.Skipped + o.Skipped}
}

// Ran reports whether any test ran to a verdict: a skipped test did not.
func (c Counts) Ran() bool { return c.Passed+c.Failed > 0 }

var summaryLine = regexp.MustCompile(`^([^:\s]+): (\d+) passed, (\d+) failed(?:, (\d+) skipped)?`)

// ParseLine reads a summary line "suite: N passed, N failed[, N skipped]...".
func ParseLine(line string) (suite string, c Counts, ok bool) {
	m := summaryLine.FindStringSubmatch(line)
	if m == nil {
		return "", Counts{}, false
	}
	c.Passed, _ = strconv.Atoi(m[2])
	c.Failed, _ = strconv.Atoi(m[3])
	if m[4] != "" {
		c.Skipped, _ = strconv.Atoi(m[4])
	}
	return m[1], c, true
}
