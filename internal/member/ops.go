package member

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Status is what one member reports about itself (etcd's maintenance
// Status): the facts of `etcdctl endpoint status`.
type Status struct {
	Endpoint            string
	MemberID, ClusterID uint64
	Leader              uint64 // 0: it sees no leader
	IsLearner           bool
	RaftTerm            uint64
	RaftIndex           uint64 // committed
	AppliedIndex        uint64
	DBSize, DBSizeInUse int64 // bytes: the database file, and what of it is in use
	// DBSizeQuota is the member's backend quota as it reports it (etcd 3.6
	// and later); 0 when it does not.
	DBSizeQuota int64
	Version     string
	// Errors are what the member reports besides: "etcdserver: no leader",
	// and one entry per active alarm.
	Errors []string
}

// IsLeader reports whether the member is the leader it sees.
func (s Status) IsLeader() bool { return s.Leader != 0 && s.Leader == s.MemberID }

// Alarm is an active alarm: the member it was raised against, and etcd's
// name of it (NOSPACE, CORRUPT).
type Alarm struct {
	MemberID uint64
	Name     string
}

// EndpointStatus asks the member at endpoint alone for its status, within
// the request timeout.
func EndpointStatus(ctx context.Context, endpoint string, o Options) (Status, error) {
	var st Status
	err := withEndpoint(ctx, endpoint, o, func(cli *clientv3.Client) error {
		sctx, cancel := context.WithTimeout(ctx, o.withDefaults().RequestTimeout)
		defer cancel()
		resp, err := statusOver(sctx, cli)
		if err != nil {
			return err
		}
		st = statusOf(endpoint, resp)
		return nil
	})
	if err != nil {
		return Status{Endpoint: endpoint}, fmt.Errorf("status of %s: %w", endpoint, err)
	}
	return st, nil
}

func statusOf(endpoint string, r *clientv3.StatusResponse) Status {
	return Status{
		Endpoint:     endpoint,
		MemberID:     r.Header.GetMemberId(),
		ClusterID:    r.Header.GetClusterId(),
		Leader:       r.Leader,
		IsLearner:    r.IsLearner,
		RaftTerm:     r.RaftTerm,
		RaftIndex:    r.RaftIndex,
		AppliedIndex: r.RaftAppliedIndex,
		DBSize:       r.DbSize,
		DBSizeInUse:  r.DbSizeInUse,
		DBSizeQuota:  r.DbSizeQuota,
		Version:      r.Version,
		Errors:       r.Errors,
	}
}

// Alarms lists the cluster's active alarms through the first of endpoints
// that answers (etcd's AlarmList, which goes through raft: it needs a
// quorum), sorted by member and name.
func Alarms(ctx context.Context, endpoints []string, o Options) ([]Alarm, error) {
	o = o.withDefaults()
	cfg, err := o.clientConfig(endpoints)
	if err != nil {
		return nil, fmt.Errorf("alarm list: %w", err)
	}
	cli, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("alarm list: client for %v: %w", endpoints, err)
	}
	defer func() { _ = cli.Close() }()
	actx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	resp, err := cli.AlarmList(actx)
	if err != nil {
		return nil, wrap(err, "alarm list through %v", endpoints)
	}
	out := make([]Alarm, 0, len(resp.Alarms))
	for _, a := range resp.Alarms {
		out = append(out, Alarm{MemberID: a.MemberID, Name: alarmName(a.Alarm)})
	}
	sortAlarms(out)
	return out, nil
}

// AlarmsInErrors reads the active alarms out of a Status's Errors, where
// every etcd release puts one entry per alarm as its member's local view
// ("memberID:<decimal> alarm:<NAME> "): no quorum needed, but a format,
// not an API. Use Alarms when a quorum answers.
func AlarmsInErrors(errs []string) []Alarm {
	var out []Alarm
	for _, e := range errs {
		m := alarmInError.FindStringSubmatch(e)
		if m == nil {
			continue
		}
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Alarm{MemberID: id, Name: m[2]})
	}
	sortAlarms(out)
	return out
}

var alarmInError = regexp.MustCompile(`memberID:([0-9]+)\s+alarm:([A-Z_]+)`)

func alarmName(t etcdserverpb.AlarmType) string {
	if name, ok := etcdserverpb.AlarmType_name[int32(t)]; ok {
		return name
	}
	return fmt.Sprintf("ALARM_%d", int32(t))
}

func sortAlarms(as []Alarm) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].MemberID != as[j].MemberID {
			return as[i].MemberID < as[j].MemberID
		}
		return as[i].Name < as[j].Name
	})
}

// Defragment defragments the member at endpoint alone. It takes as long as
// the member needs (no request timeout: ctx bounds it); the member blocks
// its reads and writes meanwhile.
func Defragment(ctx context.Context, endpoint string, o Options) error {
	err := withEndpoint(ctx, endpoint, o, func(cli *clientv3.Client) error {
		_, err := cli.Defragment(ctx, endpoint)
		return err
	})
	if err != nil {
		return fmt.Errorf("defragment %s: %w", endpoint, err)
	}
	return nil
}

// withEndpoint runs f with a client of endpoint alone. A refused
// connection fails at once (gRPC would wait for the timeout); a failure of
// f is explained (TLS rejected, ...) when a direct connection attempt tells
// more.
func withEndpoint(ctx context.Context, endpoint string, o Options, f func(cli *clientv3.Client) error) error {
	o = o.withDefaults()
	if err := refused(ctx, endpoint); err != nil {
		return errors.Unwrap(err) // the dial error alone: callers name the endpoint
	}
	cfg, err := o.clientConfig([]string{endpoint})
	if err != nil {
		return err
	}
	cli, err := newClient(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer func() { _ = cli.Close() }()
	if err := f(cli); err != nil {
		return explain(ctx, endpoint, cfg.TLS, o.DialTimeout, err)
	}
	return nil
}
