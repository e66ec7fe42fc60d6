// Package metrics holds etcd-rejoin's own Prometheus metrics (etcd's stay
// etcd's) on a registry of its own, and serves them on /metrics.
//
// A nil *Metrics is valid: every method is then a no-op, so that the
// service calls them unconditionally whether metrics are on or off.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric of etcd-rejoin's own.
const Namespace = "etcd_rejoin"

// Label values for outcomes.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
)

// Health check results.
const (
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// BuildInfo is what etcd_rejoin_build_info carries.
type BuildInfo struct {
	Version, Commit, GoVersion string
}

// Metrics are the service's metrics. Create them with New.
type Metrics struct {
	reg *prometheus.Registry

	decisions       *prometheus.CounterVec
	rejoins         prometheus.Counter
	heal            *prometheus.HistogramVec
	healthChecks    *prometheus.CounterVec
	ready           prometheus.Gauge
	watchdogPings   prometheus.Counter
	membershipCalls *prometheus.CounterVec

	snapshots           *prometheus.CounterVec
	snapshotLastSuccess prometheus.Gauge
	snapshotLastSize    prometheus.Gauge
	snapshotLastTook    prometheus.Gauge

	defrags        *prometheus.CounterVec
	defragFreed    prometheus.Counter
	defragLastTook prometheus.Gauge
}

// healBuckets span a restart on intact data (about a second) to a rejoin
// that streams a large snapshot (many minutes).
var healBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}

// New registers every metric, the Go runtime's and the process's
// collectors, and etcd_rejoin_build_info (always 1) on a new registry.
func New(b BuildInfo) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerService()
	m.registerSnapshots()
	m.registerDefrags()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "etcd-rejoin's version, commit and Go version; always 1.",
	}, []string{"version", "commit", "goversion"})
	m.reg.MustRegister(info)
	info.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)
	m.zeroes()
	return m
}

// Actions are the decisions' actions, as package plan names them.
var Actions = []string{"bootstrap", "restart", "join", "rejoin", "wait"}

// MembershipCalls are the membership calls counted.
var MembershipCalls = []string{"add", "remove", "update", "promote"}

// zeroes makes every known series exist at 0 from the start, so that a
// scrape shows it and rate() sees its first increase.
func (m *Metrics) zeroes() {
	for _, a := range Actions {
		m.decisions.WithLabelValues(a)
	}
	for _, r := range []string{ResultOK, ResultFailed} {
		m.snapshots.WithLabelValues(r)
		m.defrags.WithLabelValues(r)
		for _, c := range MembershipCalls {
			m.membershipCalls.WithLabelValues(c, r)
		}
	}
	m.healthChecks.WithLabelValues(HealthHealthy)
	m.healthChecks.WithLabelValues(HealthUnhealthy)
}

func (m *Metrics) registerService() {
	m.decisions = m.counterVec("decisions_total", "Decisions taken, by action (bootstrap, restart, join, rejoin, wait).", "action")
	m.rejoins = m.counter("rejoins_total", "Rejoins carried out: this member added to the cluster again after its data was lost or moved aside.")
	m.heal = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "heal_duration_seconds", Buckets: healBuckets,
		Help: "Time from a decision to the member being ready (voting and caught up), by the decided action.",
	}, []string{"action"})
	m.reg.MustRegister(m.heal)
	m.healthChecks = m.counterVec("health_checks_total", "Health checks of the running member, by result (healthy, unhealthy).", "result")
	m.ready = m.gauge("ready", "1 while the member is ready (voting, caught up, READY=1 sent), else 0.")
	m.watchdogPings = m.counter("watchdog_pings_total", "WATCHDOG=1 messages sent to systemd.")
	m.membershipCalls = m.counterVec("membership_calls_total", "Membership calls to the cluster, by call (add, remove, update, promote) and result (ok, failed).", "call", "result")
}

