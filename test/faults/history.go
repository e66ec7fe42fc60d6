package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Outcome is what a client knows about an operation once it returned.
type Outcome string

const (
	OK      Outcome = "ok"      // acknowledged
	Failed  Outcome = "failed"  // certainly not applied (refused before it was proposed)
	Unknown Outcome = "unknown" // may or may not have been applied
)

// OpKind is a client operation.
type OpKind string

const (
	Put OpKind = "put"
	Get OpKind = "get"
)

// Op is one client operation with its invocation and completion times (ns
// of campaign time) and its outcome. A put writes Value, unique in the
// whole history; a get reads Value ("" when the key is absent).
type Op struct {
	Client  int     `json:"client"`
	Kind    OpKind  `json:"kind"`
	Key     string  `json:"key"`
	Value   string  `json:"value,omitempty"`
	Call    int64   `json:"call"`
	Return  int64   `json:"return"`
	Outcome Outcome `json:"outcome"`
	Rev     int64   `json:"rev,omitempty"` // put: the revision it made; get: the value's mod revision
	Via     string  `json:"via"`           // the member it went through
	Step    int     `json:"step"`
	Err     string  `json:"err,omitempty"`
}

// History collects every operation of the campaign. Safe for concurrent use.
type History struct {
	mu  sync.Mutex
	ops []Op
}

// Add records one operation that has completed.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// pending marks an operation invoked and not yet returned.
const pending = "pending"

// Begin records an operation when it is invoked, so that a check that
// runs while it is in flight knows of it (a read may already return the
// value of a put that has not returned yet): until End, it is Unknown and
// has not returned. It returns the operation's index for End.
func (h *History) Begin(op Op) int {
	op.Outcome, op.Return, op.Err = Unknown, math.MaxInt64, pending
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	return len(h.ops) - 1
}

// End records how the operation Begin returned i for completed.
func (h *History) End(i int, op Op) {
	h.mu.Lock()
	h.ops[i] = op
	h.mu.Unlock()
}

// Ops returns a copy of the operations so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// WriteJSON writes the history as JSON lines.
func (h *History) WriteJSON(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, op := range h.Ops() {
		if err := enc.Encode(op); err != nil {
			f.Close()
			return fmt.Errorf("write history: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write history: %w", err)
	}
	return f.Close()
}

// ReadHistory reads a history written by WriteJSON.
func ReadHistory(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	var ops []Op
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("read history %s: %w", path, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// classify turns a client error into an outcome. Only errors that etcd
// returns before a request is proposed, or that mean the request never
// left the client, are Failed; everything else (timeouts, a connection
// that broke while the request was out, a leader change while waiting for
// the apply) may have been applied and is Unknown.
func classify(err error) Outcome {
	if err == nil {
		return OK
	}
	if refusedBeforeProposal[rpctypes.ErrorDesc(err)] {
		return Failed
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable && neverSent(s.Message()) {
		return Failed
	}
	return Unknown
}

// refusedBeforeProposal are etcd's answers that it gives before a request
// is proposed to raft (or, for the space quota, that it also applies when
// the entry is applied): such a request had no effect.
var refusedBeforeProposal = map[string]bool{
	rpctypes.ErrorDesc(rpctypes.ErrGRPCNoLeader):               true,
	rpctypes.ErrorDesc(rpctypes.ErrGRPCRequestTooManyRequests): true,
	rpctypes.ErrorDesc(rpctypes.ErrGRPCNotCapable):             true,
	rpctypes.ErrorDesc(rpctypes.ErrGRPCNoSpace):                true,
}

// neverSent recognises gRPC's messages for a connection that could not be
// made: the request was never written.
func neverSent(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "error while dialing") || strings.Contains(m, "connection refused") ||
		strings.Contains(m, "no route to host") || strings.Contains(m, "network is unreachable")
}
