package faults

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// kvInput and kvOutput are the key-value model's operation: a put of a
// value, or a get that read a value ("" for an absent key).
type kvInput struct {
	Put        bool
	Key, Value string
}

type kvOutput struct{ Value string }

// kvModel is a register per key: puts overwrite, gets return the value.
// The history is checked key by key (a key-value store is linearizable
// exactly when each key is: linearizability is compositional).
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, len(keys))
		for i, k := range keys {
			out[i] = byKey[k]
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.Put {
			return true, in.Value
		}
		return output.(kvOutput).Value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.Put {
			return fmt.Sprintf("put(%s, %q)", in.Key, in.Value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.Key, output.(kvOutput).Value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// Verdict is what the checks say about a history.
type Verdict struct {
	Ops, Acked, Failed, Unknown int
	// Lost are acknowledged puts that a later checkpoint read shows were
	// neither visible nor overwritten.
	Lost []Op
	// Changed are acknowledged reads of a value that no put ever wrote.
	Changed []Op
	// FailedVisible are puts classified Failed whose value was read.
	FailedVisible []Op
	// RevConflicts are revisions that carry two different writes: only two
	// histories (two clusters) can produce that.
	RevConflicts []string
	Linearizable porcupine.CheckResult
	Info         porcupine.LinearizationInfo
	CheckTook    time.Duration
}

// OK reports whether the history passed every check.
func (v Verdict) OK() bool {
	return len(v.Lost) == 0 && len(v.Changed) == 0 && len(v.FailedVisible) == 0 &&
		len(v.RevConflicts) == 0 && v.Linearizable == porcupine.Ok
}

// Problems describes what failed, one line each (at most a few examples
// per check).
func (v Verdict) Problems() []string {
	var out []string
	add := func(what string, ops []Op) {
		for i, op := range ops {
			if i == 3 {
				out = append(out, fmt.Sprintf("%s: ... %d in all", what, len(ops)))
				break
			}
			out = append(out, fmt.Sprintf("%s: %s", what, describeOp(op)))
		}
	}
	add("acknowledged write lost", v.Lost)
	add("read a value never written", v.Changed)
	add("write reported failed but visible", v.FailedVisible)
	for i, c := range v.RevConflicts {
		if i == 3 {
			break
		}
		out = append(out, "revision conflict: "+c)
	}
	switch v.Linearizable {
	case porcupine.Illegal:
		out = append(out, "history is not linearizable")
	case porcupine.Unknown:
		out = append(out, "linearizability check timed out")
	}
	return out
}

func describeOp(op Op) string {
	return fmt.Sprintf("client %d %s %s=%q via %s [%s..%s] step %d %s rev %d",
		op.Client, op.Kind, op.Key, op.Value, op.Via, Stamp(time.Duration(op.Call)), Stamp(time.Duration(op.Return)), op.Step, op.Outcome, op.Rev)
}

// Check runs every check on a history; timeout bounds the linearizability
// search (0: none).
func Check(ops []Op, timeout time.Duration) Verdict {
	var v Verdict
	v.Ops = len(ops)
	for _, op := range ops {
		switch op.Outcome {
		case OK:
			v.Acked++
		case Failed:
			v.Failed++
		default:
			v.Unknown++
		}
	}
	puts := putsByValue(ops)
	v.Changed, v.FailedVisible = readAnomalies(ops, puts)
	v.RevConflicts = revConflicts(ops)
	v.Lost = lostWrites(ops, puts)
	start := time.Now()
	v.Linearizable, v.Info = porcupine.CheckOperationsVerbose(kvModel, toPorcupine(ops), timeout)
	v.CheckTook = time.Since(start)
	return v
}

func putsByValue(ops []Op) map[string]Op {
	m := map[string]Op{}
	for _, op := range ops {
		if op.Kind == Put {
			m[op.Key+"\x00"+op.Value] = op
		}
	}
	return m
}

// readAnomalies finds acknowledged reads of values nobody wrote, and of
// values whose put was reported as certainly failed.
func readAnomalies(ops []Op, puts map[string]Op) (changed, failedVisible []Op) {
	seen := map[string]bool{}
	for _, op := range ops {
		if op.Kind != Get || op.Outcome != OK || op.Value == "" {
			continue
		}
		p, ok := puts[op.Key+"\x00"+op.Value]
		switch {
		case !ok:
			changed = append(changed, op)
		case p.Outcome == Failed && !seen[op.Value]:
			seen[op.Value] = true
			failedVisible = append(failedVisible, p)
		}
	}
	return changed, failedVisible
}

// revConflicts finds revisions claimed by two different writes, from the
// revisions of acknowledged puts and the mod revisions reads returned.
func revConflicts(ops []Op) []string {
	byRev := map[int64]string{}
	var out []string
	for _, op := range ops {
		if op.Outcome != OK || op.Rev == 0 || (op.Kind == Get && op.Value == "") {
			continue
		}
		w := op.Key + "=" + op.Value
		if prev, ok := byRev[op.Rev]; ok && prev != w {
			out = append(out, fmt.Sprintf("revision %d holds %s and %s (%s)", op.Rev, prev, w, describeOp(op)))
			continue
		}
		byRev[op.Rev] = w
	}
	return out
}

// lostWrites checks each acknowledged checkpoint read against the
// acknowledged puts that completed before it began: a put P is lost when
// the read shows no value, or the value of a put that completed before P
// was invoked (P must then have overwritten it, and whatever overwrote P
// in turn would show).
func lostWrites(ops []Op, puts map[string]Op) []Op {
	acked := map[string][]Op{}
	for _, p := range ops {
		if p.Kind == Put && p.Outcome == OK {
			acked[p.Key] = append(acked[p.Key], p)
		}
	}
	var lost []Op
	seen := map[string]bool{}
	for _, g := range ops {
		if g.Client != checkpointClient || g.Kind != Get || g.Outcome != OK {
			continue
		}
		q, hasQ := puts[g.Key+"\x00"+g.Value]
		for _, p := range acked[g.Key] {
			if p.Return >= g.Call || seen[p.Value] {
				continue
			}
			if g.Value == "" || (hasQ && q.Return < p.Call) {
				seen[p.Value] = true
				lost = append(lost, p)
			}
		}
	}
	return lost
}

// toPorcupine turns the history into porcupine operations: acknowledged
// operations as they are; a put of unknown outcome whose value some read
// returned as if it completed when the first such read returned (it took
// effect before that read); other unknown or failed operations are left
// out: a put nobody saw is equivalent to one that never happened, and a
// read that returned nothing says nothing.
func toPorcupine(ops []Op) []porcupine.Operation {
	firstSeen := map[string]int64{}
	for _, op := range ops {
		if op.Kind == Get && op.Outcome == OK && op.Value != "" {
			k := op.Key + "\x00" + op.Value
			if t, ok := firstSeen[k]; !ok || op.Return < t {
				firstSeen[k] = op.Return
			}
		}
	}
	clients := map[int]int{}
	var out []porcupine.Operation
	for _, op := range ops {
		ret := op.Return
		if op.Outcome != OK {
			t, seen := firstSeen[op.Key+"\x00"+op.Value]
			if op.Kind == Get || !seen {
				continue
			}
			ret = max(t, op.Call+1)
		}
		if _, ok := clients[op.Client]; !ok {
			clients[op.Client] = len(clients)
		}
		out = append(out, porcupine.Operation{
			ClientId: clients[op.Client],
			Input:    kvInput{Put: op.Kind == Put, Key: op.Key, Value: op.Value},
			Call:     op.Call,
			Output:   kvOutput{Value: op.Value},
			Return:   ret,
		})
	}
	return out
}
