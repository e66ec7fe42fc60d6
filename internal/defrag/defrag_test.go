package defrag

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/etcd-rejoin/etcd-rejoin/internal/member"
	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
)

const mib = 1 << 20

func TestDue(t *testing.T) {
	p := DefaultPolicy
	for _, c := range []struct {
		name        string
		size, inUse int64
		due         bool
	}{
		{"mostly free", 200 * mib, 50 * mib, true},
		{"exactly at both thresholds", 128 * mib, 64 * mib, true},
		{"half free but small", 100 * mib, 50 * mib, false},
		{"much free but not half", 1024 * mib, 600 * mib, false},
		{"nothing free", 64 * mib, 64 * mib, false},
		{"empty", 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if due, why := p.Due(c.size, c.inUse); due != c.due || why == "" {
				t.Errorf("Due(%d, %d) = %t (%q), want %t with a reason", c.size, c.inUse, due, why, c.due)
			}
		})
	}
}

// fake is the Cluster seam: statuses by member ID, the local one first.
type fake struct {
	self      uint64
	members   []plan.Member
	statuses  map[uint64]member.Status
	down      map[uint64]bool
	alarms    []member.Alarm
	lockErr   error
	defragErr error

	locked, unlocked, defragmented int
	after                          member.Status
}

var _ Cluster = (*fake)(nil)

func (f *fake) LocalStatus(context.Context) (member.Status, error) {
	if f.defragmented > 0 {
		return f.after, nil
	}
	return f.statuses[f.self], nil
}

func (f *fake) Members(context.Context) ([]plan.Member, error) { return f.members, nil }

func (f *fake) MemberStatus(_ context.Context, m plan.Member) (member.Status, error) {
	if f.down[m.ID] {
		return member.Status{}, errors.New("connection refused")
	}
	return f.statuses[m.ID], nil
}

func (f *fake) Alarms(context.Context) ([]member.Alarm, error) { return f.alarms, nil }

func (f *fake) DefragmentLocal(context.Context) error {
	if f.defragErr != nil {
		return f.defragErr
	}
	f.defragmented++
	return nil
}

func (f *fake) Lock(_ context.Context, name string) (func(), error) {
	if name != LockName {
		return nil, errors.New("wrong lock " + name)
	}
	if f.lockErr != nil {
		return nil, f.lockErr
	}
	f.locked++
	return func() { f.unlocked++ }, nil
}

// cluster of three: 1 leads; sizes in MiB (size, in use) per member.
func cluster(self uint64, sizes map[uint64][2]int64) *fake {
	f := &fake{self: self, statuses: map[uint64]member.Status{}, down: map[uint64]bool{}}
	for id := uint64(1); id <= 3; id++ {
		f.members = append(f.members, plan.Member{ID: id, Name: string(rune('a' + id - 1)), ClientURLs: []string{"http://x"}})
		s := sizes[id]
		f.statuses[id] = member.Status{MemberID: id, ClusterID: 9, Leader: 1, DBSize: s[0] * mib, DBSizeInUse: s[1] * mib}
	}
	f.after = member.Status{MemberID: self, ClusterID: 9, Leader: 1, DBSize: 20 * mib, DBSizeInUse: 19 * mib}
	return f
}

var (
	fragmented = [2]int64{400, 100}
	compact    = [2]int64{100, 90}
)

func TestRunOrderAndSafety(t *testing.T) {
	for _, c := range []struct {
		name    string
		f       func() *fake
		outcome string
		err     bool
		locked  bool
		defrags int
		detail  string
	}{
		{"follower due defragments first, though the leader is due too",
			func() *fake { return cluster(2, map[uint64][2]int64{1: fragmented, 2: fragmented, 3: fragmented}) },
			Defragmented, false, true, 1, "419430400 -> 20971520 bytes"},
		{"leader waits while a follower is due",
			func() *fake { return cluster(1, map[uint64][2]int64{1: fragmented, 2: compact, 3: fragmented}) },
			LeaderWaits, false, true, 0, "c (3)"},
		{"leader goes once no follower is due",
			func() *fake { return cluster(1, map[uint64][2]int64{1: fragmented, 2: compact, 3: compact}) },
			Defragmented, false, true, 1, ""},
		{"not due: no lock taken",
			func() *fake { return cluster(2, map[uint64][2]int64{1: fragmented, 2: compact, 3: fragmented}) },
			NotDue, false, false, 0, "below"},
		{"lock held elsewhere",
			func() *fake {
				f := cluster(2, map[uint64][2]int64{2: fragmented})
				f.lockErr = member.ErrLockBusy
				return f
			},
			Busy, false, false, 0, ""},
		{"never while a voter is down",
			func() *fake {
				f := cluster(2, map[uint64][2]int64{1: compact, 2: fragmented, 3: compact})
				f.down[3] = true
				return f
			},
			Degraded, false, true, 0, "unhealthy voters: c (3)"},
		{"a voter without a leader is unhealthy",
			func() *fake {
				f := cluster(2, map[uint64][2]int64{1: compact, 2: fragmented, 3: compact})
				st := f.statuses[1]
				st.Leader = 0
				f.statuses[1] = st
				return f
			},
			Degraded, false, true, 0, "a (1)"},
		{"a learner that is down does not count",
			func() *fake {
				f := cluster(2, map[uint64][2]int64{1: compact, 2: fragmented, 3: compact})
				f.members[2].IsLearner = true
				f.down[3] = true
				return f
			},
			Defragmented, false, true, 1, ""},
		{"never under a CORRUPT alarm",
			func() *fake {
				f := cluster(2, map[uint64][2]int64{1: compact, 2: fragmented, 3: compact})
				f.alarms = []member.Alarm{{MemberID: 3, Name: "CORRUPT"}}
				return f
			},
			Degraded, false, true, 0, "alarm CORRUPT"},
		{"NOSPACE is what defragmenting helps",
			func() *fake {
				f := cluster(2, map[uint64][2]int64{1: compact, 2: fragmented, 3: compact})
				f.alarms = []member.Alarm{{MemberID: 2, Name: "NOSPACE"}}
				return f
			},
			Defragmented, false, true, 1, ""},
		{"a failed defragment is an error, the lock released",
			func() *fake {
				f := cluster(2, map[uint64][2]int64{1: compact, 2: fragmented, 3: compact})
				f.defragErr = errors.New("boom")
				return f
			},
			Failed, true, true, 0, "boom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f()
			res, err := Run(context.Background(), f, Policy{MinFreeRatio: 0.5, MinFreeBytes: 64 * mib})
			if res.Outcome != c.outcome || (err != nil) != c.err || f.defragmented != c.defrags || !strings.Contains(res.Detail, c.detail) {
				t.Errorf("Run = %+v, %v; %d defragment calls; want %s (error %t), %d calls, detail with %q",
					res, err, f.defragmented, c.outcome, c.err, c.defrags, c.detail)
			}
			if wantLocked := b2i(c.locked); f.locked != wantLocked || f.unlocked != wantLocked {
				t.Errorf("locked %d, unlocked %d times; want %d each", f.locked, f.unlocked, wantLocked)
			}
			if c.outcome == Defragmented && (res.Before != sizeOf(f.statuses[f.self]) || res.After != sizeOf(f.after)) {
				t.Errorf("sizes before %+v after %+v; want %+v and %+v", res.Before, res.After, sizeOf(f.statuses[f.self]), sizeOf(f.after))
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
