package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/etcd-rejoin/etcd-rejoin/internal/datafault"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/supervise"
)

// dataFaultExits is how many times in a row etcd must exit on its own,
// reporting damaged data, before the service records the data as corrupt:
// once could be a fluke of the moment; the same start failing again on the
// same data is what etcd does on data it cannot use.
const dataFaultExits = 2

// dataFaults counts etcd's consecutive exits on damaged data of one member.
type dataFaults struct {
	memberID uint64
	n        int
}

// judgeData looks at how etcd ended. When it exited by itself reporting
// damaged data (datafault's signatures: a WAL that lost acknowledged
// entries, a checksum that fails, a backend cut short), and the cluster had
// a quorum when this start was decided, it is started once more; the second
// time in a row the data is recorded as corrupt in the state file and the
// next decision moves it aside and rejoins, which it does only when a quorum
// of healthy voters remains without this member (it waits otherwise). etcd
// itself would fail on that data at every start, for ever.
func (s *Service) judgeData(ctx context.Context, proc *supervise.Process, w *datafault.Watcher, l launch, err error) error {
	var again *errLookAgain
	if err == nil || ctx.Err() != nil || errors.As(err, &again) {
		return err
	}
	select {
	case <-proc.Done():
	default:
		return err // stopped by the service, not exited by itself
	}
	what, line := w.Fault()
	if what == "" {
		s.faults = dataFaults{}
		return err
	}
	if !l.quorum || l.memberID == 0 {
		s.log.Warn("etcd exited on damaged data, but no quorum was seen when this start was decided: the data is not judged",
			"fault", what, "line", line)
		return err
	}
	if s.faults.memberID != l.memberID {
		s.faults = dataFaults{memberID: l.memberID}
	}
	s.faults.n++
	id := plan.HexID(l.memberID)
	if s.faults.n < dataFaultExits {
		why := fmt.Sprintf("etcd exited on the local data of member %s (%s: %s); starting it once more before judging the data", id, what, line)
		s.log.Warn(why)
		return &errLookAgain{why: why, err: err, soon: true}
	}
	why := fmt.Sprintf("etcd exited %d times in a row on the local data of member %s: %s", s.faults.n, id, what)
	s.log.Warn(why+"; recording the data as corrupt: it is moved aside if a quorum remains without this member", "line", line)
	s.remember(plan.Memory{MemberID: l.memberID, ClusterID: l.clusterID,
		Corrupt: &plan.Corrupt{At: s.now(), MemberID: l.memberID, Why: what}})
	s.faults = dataFaults{}
	return &errLookAgain{why: why, err: err, soon: true}
}
