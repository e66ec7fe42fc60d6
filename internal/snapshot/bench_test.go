package snapshot

import (
	"crypto/rand"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// benchData is how much value data the benchmarks write before a snapshot.
const benchData = 64 << 20

// BenchmarkSnapshot64MB measures Take (stream, fsync, Verify, rename) and
// Verify alone on a member holding 64 MB of values, for each etcd version,
// and reports the snapshot's size. Run it with -benchtime=3x or so: one
// iteration moves the whole database.
func BenchmarkSnapshot64MB(b *testing.B) {
	for i, v := range testetcd.Versions(b) {
		b.Run(v.Name, func(b *testing.B) {
			c := startOne(b, v, netBench, i+1)
			cli := c.Client(b)
			fill(b, cli, benchData)
			dir := b.TempDir()
			var last Info
			b.Run("take", func(b *testing.B) {
				n := 0
				for b.Loop() {
					n++
					info, err := Take(ctxFor(b), opener(cli), dir, t0.Add(time.Duration(n)*time.Second))
					if err != nil {
						b.Fatalf("Take: %v", err)
					}
					if last.Path != "" {
						_ = os.Remove(last.Path)
					}
					last = info
				}
				b.SetBytes(last.Size)
				b.ReportMetric(float64(last.Size)/(1<<20), "MiB/snapshot")
			})
			b.Run("verify", func(b *testing.B) {
				for b.Loop() {
					if _, err := Verify(last.Path); err != nil {
						b.Fatalf("Verify: %v", err)
					}
				}
				b.SetBytes(last.Size)
			})
		})
	}
}

// fill writes size bytes of random values, 64 KiB each, 16 to a
// transaction.
func fill(b *testing.B, cli *clientv3.Client, size int) {
	b.Helper()
	const valueSize, perTxn = 64 << 10, 16
	value := make([]byte, valueSize)
	for i := 0; i < size/valueSize; i += perTxn {
		ops := make([]clientv3.Op, perTxn)
		for j := range ops {
			_, _ = rand.Read(value)
			ops[j] = clientv3.OpPut(fmt.Sprintf("bench/%06d", i+j), string(value))
		}
		if _, err := cli.Txn(ctxFor(b)).Then(ops...).Commit(); err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
}
