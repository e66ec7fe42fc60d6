package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// writeTimeout is a client's patience with one write; a write that takes
// longer, or fails, counts as failed.
const writeTimeout = 5 * time.Second

// sample is one write: when it was due, how long it took, whether it failed.
type sample struct {
	due    time.Time
	took   time.Duration
	failed bool
}

// writer writes at a fixed rate through the healthy members, open loop:
// each write is sent when it is due, whatever the earlier ones are doing,
// and its latency counts from then.
type writer struct {
	cli     *clientv3.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []sample
}

func startWriter(ctx context.Context, endpoints []string, rate int) (*writer, error) {
	cli, err := newClient(endpoints)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{cli: cli, cancel: cancel}
	w.wg.Add(1)
	go w.loop(ctx, time.Second/time.Duration(rate))
	return w, nil
}

func (w *writer) loop(ctx context.Context, every time.Duration) {
	defer w.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case due := <-tick.C:
			w.wg.Add(1)
			go w.write(fmt.Sprintf("bench/writer/%09d", n), due)
		}
	}
}

func (w *writer) write(key string, due time.Time) {
	defer w.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_, err := w.cli.Put(ctx, key, "0123456789abcdef0123456789abcdef")
	s := sample{due: due, took: time.Since(due), failed: err != nil}
	w.mu.Lock()
	w.samples = append(w.samples, s)
	w.mu.Unlock()
}

// stop ends the writes, waits for those in flight and returns every sample.
func (w *writer) stop() []sample {
	w.cancel()
	w.wg.Wait()
	_ = w.cli.Close()
	return w.samples
}

// window returns the samples due in [from, to).
func window(samples []sample, from, to time.Time) []sample {
	var out []sample
	for _, s := range samples {
		if !s.due.Before(from) && s.due.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// WriterStats sums up the writes of one kind of window.
type WriterStats struct {
	Writes int           `json:"writes"`
	Failed int           `json:"failed"`
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
	Max    time.Duration `json:"max"`
}

// summarize counts the writes and takes the latencies of those that
// succeeded.
func summarize(samples []sample) WriterStats {
	st := WriterStats{Writes: len(samples)}
	var ok []time.Duration
	for _, s := range samples {
		if s.failed {
			st.Failed++
			continue
		}
		ok = append(ok, s.took)
	}
	st.P50, _ = percentile(ok, 50)
	st.P99, _ = percentile(ok, 99)
	_, st.Max, _ = span(ok)
	return st
}
