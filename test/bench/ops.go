package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// memberIDs returns the member ID each node given answers Status with, and
// the leader's ID as the first one that knows it reports it.
func (c *cluster) memberIDs(ctx context.Context, idx []int) (ids map[int]uint64, leader uint64, err error) {
	ids = map[int]uint64{}
	for _, i := range idx {
		cli, err := c.client(i)
		if err != nil {
			return nil, 0, err
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, c.nodes[i].clientURL)
		cancel()
		_ = cli.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("status of %s: %w", c.nodes[i].name, err)
		}
		ids[i] = st.Header.GetMemberId()
		if leader == 0 {
			leader = st.Leader
		}
	}
	return ids, leader, nil
}

// moveLeaderOff makes sure node victim is not the leader, so that stopping
// it costs no election: both methods then start from the same cluster.
func (c *cluster) moveLeaderOff(ctx context.Context, victim int) error {
	all := append(c.others(victim), victim)
	ids, leader, err := c.memberIDs(ctx, all)
	if err != nil {
		return err
	}
	if ids[victim] != leader {
		return nil
	}
	cli, err := c.client(victim)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.MoveLeader(mctx, ids[all[0]]); err != nil {
		return fmt.Errorf("move the leader off %s: %w", c.nodes[victim].name, err)
	}
	return nil
}

// dbSize is the backend size node i reports.
func (c *cluster) dbSize(ctx context.Context, i int) (int64, error) {
	cli, err := c.client(i)
	if err != nil {
		return 0, err
	}
	defer func() { _ = cli.Close() }()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := cli.Status(sctx, c.nodes[i].clientURL)
	if err != nil {
		return 0, fmt.Errorf("status of %s: %w", c.nodes[i].name, err)
	}
	return st.DbSize, nil
}

// smallKeys is the key count of the "0 MB" data set.
const smallKeys = 300

// Data load: puts of valueSize bytes, batched into transactions of about
// txnBytes so that loading is not bound by the raft entry count, loaders of
// them in flight (more in flight, larger raft batches: a loaded machine
// fsyncs less often). A write that fails (an election under load) is tried
// again up to txnTries times: it is idempotent.
const (
	txnBytes = 64 << 10
	loaders  = 32
	txnTries = 5
)

// loadPlan says how many keys of which size make sizeMB, and how many go
// into one transaction.
func loadPlan(sizeMB, valueSize int) (keys, size, perTxn int) {
	if sizeMB == 0 {
		return smallKeys, 16, 1
	}
	return sizeMB << 20 / valueSize, valueSize, max(1, txnBytes/valueSize)
}

// padTo is the raft index the log is padded up to, with tiny writes, so
// that the leader has compacted its log at least once: etcd keeps the last
// 5000 entries after a snapshot, taken every snapshotCount entries. A
// member added later then catches up from a snapshot, as from any cluster
// that has run for a while.
func padTo(snapshotCount int) uint64 {
	return uint64(5000 + 2*snapshotCount + 100)
}

// load writes the data set through every member, then pads the log.
func (c *cluster) load(ctx context.Context, sizeMB int) (int, error) {
	keys, size, perTxn := loadPlan(sizeMB, c.cfg.ValueSize)
	cli, err := c.client(c.others(-1)...)
	if err != nil {
		return 0, err
	}
	defer func() { _ = cli.Close() }()
	pool := make([]byte, 1<<20+size)
	rng := rand.New(rand.NewPCG(1, uint64(sizeMB)))
	for i := range pool {
		pool[i] = byte(rng.UintN(256))
	}
	batches := (keys + perTxn - 1) / perTxn
	err = parallel(ctx, batches, func(b int) error {
		var ops []clientv3.Op
		for k := b * perTxn; k < min(keys, (b+1)*perTxn); k++ {
			off := (k * 7919) % (1 << 20)
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("bench/data/%08d", k), string(pool[off:off+size])))
		}
		return txn(ctx, cli, ops)
	})
	if err != nil {
		return 0, fmt.Errorf("load %d MB: %w", sizeMB, err)
	}
	return keys, c.pad(ctx, cli)
}

// pad writes tiny keys until the raft index reaches padTo.
func (c *cluster) pad(ctx context.Context, cli *clientv3.Client) error {
	want := padTo(c.cfg.SnapshotCount)
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := cli.Status(sctx, c.nodes[0].clientURL)
		cancel()
		if err != nil {
			return fmt.Errorf("pad the log: %w", err)
		}
		if st.RaftIndex >= want {
			return nil
		}
		n := int(want - st.RaftIndex)
		err = parallel(ctx, n, func(k int) error {
			return txn(ctx, cli, []clientv3.Op{clientv3.OpPut(fmt.Sprintf("bench/pad/%d-%06d", st.RaftIndex, k), "x")})
		})
		if err != nil {
			return fmt.Errorf("pad the log: %w", err)
		}
	}
}

// parallel runs f(0..n-1), loaders at a time; the first error wins.
func parallel(ctx context.Context, n int, f func(int) error) error {
	var next atomic.Int64
	errs := make(chan error, loaders)
	var wg sync.WaitGroup
	for range loaders {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// txn writes ops in one transaction, trying again after a failure.
func txn(ctx context.Context, cli *clientv3.Client, ops []clientv3.Op) error {
	var err error
	for try := 0; try < txnTries; try++ {
		if err = txnOnce(ctx, cli, ops); err == nil || !sleepCtx(ctx, time.Second) {
			return err
		}
	}
	return fmt.Errorf("%d tries: %w", txnTries, err)
}

func txnOnce(ctx context.Context, cli *clientv3.Client, ops []clientv3.Op) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("write %d keys: %w", len(ops), err)
	}
	return nil
}
