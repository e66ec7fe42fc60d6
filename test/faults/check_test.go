package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// put and get build operations for histories; times are in ns.
func put(client int, key, value string, call, ret int64, out Outcome) Op {
	return Op{Client: client, Kind: Put, Key: key, Value: value, Call: call, Return: ret, Outcome: out}
}

func get(client int, key, value string, call, ret int64) Op {
	return Op{Client: client, Kind: Get, Key: key, Value: value, Call: call, Return: ret, Outcome: OK}
}

func checkpoint(key, value string, call, ret int64) Op {
	op := get(checkpointClient, key, value, call, ret)
	return op
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name         string
		ops          []Op
		linearizable porcupine.CheckResult
		lost         []string // values of lost puts
		changed      int
		failedSeen   int
		revConflicts int
	}{
		{
			name: "sequential puts and reads",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), get(1, "k", "a", 20, 30),
				put(0, "k", "b", 40, 50, OK), checkpoint("k", "b", 60, 70),
			},
			linearizable: porcupine.Ok,
		},
		{
			name: "concurrent put may be seen or not",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(1, "k", "b", 20, 100, OK),
				get(2, "k", "a", 30, 40), get(2, "k", "b", 50, 60),
			},
			linearizable: porcupine.Ok,
		},
		{
			name: "stale read after a completed put",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(0, "k", "b", 20, 30, OK), get(1, "k", "a", 40, 50),
			},
			linearizable: porcupine.Illegal,
		},
		{
			name: "acknowledged put lost: the checkpoint shows an older value",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(0, "k", "b", 20, 30, OK), checkpoint("k", "a", 40, 50),
			},
			linearizable: porcupine.Illegal,
			lost:         []string{"b"},
		},
		{
			name: "acknowledged put lost: the key is gone",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), checkpoint("k", "", 40, 50),
			},
			linearizable: porcupine.Illegal,
			lost:         []string{"a"},
		},
		{
			name: "a put overlapping the checkpoint is not lost",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(1, "k", "b", 20, 60, OK), checkpoint("k", "a", 40, 50),
			},
			linearizable: porcupine.Ok,
		},
		{
			name: "unknown put seen by a read counts as applied",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(1, "k", "b", 20, 1000, Unknown),
				get(2, "k", "b", 30, 40), get(2, "k", "b", 50, 60),
			},
			linearizable: porcupine.Ok,
		},
		{
			name: "unknown put applied, then a read of the old value after it was seen",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(1, "k", "b", 20, 1000, Unknown),
				get(2, "k", "b", 30, 40), get(2, "k", "a", 50, 60),
			},
			linearizable: porcupine.Illegal,
		},
		{
			name: "unknown put nobody saw is left out",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(1, "k", "b", 20, 1000, Unknown), checkpoint("k", "a", 30, 40),
			},
			linearizable: porcupine.Ok,
		},
		{
			name: "read of a value never written",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), get(1, "k", "zzz", 20, 30),
			},
			linearizable: porcupine.Illegal,
			changed:      1,
		},
		{
			name: "put reported failed but visible",
			ops: []Op{
				put(0, "k", "a", 0, 10, Failed), get(1, "k", "a", 20, 30),
			},
			linearizable: porcupine.Ok,
			failedSeen:   1,
		},
		{
			name: "two writes at one revision",
			ops: []Op{
				{Client: 0, Kind: Put, Key: "k", Value: "a", Call: 0, Return: 10, Outcome: OK, Rev: 7},
				{Client: 1, Kind: Put, Key: "j", Value: "b", Call: 0, Return: 10, Outcome: OK, Rev: 7},
			},
			linearizable: porcupine.Ok,
			revConflicts: 1,
		},
		{
			name: "keys are checked apart",
			ops: []Op{
				put(0, "k", "a", 0, 10, OK), put(1, "j", "b", 0, 10, OK),
				get(2, "k", "a", 20, 30), get(2, "j", "b", 20, 30), checkpoint("j", "b", 40, 50),
			},
			linearizable: porcupine.Ok,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Check(tt.ops, 0)
			if v.Linearizable != tt.linearizable {
				t.Errorf("linearizable %s, want %s", v.Linearizable, tt.linearizable)
			}
			var lost []string
			for _, op := range v.Lost {
				lost = append(lost, op.Value)
			}
			if fmt.Sprint(lost) != fmt.Sprint(tt.lost) {
				t.Errorf("lost %v, want %v", lost, tt.lost)
			}
			if len(v.Changed) != tt.changed || len(v.FailedVisible) != tt.failedSeen || len(v.RevConflicts) != tt.revConflicts {
				t.Errorf("changed %d failed-visible %d rev-conflicts %d, want %d %d %d",
					len(v.Changed), len(v.FailedVisible), len(v.RevConflicts), tt.changed, tt.failedSeen, tt.revConflicts)
			}
			wantOK := tt.linearizable == porcupine.Ok && len(tt.lost) == 0 && tt.changed == 0 && tt.failedSeen == 0 && tt.revConflicts == 0
			if v.OK() != wantOK {
				t.Errorf("OK() = %t, want %t; problems %v", v.OK(), wantOK, v.Problems())
			}
		})
	}
}

