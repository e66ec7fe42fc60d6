package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux architecture Go runs on).
const clockTicks = 100

// Cost is what etcd-rejoin costs while its member is healthy, per host of a
// three-host cluster, over Duration.
type Cost struct {
	Version  string        `json:"version"`
	Hosts    int           `json:"hosts"`
	Duration time.Duration `json:"duration"`
	// RSS of the etcd-rejoin processes, KiB: median and largest sample.
	RSSMedianKiB int64 `json:"rss_median_kib"`
	RSSMaxKiB    int64 `json:"rss_max_kib"`
	// AnonMedianKiB is the anonymous part of that RSS (heap, stacks): the
	// rest is the binary's own pages, file-backed and shared.
	AnonMedianKiB int64 `json:"anon_median_kib,omitempty"`
	// CPU is the share of one core each etcd-rejoin process used, percent:
	// the mean over the hosts and the largest.
	CPUPercent    float64 `json:"cpu_percent"`
	CPUMaxPercent float64 `json:"cpu_max_percent"`
	// The etcd children, for scale.
	EtcdRSSMedianKiB int64   `json:"etcd_rss_median_kib"`
	EtcdCPUPercent   float64 `json:"etcd_cpu_percent"`
	// Requests are the gRPC requests per second each etcd-rejoin sent its
	// etcd, by method (etcd's grpc_server_handled_total, before and after;
	// nothing else talks gRPC to these members).
	Requests map[string]float64 `json:"requests"`
	// Watchdog is how many WATCHDOG=1 each host sent per minute.
	Watchdog float64 `json:"watchdog_per_min"`
	Err      string  `json:"err,omitempty"`
}

// startCosts starts measuring every version at once, each on its own /24,
// and returns a function that waits for the results.
func startCosts(ctx context.Context, cfg *Config) (func() []Cost, error) {
	out := make([]Cost, len(cfg.Versions))
	var wg sync.WaitGroup
	for i, v := range cfg.Versions {
		prefix, err := cfg.net()
		if err != nil {
			return nil, err
		}
		wg.Go(func() { out[i] = runCost(ctx, cfg, v, prefix) })
	}
	cfg.logf("cost while healthy: %s per version, all versions at once, beside the rest", cfg.CostDuration)
	return func() []Cost {
		wg.Wait()
		for _, c := range out {
			cfg.logf("cost etcd %s: rss median %d KiB, cpu %.3f%%, requests %v, err %q", c.Version, c.RSSMedianKiB, c.CPUPercent, c.Requests, c.Err)
		}
		return out
	}, nil
}

// costSettle passes between the last READY and the first sample.
const costSettle = 10 * time.Second

func runCost(ctx context.Context, cfg *Config, v Version, prefix string) Cost {
	cost := Cost{Version: v.Name, Hosts: 3, Duration: cfg.CostDuration}
	c, err := newCluster(cfg, v, prefix, cost.Hosts, filepath.Join(cfg.Work, "cost-etcd"+v.Name))
	if err != nil {
		cost.Err = err.Error()
		return cost
	}
	defer c.stopAll()
	if err := (&decider{cfg: cfg, c: c}).form(ctx); err != nil {
		cost.Err = err.Error()
		return cost
	}
	sleepCtx(ctx, costSettle)
	if err := measureCost(ctx, c, &cost); err != nil {
		cost.Err = err.Error()
	}
	return cost
}

// watched is one process whose CPU and memory are sampled.
type watched struct {
	pid        int
	cpu0       int64
	rss, anon  []int64
	etcd       bool
	cpuPercent float64
}

func measureCost(ctx context.Context, c *cluster, cost *Cost) error {
	procs, err := costProcs(c)
	if err != nil {
		return err
	}
	before, err := grpcHandled(ctx, c)
	if err != nil {
		return err
	}
	pings0 := countPings(c)
	start := time.Now()
	for _, p := range procs {
		if p.cpu0, err = cpuTicks(p.pid); err != nil {
			return err
		}
	}
	for time.Since(start) < cost.Duration {
		for _, p := range procs {
			if rss, anon, err := rssKiB(p.pid); err == nil {
				p.rss, p.anon = append(p.rss, rss), append(p.anon, anon)
			}
		}
		if !sleepCtx(ctx, time.Second) {
			return ctx.Err()
		}
	}
	wall := time.Since(start)
	for _, p := range procs {
		t, err := cpuTicks(p.pid)
		if err != nil {
			return err
		}
		p.cpuPercent = float64(t-p.cpu0) / clockTicks / wall.Seconds() * 100
	}
	after, err := grpcHandled(ctx, c)
	if err != nil {
		return err
	}
	fillCost(cost, procs)
	cost.Requests = rates(before, after, wall, cost.Hosts)
	cost.Watchdog = float64(countPings(c)-pings0) / float64(cost.Hosts) / wall.Minutes()
	return nil
}

