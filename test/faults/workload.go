package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Workload is the campaign's clients: one per member, each talking only to
// its member, writing unique values to and reading a small set of keys
// continuously, every operation recorded in the History. Requests require
// a leader (as Kubernetes' do): a member without one refuses them at once
// ("no leader", certainly not applied) instead of holding them.
type Workload struct {
	History *History
	Clock   *Clock
	Keys    int
	Timeout time.Duration // of one operation
	Pause   time.Duration // between two operations of one client

	step atomic.Int64
	dial func(context.Context, string) (net.Conn, error)
}

// KeyName is the workload's i-th key.
func KeyName(i int) string { return fmt.Sprintf("k/%02d", i) }

// Client ids beyond the members' clients.
const (
	checkpointClient = 1000 // the campaign's own linearizable reads after each step
	burstClient      = 1001 // writes of the "lag far behind" fault
)

// SetStep stamps the operations that start from now on with step.
func (w *Workload) SetStep(step int) { w.step.Store(int64(step)) }

// newClient returns a client of the endpoints given, dialling through dial.
func newClient(endpoints []string, dial func(context.Context, string) (net.Conn, error)) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
		DialOptions:          []grpc.DialOption{grpc.WithContextDialer(dial)},
	})
}

// Run runs one client per endpoint until ctx ends; seed makes each client's
// choice of operations and keys deterministic.
func (w *Workload) Run(ctx context.Context, endpoints []string, seed uint64) error {
	var wg sync.WaitGroup
	clients := make([]*clientv3.Client, len(endpoints))
	for i, ep := range endpoints {
		c, err := newClient([]string{ep}, w.dial)
		if err != nil {
			return fmt.Errorf("workload client %d: %w", i, err)
		}
		clients[i] = c
	}
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.client(ctx, i, c, endpoints[i], rand.New(rand.NewPCG(seed, uint64(i)+1)))
		}()
	}
	wg.Wait()
	for _, c := range clients {
		c.Close()
	}
	return nil
}

func (w *Workload) client(ctx context.Context, id int, c *clientv3.Client, via string, rng *rand.Rand) {
	for seq := 1; ctx.Err() == nil; seq++ {
		key := KeyName(rng.IntN(w.Keys))
		if rng.IntN(100) < 60 {
			w.put(ctx, c, id, via, key, fmt.Sprintf("c%d-%d", id, seq))
		} else {
			w.get(ctx, c, id, via, key)
		}
		if !sleepCtx(ctx, w.Pause) {
			return
		}
	}
}

// put writes value to key and records the operation.
func (w *Workload) put(ctx context.Context, c *clientv3.Client, client int, via, key, value string) Op {
	op := Op{Client: client, Kind: Put, Key: key, Value: value, Via: via, Step: int(w.step.Load())}
	cctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), w.Timeout)
	op.Call = int64(w.Clock.Now())
	i := w.History.Begin(op)
	resp, err := c.Put(cctx, key, value)
	op.Return = int64(w.Clock.Now())
	cancel()
	if ctx.Err() != nil && err != nil {
		op.Outcome, op.Err = Unknown, "campaign ended"
	} else {
		op.Outcome = classify(err)
	}
	if err != nil {
		op.Err = err.Error()
	} else {
		op.Rev = resp.Header.Revision
	}
	w.History.End(i, op)
	return op
}

// get reads key (a linearizable read) and records the operation.
func (w *Workload) get(ctx context.Context, c *clientv3.Client, client int, via, key string) Op {
	op := Op{Client: client, Kind: Get, Key: key, Via: via, Step: int(w.step.Load())}
	cctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), w.Timeout)
	op.Call = int64(w.Clock.Now())
	i := w.History.Begin(op)
	resp, err := c.Get(cctx, key)
	op.Return = int64(w.Clock.Now())
	cancel()
	op.Outcome = classify(err)
	if err != nil {
		op.Err = err.Error()
	} else if len(resp.Kvs) > 0 {
		op.Value, op.Rev = string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision
	}
	w.History.End(i, op)
	return op
}

// Checkpoint reads every key once through c and records the reads; it
// returns how many failed.
func (w *Workload) Checkpoint(ctx context.Context, c *clientv3.Client) int {
	failed := 0
	for i := 0; i < w.Keys; i++ {
		if op := w.get(ctx, c, checkpointClient, "any", KeyName(i)); op.Outcome != OK {
			failed++
		}
	}
	return failed
}
