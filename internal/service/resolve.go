package service

import (
	"context"
	"net"
	"net/url"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/plan"
	"github.com/etcd-rejoin/etcd-rejoin/internal/urlset"
)

// resolveTimeout bounds the name lookups of one observation.
const resolveTimeout = time.Second

// resolveAliases resolves the host names in this member's peer URLs and in
// the live members' peer URLs, so that URLs compare as etcd compares them
// (etcd resolves host names before it compares peer URLs). A name that does
// not resolve in time simply has no alias.
func resolveAliases(ctx context.Context, self []string, c plan.Cluster) urlset.Aliases {
	urls := append([]string(nil), self...)
	for _, m := range c.Members {
		urls = append(urls, m.PeerURLs...)
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	aliases := urlset.Aliases{}
	for _, raw := range urls {
		n := urlset.Normalize(raw)
		if _, done := aliases[n]; done {
			continue
		}
		if forms := addressForms(ctx, n); len(forms) > 0 {
			aliases[n] = forms
		}
	}
	if len(aliases) == 0 {
		return nil
	}
	return aliases
}

// addressForms returns u with its host name replaced by each of its
// addresses; nothing for a URL whose host is an address already.
func addressForms(ctx context.Context, u string) []string {
	parsed, err := url.Parse(u)
	if err != nil || net.ParseIP(parsed.Hostname()) != nil {
		return nil
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, parsed.Hostname())
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		v := *parsed
		v.Host = net.JoinHostPort(a, parsed.Port())
		out = append(out, urlset.Normalize(v.String()))
	}
	return out
}