// costProcs are the etcd-rejoin processes and their etcd children.
func costProcs(c *cluster) ([]*watched, error) {
	var out []*watched
	for i, h := range c.hosts {
		out = append(out, &watched{pid: h.proc.pid()})
		pid := 0
		for _, l := range h.out.all() {
			if p := launchedPid(l.text); p != 0 {
				pid = p
			}
		}
		if pid == 0 {
			return nil, fmt.Errorf("%s: no \"etcd started\" line with a pid", c.nodes[i].name)
		}
		out = append(out, &watched{pid: pid, etcd: true})
	}
	return out, nil
}

func fillCost(cost *Cost, procs []*watched) {
	var rss, anon, etcdRSS []int64
	var cpu, etcdCPU float64
	n := 0
	for _, p := range procs {
		if p.etcd {
			etcdRSS = append(etcdRSS, p.rss...)
			etcdCPU += p.cpuPercent
			continue
		}
		rss, anon = append(rss, p.rss...), append(anon, p.anon...)
		cpu += p.cpuPercent
		cost.CPUMaxPercent = max(cost.CPUMaxPercent, p.cpuPercent)
		n++
	}
	cost.RSSMedianKiB, _ = median(rss)
	_, cost.RSSMaxKiB, _ = span(rss)
	cost.AnonMedianKiB, _ = median(anon)
	cost.EtcdRSSMedianKiB, _ = median(etcdRSS)
	if n > 0 {
		cost.CPUPercent = cpu / float64(n)
		cost.EtcdCPUPercent = etcdCPU / float64(n)
	}
}

func countPings(c *cluster) int {
	n := 0
	for _, h := range c.hosts {
		for _, l := range h.out.all() {
			if strings.HasPrefix(l.text, notifyLinePrefix) && strings.Contains(l.text, "WATCHDOG=1") {
				n++
			}
		}
	}
	return n
}

// rates turns two counter readings into requests per second per host.
func rates(before, after map[string]float64, wall time.Duration, hosts int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d / wall.Seconds() / float64(hosts)
		}
	}
	return out
}

// grpcHandled sums etcd's grpc_server_handled_total by method over every
// member.
func grpcHandled(ctx context.Context, c *cluster) (map[string]float64, error) {
	sum := map[string]float64{}
	for _, n := range c.nodes {
		m, err := scrape(ctx, n.clientURL+"/metrics")
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			sum[k] += v
		}
	}
	return sum, nil
}

func scrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	return parseHandled(resp.Body)
}

// parseHandled sums grpc_server_handled_total by grpc_method from
// Prometheus text.
func parseHandled(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "grpc_server_handled_total{") {
			continue
		}
		method := label(line, "grpc_method")
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if method == "" || err != nil {
			return nil, fmt.Errorf("unreadable metric line %q", line)
		}
		out[method] += v
	}
	return out, sc.Err()
}

// label returns the value of a label in a Prometheus sample line.
func label(line, name string) string {
	_, rest, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// cpuTicks is a process's user plus system time, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	return parseStatTicks(string(b))
}

// parseStatTicks takes utime+stime out of /proc/<pid>/stat.
func parseStatTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unreadable stat %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// After the command: state(3) ... utime(14) stime(15), 1-based overall.
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat %q", stat)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unreadable cpu times in %q", stat)
	}
	return u + s, nil
}

// rssKiB is a process's resident memory, and its anonymous part.
func rssKiB(pid int) (rss, anon int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	if rss, err = statusKiB(string(b), "VmRSS"); err != nil {
		return 0, 0, err
	}
	anon, err = statusKiB(string(b), "RssAnon")
	return rss, anon, err
}

// parseRSS reads VmRSS out of /proc/<pid>/status.
func parseRSS(status string) (int64, error) { return statusKiB(status, "VmRSS") }

// statusKiB reads one "Key:   N kB" line of /proc/<pid>/status.
func statusKiB(status, key string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s", key)
}
