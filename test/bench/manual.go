package bench

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"
)

// manual is the documented procedure, scripted with no pauses: find the
// stale entry (member list), member remove, member add, start etcd as
// existing on an empty data dir with the initial cluster that member add
// printed. It is done when the member is a started voter serving a
// linearizable read (the bench's poll).
type manual struct {
	c      *cluster
	victim int
}

func (m manual) etcdctl(ctx context.Context, args ...string) (string, error) {
	endpoints := strings.Join(m.c.clientURLs(m.c.others(m.victim)), ",")
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ETCDCTL_API=3"}
	return run(ctx, m.c.cfg.Etcdctl, env, append([]string{"--endpoints=" + endpoints}, args...)...)
}

// heal runs the procedure and returns its milestones.
func (m manual) heal(ctx context.Context) (healed, error) {
	n := m.c.nodes[m.victim]
	t0 := time.Now()
	marks := map[string]time.Duration{}
	list, err := m.etcdctl(ctx, "member", "list")
	if err != nil {
		return healed{start: t0}, err
	}
	marks[markListed] = time.Since(t0)
	for _, id := range staleIDs(list, n.name, n.peerURL) {
		if _, err := m.etcdctl(ctx, "member", "remove", id); err != nil {
			return healed{start: t0}, err
		}
		marks[markRemoved] = time.Since(t0)
	}
	added, err := m.add(ctx)
	if err != nil {
		return healed{start: t0}, err
	}
	marks[markAdded] = time.Since(t0)
	ic, err := addedInitialCluster(added)
	if err != nil {
		return healed{start: t0}, err
	}
	h, err := m.c.startEtcd(m.victim, "existing", ic)
	if err != nil {
		return healed{start: t0}, err
	}
	marks[markEtcdStarted] = h.proc.start.Sub(t0)
	return healed{start: t0, host: h, marks: marks}, nil
}

// add runs member add. raft drops a membership change proposed before its
// leader applied the previous one, and the removal just before may have been
// answered by a member that applied it first: etcdctl then times out. As an
// operator would, it looks whether the member was added and, when not, adds
// it again (once).
func (m manual) add(ctx context.Context) (string, error) {
	n := m.c.nodes[m.victim]
	added, err := m.etcdctl(ctx, "member", "add", n.name, "--peer-urls="+n.peerURL)
	if err == nil || !timedOut(err) {
		return added, err
	}
	list, lerr := m.etcdctl(ctx, "member", "list")
	if lerr != nil || len(staleIDs(list, n.name, n.peerURL)) > 0 {
		return added, err
	}
	return m.etcdctl(ctx, "member", "add", n.name, "--peer-urls="+n.peerURL)
}

// timedOut reports whether etcdctl gave up waiting for etcd's answer.
func timedOut(err error) bool {
	return strings.Contains(err.Error(), "context deadline exceeded") || strings.Contains(err.Error(), "request timed out")
}

// staleIDs returns the hex IDs of the entries in `etcdctl member list`
// output (ID, status, name, peer URLs, client URLs[, learner]) that carry
// this name or peer URL.
func staleIDs(list, name, peerURL string) []string {
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ", ")
		if len(f) < 4 {
			continue
		}
		if f[2] == name || containsURL(f[3], peerURL) {
			ids = append(ids, f[0])
		}
	}
	return ids
}

func containsURL(list, u string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.TrimSpace(x) == u {
			return true
		}
	}
	return false
}

// addedInitialCluster takes ETCD_INITIAL_CLUSTER out of `etcdctl member
// add` output.
func addedInitialCluster(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ETCD_INITIAL_CLUSTER="); ok {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", fmt.Errorf("member add printed no ETCD_INITIAL_CLUSTER: %q", out)
}
