package supervise

import "sync"

// tail keeps the last lines written to it. Safe for concurrent use.
type tail struct {
	mu    sync.Mutex
	lines []string // ring buffer of capacity max
	next  int      // index the next line goes to once the ring is full
	max   int
}

func newTail(max int) *tail { return &tail{max: max, lines: make([]string, 0, max)} }

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) < t.max {
		t.lines = append(t.lines, line)
		return
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % t.max
}

// snapshot returns the kept lines, oldest first.
func (t *tail) snapshot() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.lines))
	out = append(out, t.lines[t.next:]...)
	return append(out, t.lines[:t.next]...)
}
