package faults

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Clock is the campaign's time: every log line, operation and fault is
// stamped with the time since the campaign started, from one monotonic
// clock, so that histories and logs line up.
type Clock struct{ start time.Time }

// NewClock starts a clock now.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Now is the time since the start.
func (c *Clock) Now() time.Duration { return time.Since(c.start) }

// Stamp formats a campaign time for logs.
func Stamp(d time.Duration) string { return fmt.Sprintf("+%09.3fs", d.Seconds()) }

// logFile is a log shared by several writers; each line gets a stamp.
type logFile struct {
	mu    sync.Mutex
	w     io.WriteCloser
	clock *Clock
}

func openLog(path string, clock *Clock) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &logFile{w: f, clock: clock}, nil
}

// Printf writes one stamped line with a tag.
func (l *logFile) Printf(tag, format string, args ...any) {
	l.Line(tag, fmt.Sprintf(format, args...))
}

// Line writes one stamped line with a tag.
func (l *logFile) Line(tag, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s %s\n", Stamp(l.clock.Now()), tag, line)
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Close()
}
