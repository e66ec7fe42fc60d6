package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Meta describes the run: when, where, with what, and how.
type Meta struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Command  string    `json:"command"`
	CPU      string    `json:"cpu"`
	Cores    int       `json:"cores"`
	MemoryMB int64     `json:"memory_mb"`
	Kernel   string    `json:"kernel"`
	OS       string    `json:"os"`
	Go       string    `json:"go"`
	Rejoin   string    `json:"etcd_rejoin"`
	Etcdctl  string    `json:"etcdctl"`
	// Etcd is each version's own `etcd --version` first line.
	Etcd       map[string]string `json:"etcd"`
	LoadBefore string            `json:"load_before"`
	LoadAfter  string            `json:"load_after"`
	Settings   Settings          `json:"settings"`
}

// Settings are the knobs of the run, for the report.
type Settings struct {
	Rounds         int           `json:"rounds"`
	WriterRounds   int           `json:"writer_rounds"`
	WriterRate     int           `json:"writer_rate"`
	WriterBaseline time.Duration `json:"writer_baseline"`
	Settle         time.Duration `json:"settle"`
	DecisionRounds int           `json:"decision_rounds"`
	CostDuration   time.Duration `json:"cost_duration"`
	SnapshotCount  int           `json:"snapshot_count"`
	ValueSize      int           `json:"value_size"`
	Poll           time.Duration `json:"poll"`
	Nets           string        `json:"nets"`
}

func describe(ctx context.Context, cfg *Config) Meta {
	m := Meta{
		Started:    time.Now().UTC(),
		Command:    cfg.Command,
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		MemoryMB:   memTotalKiB() >> 10,
		Kernel:     firstLine(readFile("/proc/sys/kernel/osrelease")),
		OS:         osName(),
		Go:         runtime.Version(),
		Rejoin:     firstLine(output1(ctx, cfg.Rejoin, "version")),
		Etcdctl:    strings.Join(strings.Fields(firstLine(output1(ctx, cfg.Etcdctl, "version"))), " "),
		Etcd:       map[string]string{},
		LoadBefore: loadAvg(),
		Settings: Settings{
			Rounds: cfg.Rounds, WriterRounds: cfg.WriterRounds, WriterRate: cfg.WriterRate,
			WriterBaseline: cfg.WriterBaseline, Settle: cfg.Settle, DecisionRounds: cfg.DecisionRounds,
			CostDuration: cfg.CostDuration, SnapshotCount: cfg.SnapshotCount, ValueSize: cfg.ValueSize,
			Poll: pollEvery, Nets: netRange(cfg),
		},
	}
	for _, v := range cfg.Versions {
		m.Etcd[v.Name] = firstLine(output1(ctx, v.Binary, "--version"))
	}
	return m
}

func netRange(cfg *Config) string {
	return fmt.Sprintf("127.0.%d.0/24 to 127.0.%d.0/24", cfg.NetFirst, cfg.NetLast)
}

func output1(ctx context.Context, path string, args ...string) string {
	out, err := run(ctx, path, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ETCDCTL_API=3"}, args...)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return out
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotalKiB() int64 {
	for _, line := range strings.Split(readFile("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			n, _ := parseRSS("VmRSS:" + v)
			return n
		}
	}
	return 0
}

func osName() string {
	for _, line := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
