package lab_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unit = "etcd-rejoin.service"

var hosts = []string{"etcd1", "etcd2", "etcd3"}

// lab is one container lab brought up by lab/up for one test.
type lab struct {
	t    *testing.T
	name string
	env  []string
}

// newLab brings a lab up and takes it down when the test ends, pass or
// fail, then checks that nothing is left behind.
func newLab(t *testing.T, name string) *lab {
	t.Helper()
	needRoot(t)
	needTools(t)
	l := &lab{t: t, name: name, env: []string{
		"LAB=" + name,
		"LAB_DEB=" + deb(t),
		"LAB_DIR=" + filepath.Join("/var/lib/etcd-rejoin-lab", name),
	}}
	t.Cleanup(l.down)
	start := time.Now()
	r := run(t, 10*time.Minute, l.env, "lab/up")
	if r.Code != 0 {
		t.Fatalf("lab/up: exit %d:\n%s", r.Code, r.Out)
	}
	record(t, name+": lab/up (copy, boot, provision, READY)", time.Since(start))
	return l
}

func (l *lab) down() {
	t := l.t
	if t.Failed() {
		for _, h := range hosts {
			r := l.ctl(time.Minute, "journal", h, "-n", "60", "-o", "short-precise")
			t.Logf("journal of %s:\n%s", h, r.Out)
		}
	}
	r := run(t, 5*time.Minute, l.env, "lab/down")
	if r.Code != 0 {
		t.Errorf("lab/down: exit %d:\n%s", r.Code, r.Out)
	}
	l.assertNothingLeft()
}

