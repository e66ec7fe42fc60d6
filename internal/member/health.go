package member

import (
	"context"
	"crypto/tls"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Health is what one member says about itself through its own client URL.
type Health struct {
	MemberID, ClusterID, Leader uint64
	IsLearner                   bool
	RaftIndex, AppliedIndex     uint64
	// Voting is true for a member that is not a learner.
	Voting bool
	// CaughtUp is true when a linearizable read through this member alone
	// succeeded: it had applied up to the leader's read index. Never set for
	// a learner (learners serve no linearizable reads).
	CaughtUp bool
	// DBSize is the size of the member's database file.
	DBSize int64
	// Alarms are the active alarms as this member knows them (NOSPACE,
	// CORRUPT): they do not make it unhealthy, the caller decides.
	Alarms []Alarm
}

// Alarm returns the first active alarm of that name, and whether there is
// one.
func (h Health) Alarm(name string) (Alarm, bool) {
	for _, a := range h.Alarms {
		if a.Name == name {
			return a, true
		}
	}
	return Alarm{}, false
}

// Ready reports whether the member sees a leader, votes and is caught up.
func (h Health) Ready() bool { return h.Leader != 0 && h.Voting && h.CaughtUp }

// LocalHealth checks one member through endpoint alone. It fails when the
// member does not answer Status, wraps ErrNoLeader when it sees no leader,
// and ErrNotCaughtUp when a voter's linearizable read fails; the Health
// holds what was learnt in each case.
func LocalHealth(ctx context.Context, endpoint string, o Options) (Health, error) {
	c := NewChecker(endpoint, o)
	defer c.Close()
	return c.Health(ctx)
}

// Checker checks one member again and again over one client, so that with
// etcd's auth on it authenticates once (an authentication is a raft
// proposal and a bcrypt check), not at every check. A failure to connect or
// to authenticate drops the client: the next check connects anew and reads
// the password file again.
type Checker struct {
	endpoint string
	o        Options
	cli      *clientv3.Client
	tls      *tls.Config
}

// NewChecker returns a checker of the member at endpoint; it connects at
// its first check.
func NewChecker(endpoint string, o Options) *Checker {
	return &Checker{endpoint: endpoint, o: o.withDefaults()}
}

// Close closes the client, if any.
func (c *Checker) Close() {
	if c.cli != nil {
		_ = c.cli.Close()
		c.cli = nil
	}
}

// Health checks the member (see LocalHealth).
func (c *Checker) Health(ctx context.Context) (Health, error) {
	if err := c.connect(ctx); err != nil {
		return Health{}, err
	}
	h, err := localStatus(ctx, c.cli, c.endpoint, c.tls, c.o)
	if isAuth(err) {
		c.Close()
	}
	if err != nil || !h.Voting {
		return h, err
	}
	if err := readThrough(ctx, c.cli, c.o); err != nil {
		return h, fmt.Errorf("local health of %s: %w: %w", c.endpoint, ErrNotCaughtUp, err)
	}
	h.CaughtUp = true
	return h, nil
}

// connect makes the client once the member listens: a client made earlier
// would wait out gRPC's reconnect backoff (a second and more) after etcd
// came up.
func (c *Checker) connect(ctx context.Context) error {
	if c.cli != nil {
		return nil
	}
	if err := refusedAt(ctx, c.endpoint, c.o.DialAddress); err != nil {
		return fmt.Errorf("local health: %w", err)
	}
	cfg, err := c.o.clientConfig([]string{c.endpoint})
	if err != nil {
		return fmt.Errorf("local health: %w", err)
	}
	cli, err := newClient(cfg)
	if err != nil {
		return fmt.Errorf("local health of %s: %w", c.endpoint, err)
	}
	c.cli, c.tls = cli, cfg.TLS
	return nil
}

func localStatus(ctx context.Context, cli *clientv3.Client, endpoint string, cfg *tls.Config, o Options) (Health, error) {
	sctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	st, err := statusOver(sctx, cli)
	if isAuth(err) {
		return Health{}, fmt.Errorf("local health of %s: status: %w", endpoint, authWrap(err))
	}
	if err != nil {
		err = explainVia(ctx, endpoint, o.DialAddress, cfg, o.DialTimeout, err)
		return Health{}, fmt.Errorf("local health of %s: status: %w", endpoint, err)
	}
	h := Health{
		MemberID:     st.Header.GetMemberId(),
		ClusterID:    st.Header.GetClusterId(),
		Leader:       st.Leader,
		IsLearner:    st.IsLearner,
		RaftIndex:    st.RaftIndex,
		AppliedIndex: st.RaftAppliedIndex,
		Voting:       !st.IsLearner,
		DBSize:       st.DbSize,
		Alarms:       AlarmsInErrors(st.Errors),
	}
	if h.Leader == 0 {
		return h, fmt.Errorf("local health of %s: %w", endpoint, ErrNoLeader)
	}
	return h, nil
}

// statusOver asks the member that a client of one endpoint talks to for its
// status, over that client's own connection. clientv3's Status(ctx,
// endpoint) dials a new connection at every call (a TCP, HTTP/2 and, with
// TLS, a TLS handshake, and the gRPC channel's set-up): at every health
// check, that was most of the service's CPU while healthy.
func statusOver(ctx context.Context, cli *clientv3.Client) (*clientv3.StatusResponse, error) {
	m := clientv3.NewMaintenanceFromMaintenanceClient(clientv3.RetryMaintenanceClient(cli, cli.ActiveConnection()), cli)
	return m.Status(ctx, "")
}

func readThrough(ctx context.Context, cli *clientv3.Client, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, probeKey); err != nil {
		return fmt.Errorf("linearizable read: %w", authWrap(err))
	}
	return nil
}
