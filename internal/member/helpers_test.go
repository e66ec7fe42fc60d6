package member

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/testetcd"
)

// tlogWriter sends log lines to t.Log.
type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// optionsFor returns Options that ask the cluster's client URLs, with the
// cluster's client certificate for both sides under TLS.
func optionsFor(t testing.TB, c *testetcd.Cluster) Options {
	o := Options{
		ClientURLs:     testetcd.ClientURLs(c.Nodes),
		PeerURLs:       testetcd.PeerURLs(c.Nodes),
		DialTimeout:    time.Second,
		RequestTimeout: 2 * time.Second,
		Log:            testLogger(t),
	}
	if c.CA != nil {
		files := TLS{CertFile: c.ClientTLS.CertFile, KeyFile: c.ClientTLS.KeyFile, TrustedCAFile: c.ClientTLS.CAFile}
		o.ClientTLS, o.PeerTLS = files, files
	}
	return o
}

// truth is the member list and cluster ID as the harness's own client sees them.
func truth(t testing.TB, c *testetcd.Cluster) (map[string]uint64, uint64) {
	t.Helper()
	resp, err := c.Client(t).MemberList(ctxFor(t))
	if err != nil {
		t.Fatalf("member list through harness client: %v", err)
	}
	ids := map[string]uint64{}
	for _, m := range resp.Members {
		ids[m.Name] = m.ID
	}
	return ids, resp.Header.ClusterId
}

func memberNamed(t testing.TB, c plan.Cluster, name string) plan.Member {
	t.Helper()
	for _, m := range c.Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no member named %q in %+v", name, c.Members)
	return plan.Member{}
}

func memberWithPeer(members []plan.Member, peerURL string) (plan.Member, bool) {
	for _, m := range members {
		if slices.Contains(m.PeerURLs, peerURL) {
			return m, true
		}
	}
	return plan.Member{}, false
}

// assertErrorsName fails unless every URL is named by some line of errs.
func assertErrorsName(t testing.TB, errs []string, urls ...string) {
	t.Helper()
	for _, u := range urls {
		found := false
		for _, e := range errs {
			if strings.Contains(e, u) {
				found = true
			}
		}
		if !found {
			t.Errorf("Errors %q do not name %s", errs, u)
		}
	}
}

func forVersions(t *testing.T, f func(t *testing.T, v testetcd.Version)) {
	for _, v := range testetcd.Versions(t) {
		t.Run(v.Name, func(t *testing.T) { f(t, v) })
	}
}