func (m *Metrics) registerSnapshots() {
	m.snapshots = m.counterVec("snapshots_total", "Snapshots taken, by result (ok, failed).", "result")
	m.snapshotLastSuccess = m.gauge("snapshot_last_success_timestamp_seconds", "Unix time of the last snapshot that succeeded; 0 before the first.")
	m.snapshotLastSize = m.gauge("snapshot_last_size_bytes", "Size of the last snapshot that succeeded.")
	m.snapshotLastTook = m.gauge("snapshot_last_duration_seconds", "How long the last snapshot that succeeded took (taking and verifying).")
}

func (m *Metrics) registerDefrags() {
	m.defrags = m.counterVec("defrags_total", "Defragmentations of this member, by result (ok, failed).", "result")
	m.defragFreed = m.counter("defrag_freed_bytes_total", "Bytes of database file given back by defragmentations.")
	m.defragLastTook = m.gauge("defrag_last_duration_seconds", "How long the last defragmentation of this member took.")
}

func (m *Metrics) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	m.reg.MustRegister(g)
	return g
}

// Registry is the registry the metrics live on (for tests and for adding
// collectors).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Decision counts one decision of the given action.
func (m *Metrics) Decision(action string) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(action).Inc()
}

// Rejoined counts a rejoin carried out (the member was added again).
func (m *Metrics) Rejoined() {
	if m == nil {
		return
	}
	m.rejoins.Inc()
}

// Healed records how long it took from the decision of action to the
// member being ready.
func (m *Metrics) Healed(action string, took time.Duration) {
	if m == nil {
		return
	}
	m.heal.WithLabelValues(action).Observe(took.Seconds())
}

// HealthCheck counts one health check of the running member.
func (m *Metrics) HealthCheck(healthy bool) {
	if m == nil {
		return
	}
	result := HealthUnhealthy
	if healthy {
		result = HealthHealthy
	}
	m.healthChecks.WithLabelValues(result).Inc()
}

// Ready sets the readiness gauge.
func (m *Metrics) Ready(ready bool) {
	if m == nil {
		return
	}
	m.ready.Set(boolValue(ready))
}

// WatchdogPing counts one WATCHDOG=1 sent.
func (m *Metrics) WatchdogPing() {
	if m == nil {
		return
	}
	m.watchdogPings.Inc()
}

// MembershipCall counts one membership call (add, remove, update, promote)
// by whether err is nil.
func (m *Metrics) MembershipCall(call string, err error) {
	if m == nil {
		return
	}
	m.membershipCalls.WithLabelValues(call, result(err)).Inc()
}

// SnapshotTaken records a snapshot that succeeded at time at.
func (m *Metrics) SnapshotTaken(at time.Time, size int64, took time.Duration) {
	if m == nil {
		return
	}
	m.snapshots.WithLabelValues(ResultOK).Inc()
	m.snapshotLastSuccess.Set(float64(at.UnixNano()) / 1e9)
	m.snapshotLastSize.Set(float64(size))
	m.snapshotLastTook.Set(took.Seconds())
}

// SnapshotFailed counts a snapshot that failed.
func (m *Metrics) SnapshotFailed() {
	if m == nil {
		return
	}
	m.snapshots.WithLabelValues(ResultFailed).Inc()
}

// Defragmented records a defragmentation of this member that succeeded:
// the database file's size before and after, and how long it took.
func (m *Metrics) Defragmented(before, after int64, took time.Duration) {
	if m == nil {
		return
	}
	m.defrags.WithLabelValues(ResultOK).Inc()
	if before > after {
		m.defragFreed.Add(float64(before - after))
	}
	m.defragLastTook.Set(took.Seconds())
}

// DefragFailed counts a defragmentation of this member that failed.
func (m *Metrics) DefragFailed() {
	if m == nil {
		return
	}
	m.defrags.WithLabelValues(ResultFailed).Inc()
}

func result(err error) string {
	if err != nil {
		return ResultFailed
	}
	return ResultOK
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