func TestCheckCounts(t *testing.T) {
	v := Check([]Op{put(0, "k", "a", 0, 10, OK), put(0, "k", "b", 20, 30, Failed), put(0, "k", "c", 40, 50, Unknown), get(1, "k", "a", 60, 70)}, 0)
	if v.Ops != 4 || v.Acked != 2 || v.Failed != 1 || v.Unknown != 1 {
		t.Errorf("ops %d acked %d failed %d unknown %d, want 4 2 1 1", v.Ops, v.Acked, v.Failed, v.Unknown)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"success", nil, OK},
		{"no leader", rpctypes.ErrNoLeader, Failed},
		{"no leader as a gRPC status", rpctypes.ErrGRPCNoLeader, Failed},
		{"too many requests", rpctypes.ErrTooManyRequests, Failed},
		{"space quota", rpctypes.ErrNoSpace, Failed},
		{"connection refused", status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.77.0.1:2379: connect: connection refused"`), Failed},
		{"connection broke while the request was out", status.Error(codes.Unavailable, "error reading from server: EOF"), Unknown},
		{"request timed out in etcd", rpctypes.ErrTimeout, Unknown},
		{"leader changed", rpctypes.ErrLeaderChanged, Unknown},
		{"client deadline", context.DeadlineExceeded, Unknown},
		{"anything else", errors.New("boom"), Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestHistoryRoundTrip(t *testing.T) {
	h := &History{}
	h.Add(Op{Client: 1, Kind: Put, Key: "k/01", Value: "c1-1", Call: 5, Return: 9, Outcome: OK, Rev: 3, Via: "http://10.77.0.1:2379", Step: 2})
	h.Add(Op{Client: 2, Kind: Get, Key: "k/01", Call: 6, Return: 8, Outcome: Unknown, Err: "context deadline exceeded"})
	path := t.TempDir() + "/history.jsonl"
	if err := h.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	ops, err := ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(ops), fmt.Sprint(h.Ops()); got != want {
		t.Errorf("read back %s, want %s", got, want)
	}
}

func TestProblemsNameTheOperation(t *testing.T) {
	v := Check([]Op{put(0, "k/03", "c0-7", 0, 10, OK), checkpoint("k/03", "", 40, 50)}, 0)
	p := strings.Join(v.Problems(), "\n")
	for _, want := range []string{"acknowledged write lost", `k/03="c0-7"`, "history is not linearizable"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems lack %q:\n%s", want, p)
		}
	}
}

// A check can run while a put is in flight, and a read may already have
// returned its value: the put is in the history from its invocation on.
func TestCheckWithAPutInFlight(t *testing.T) {
	h := &History{}
	h.Add(put(0, "k", "a", 0, 10, OK))
	h.Begin(Op{Client: 1, Kind: Put, Key: "k", Value: "b", Call: 20})
	h.Add(get(2, "k", "b", 30, 40))
	v := Check(h.Ops(), 0)
	if !v.OK() {
		t.Fatalf("a read of an in-flight put's value: %v", v.Problems())
	}
	if v.Unknown != 1 {
		t.Errorf("the put in flight counts as unknown: unknown %d, want 1", v.Unknown)
	}
	i := h.Begin(Op{Client: 1, Kind: Put, Key: "k", Value: "c", Call: 50})
	h.End(i, put(1, "k", "c", 50, 60, OK))
	if ops := h.Ops(); ops[len(ops)-1].Return != 60 || ops[len(ops)-1].Outcome != OK {
		t.Errorf("End did not replace the pending operation: %+v", ops[len(ops)-1])
	}
}
