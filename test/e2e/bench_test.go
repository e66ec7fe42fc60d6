package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// netBench is the benchmark's first loopback /24; it takes one per etcd
// version (60-62), above the tests' and below 80.
const netBench = 60

// BenchmarkWipedMemberRejoin measures how long a member whose data dir was
// deleted takes from the start of etcd-rejoin to READY as a voter, in a
// three-member cluster, per etcd version. It reports the median
// (s/rejoin-median) besides the mean (ns/op). Run it with
//
//	go test -run '^$' -bench WipedMemberRejoin -benchtime 5x ./test/e2e/
func BenchmarkWipedMemberRejoin(b *testing.B) {
	for i, v := range testetcd.Versions(b) {
		b.Run("etcd"+v.Name, func(b *testing.B) {
			benchRejoin(b, v, fmt.Sprintf("127.0.%d", netBench+i))
		})
	}
}

func benchRejoin(b *testing.B, v testetcd.Version, prefix string) {
	l := newLab(b, v, prefix, 3)
	l.startAll()
	var took []time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		victim := n % 3
		l.wipe(victim)
		b.StartTimer()
		start := time.Now()
		h := l.start(victim)
		h.waitReady(l.t)
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(took[len(took)/2].Seconds(), "s/rejoin-median")
}