// assertNothingLeft: no namespace, directory, mount, cgroup or nspawn of
// this lab remains.
func (l *lab) assertNothingLeft() {
	t := l.t
	dir := filepath.Join("/var/lib/etcd-rejoin-lab", l.name)
	for _, p := range []string{"/var/run/netns/" + l.name, dir,
		"/sys/fs/cgroup/unified/etcd-rejoin-lab/" + l.name,
		"/sys/fs/cgroup/systemd/etcd-rejoin-lab/" + l.name,
		"/sys/fs/cgroup/etcd-rejoin-lab/" + l.name} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("lab/down left %s behind", p)
		}
	}
	if r := run(t, time.Minute, nil, "ip", "netns", "list"); strings.Contains(r.Out, l.name) {
		t.Errorf("lab/down left netns %s: %s", l.name, r.Out)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("read mountinfo: %v", err)
	} else if strings.Contains(string(mounts), dir) {
		t.Errorf("lab/down left mounts below %s", dir)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), dir+"/") {
			t.Errorf("lab/down left a process behind: %s %q", p, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// with returns the lab reporting to t: subtests must fail their own t.
func (l *lab) with(t *testing.T) *lab {
	c := *l
	c.t = t
	return &c
}

// ctl runs lab/ctl for this lab.
func (l *lab) ctl(timeout time.Duration, args ...string) result {
	l.t.Helper()
	return run(l.t, timeout, l.env, "lab/ctl", args...)
}

func (l *lab) mustCtl(timeout time.Duration, args ...string) string {
	l.t.Helper()
	r := l.ctl(timeout, args...)
	if r.Code != 0 {
		l.t.Fatalf("lab/ctl %s: exit %d:\n%s", strings.Join(args, " "), r.Code, r.Out)
	}
	return r.Out
}

// exec runs a command inside a host and returns its trimmed output.
func (l *lab) exec(host string, args ...string) string {
	l.t.Helper()
	return strings.TrimSpace(l.mustCtl(2*time.Minute, append([]string{"exec", host}, args...)...))
}

func (l *lab) show(host, prop string) string {
	l.t.Helper()
	return l.exec(host, "systemctl", "show", "-p", prop, "--value", unit)
}

// member is one entry of `etcdctl member list -w json`.
type member struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// members asks a host's member for the member list.
func (l *lab) members(host string) []member {
	l.t.Helper()
	out := l.mustCtl(time.Minute, "etcdctl", host, "member", "list", "-w", "json")
	var resp struct {
		Members []member `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		l.t.Fatalf("member list from %s: %v\n%s", host, err, out)
	}
	sort.Slice(resp.Members, func(i, j int) bool { return resp.Members[i].Name < resp.Members[j].Name })
	return resp.Members
}

// idsByName maps name to member ID, and fails unless the list holds exactly
// etcd1..etcd3, all started voters on their own addresses.
func (l *lab) idsByName(host string) map[string]uint64 {
	l.t.Helper()
	ms := l.members(host)
	ids := map[string]uint64{}
	for _, m := range ms {
		if m.Name == "" || len(m.ClientURLs) == 0 {
			l.t.Errorf("member %x is not started: %+v", m.ID, m)
		}
		if m.IsLearner {
			l.t.Errorf("member %s (%x) is a learner", m.Name, m.ID)
		}
		ids[m.Name] = m.ID
	}
	if len(ms) != 3 || len(ids) != 3 || ids["etcd1"] == 0 || ids["etcd2"] == 0 || ids["etcd3"] == 0 {
		l.t.Fatalf("member list from %s: %+v, want etcd1..etcd3", host, ms)
	}
	return ids
}

// endpointStatus is what the host's own member says of itself
// (`etcdctl endpoint status`): its member ID and the leader it names.
type endpointStatus struct {
	MemberID, Leader uint64
}

func (l *lab) endpointStatus(host string) endpointStatus {
	l.t.Helper()
	out := l.mustCtl(time.Minute, "etcdctl", host, "endpoint", "status", "-w", "json")
	var st []struct {
		Status struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			} `json:"header"`
			Leader uint64 `json:"leader"`
		} `json:"Status"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		l.t.Fatalf("endpoint status of %s: %v\n%s", host, err, out)
	}
	return endpointStatus{MemberID: st[0].Status.Header.MemberID, Leader: st[0].Status.Leader}
}

// memberID is this host's own member ID, as its own member reports it.
func (l *lab) memberID(host string) uint64 { return l.endpointStatus(host).MemberID }

// put writes a key through the host, retrying for a minute: right after a
// member went away the cluster may be electing a leader.
func (l *lab) put(host, key, value string) {
	l.t.Helper()
	l.waitFor("put "+key+" on "+host, time.Minute, func() bool {
		r := l.ctl(time.Minute, "etcdctl", host, "put", key, value)
		if r.Code != 0 {
			l.t.Logf("put %s on %s: exit %d (retrying)", key, host, r.Code)
		}
		return r.Code == 0 && strings.TrimSpace(r.Out) == "OK"
	})
}

// get reads a key from the host's own member (serializable: what that
// member itself holds).
func (l *lab) get(host, key string) string {
	l.t.Helper()
	return strings.TrimSpace(l.mustCtl(time.Minute, "etcdctl", host, "get", "--consistency=s", "--print-value-only", key))
}

// waitActive waits until the unit is active (READY=1) and its main PID is
// not `not` (use "" for any).
func (l *lab) waitActive(host string, timeout time.Duration, not string) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := l.ctl(time.Minute, "exec", host, "systemctl", "show", "-p", "ActiveState", "-p", "SubState", "-p", "MainPID", unit)
		if r.Code == 0 && strings.Contains(r.Out, "ActiveState=active") && strings.Contains(r.Out, "SubState=running") &&
			(not == "" || !strings.Contains(r.Out, "MainPID="+not+"\n")) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: %s not active after %s:\n%s", host, unit, timeout, r.Out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitFor polls until cond holds.
func (l *lab) waitFor(what string, timeout time.Duration, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// etcdPID is the PID (inside the host) of the etcd child of etcd-rejoin.
func (l *lab) etcdPID(host string) string {
	l.t.Helper()
	main := l.show(host, "MainPID")
	kids := strings.Fields(l.exec(host, "sh", "-c", "cat /proc/"+main+"/task/*/children"))
	if len(kids) != 1 {
		l.t.Fatalf("%s: etcd-rejoin (%s) has children %q, want one etcd", host, main, kids)
	}
	if comm := l.exec(host, "cat", "/proc/"+kids[0]+"/comm"); comm != "etcd" {
		l.t.Fatalf("%s: child %s is %q, want etcd", host, kids[0], comm)
	}
	return kids[0]
}

// journal returns the unit's journal lines of the current boot since the
// given cursor time ("" for all).
func (l *lab) journal(host, since string) string {
	l.t.Helper()
	args := []string{"journal", host, "-b", "-o", "cat"}
	if since != "" {
		args = append(args, "--since", since)
	}
	return l.mustCtl(time.Minute, args...)
}

// now is the host's clock, for journalctl --since.
func (l *lab) now(host string) string {
	l.t.Helper()
	return l.exec(host, "date", "+%Y-%m-%d %H:%M:%S")
}

func (l *lab) nRestarts(host string) int {
	l.t.Helper()
	n, err := strconv.Atoi(l.show(host, "NRestarts"))
	if err != nil {
		l.t.Fatalf("NRestarts of %s: %v", host, err)
	}
	return n
}

// assertFormed: all three hosts active (running) with READY sent (a
// Type=notify unit is active only after READY=1), a running STATUS= line,
// and one cluster of three started voters on which every host agrees.
func (l *lab) assertFormed() map[string]uint64 {
	l.t.Helper()
	ids := l.idsByName("etcd1")
	for _, h := range hosts {
		status := l.mustCtl(time.Minute, "exec", h, "systemctl", "status", "--no-pager", "--lines=0", unit)
		if !strings.Contains(status, "Active: active (running)") {
			l.t.Errorf("%s: status lacks active (running):\n%s", h, status)
		}
		// Right after a partition heals the returning member may force an
		// election: STATUS says "degraded" until the next health check.
		want := fmt.Sprintf("running: member %x of cluster ", ids[h])
		text := ""
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			text = l.show(h, "StatusText")
			if strings.HasPrefix(text, want) && strings.Contains(text, "voting and caught up") || time.Now().After(deadline) {
				break
			}
		}
		if !strings.HasPrefix(text, want) || !strings.Contains(text, "voting and caught up") {
			l.t.Errorf("%s: STATUS %q, want prefix %q and 'voting and caught up'", h, text, want)
		}
		if got := l.memberID(h); got != ids[h] {
			l.t.Errorf("%s reports member ID %x, the list says %x", h, got, ids[h])
		}
		if other := l.idsByName(h); fmt.Sprint(other) != fmt.Sprint(ids) {
			l.t.Errorf("%s sees members %v, etcd1 sees %v", h, other, ids)
		}
	}
	return ids
}

func sameIDs(t *testing.T, what string, got, want map[string]uint64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: member IDs %v, want %v", what, got, want)
	}
}
