package config

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/etcd-rejoin/etcd-rejoin/internal/urlset"
)

// validate checks the rules that span several keys.
func (b *builder) validate(cfg *Config) {
	b.deriveTLS(cfg)
	if cfg.Name == "" {
		b.problem("etcd.name", b.etcdSrc["name"], "must not be empty")
	}
	if strings.TrimSpace(cfg.DataDir) == "" {
		b.problem("etcd.data-dir", b.etcdSrc["data-dir"], "must not be empty")
	}
	if _, err := strconv.Atoi(strings.TrimSpace(b.own["keep-backups"])); err == nil && cfg.KeepBackups < 1 {
		b.problem("keep-backups", b.ownSrc["keep-backups"], "must be at least 1, got %d", cfg.KeepBackups)
	}
	b.checkSelfInCluster(cfg)
	b.checkSchemes(cfg)
	b.checkWALDir(cfg)
	b.checkEtcdTLS(cfg)
	b.checkPair("client-tls", cfg.ClientTLS)
	b.checkPair("peer-tls", cfg.PeerTLS)
	b.checkAuth(cfg)
}

// checkAuth: a user comes with the file of its password, never with the
// password itself. A relative file name is a systemd credential.
func (b *builder) checkAuth(cfg *Config) {
	const user, file = "client-auth.username", "client-auth.password-file"
	a := &cfg.ClientAuth
	switch {
	case a.Username != "" && a.PasswordFile == "":
		b.problem(file, b.ownSrc[file], "must be set with %s (%s): the password is read from a file, never from the configuration", user, b.ownSrc[user])
	case a.Username == "" && a.PasswordFile != "":
		b.problem(user, b.ownSrc[user], "must be set with %s (%s)", file, b.ownSrc[file])
	case a.PasswordFile != "" && !filepath.IsAbs(a.PasswordFile):
		if b.credDir == "" {
			b.problem(file, b.ownSrc[file], "%q is relative, which names a systemd credential, but $%s is not set (LoadCredential= in the unit)",
				a.PasswordFile, EnvCredentials)
			return
		}
		a.PasswordFile = filepath.Join(b.credDir, a.PasswordFile)
	}
}

// checkSelfInCluster: the member's name must be in initial-cluster, with
// exactly its advertised peer URLs.
func (b *builder) checkSelfInCluster(cfg *Config) {
	if cfg.Name == "" || len(cfg.InitialCluster) == 0 || len(cfg.PeerURLs) == 0 {
		return
	}
	listed, ok := cfg.InitialCluster[cfg.Name]
	if !ok {
		b.problem("etcd.initial-cluster", b.etcdSrc["initial-cluster"],
			"does not list this member's name %q (etcd.name from %s)", cfg.Name, b.etcdSrc["name"])
		return
	}
	if !urlset.Equal(listed, cfg.PeerURLs) {
		b.problem("etcd.initial-cluster", b.etcdSrc["initial-cluster"],
			"lists %s for %s, but etcd.initial-advertise-peer-urls (%s) is %s",
			strings.Join(listed, ","), cfg.Name, b.etcdSrc["initial-advertise-peer-urls"], strings.Join(cfg.PeerURLs, ","))
	}
}

// checkSchemes: one scheme for every URL etcd-rejoin talks to. With https
// for some and http for others, part of what it reads could be forged on
// the network path: an http peer's /members could make it bootstrap or
// rejoin, an http client URL would carry membership calls in the clear.
// Plain listeners on loopback beside https client listeners are allowed
// (local tools use them; etcd-rejoin does not).
func (b *builder) checkSchemes(cfg *Config) {
	lists := []struct {
		key  string
		urls []string
	}{
		{"etcd.advertise-client-urls", cfg.AdvertiseClientURLs},
		{"peer-client-urls", cfg.PeerClientURLs},
		{"etcd.listen-client-urls", withoutLoopbackHTTP(cfg.ListenClientURLs)},
		{"etcd.initial-advertise-peer-urls", cfg.PeerURLs},
		{"etcd.listen-peer-urls", cfg.ListenPeerURLs},
		{"etcd.initial-cluster", clusterPeerURLs(cfg.InitialCluster)},
	}
	scheme, first := "", ""
	for _, l := range lists {
		s := schemeOf(l.urls)
		switch {
		case s == "mixed":
			b.problem(l.key, b.sourceOf(l.key), "mixes http and https URLs; use one scheme (https for all when TLS is on)")
		case s == "" || scheme == s:
		case scheme == "":
			scheme, first = s, l.key
		default:
			b.problem(l.key, b.sourceOf(l.key), "uses %s but %s (%s) uses %s: with TLS on, every client and peer URL must use https, "+
				"or what etcd-rejoin reads over plain http could be forged", s, first, b.sourceOf(first), scheme)
		}
	}
	if cfg.ClientTLS.InsecureSkipVerify || cfg.PeerTLS.InsecureSkipVerify {
		b.warnings = append(b.warnings, "insecure-skip-verify is on: the members' certificates are not verified, "+
			"so anyone on the network path can pose as a member")
	}
}

// sourceOf says where a key's value came from.
func (b *builder) sourceOf(key string) string {
	if flag, ok := strings.CutPrefix(key, "etcd."); ok {
		return b.etcdSrc[flag]
	}
	return b.ownSrc[key]
}

// schemeOf is "http", "https", "mixed", or "" for no URLs.
func schemeOf(urls []string) string {
	scheme := ""
	for _, u := range urls {
		s := "http"
		if strings.HasPrefix(strings.ToLower(u), "https://") {
			s = "https"
		}
		if scheme != "" && s != scheme {
			return "mixed"
		}
		scheme = s
	}
	return scheme
}

// withoutLoopbackHTTP drops plain http listeners on loopback addresses when
// https ones are there too.
func withoutLoopbackHTTP(urls []string) []string {
	if !anyHTTPS(urls) {
		return urls
	}
	var out []string
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err == nil && u.Scheme == "http" && isLoopback(u.Hostname()) {
			continue
		}
		out = append(out, raw)
	}
	return out
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkWALDir: a wal-dir must not be the data dir or lie inside it where
// etcd keeps its own files, nor hold the data dir.
func (b *builder) checkWALDir(cfg *Config) {
	if cfg.WALDir == "" || strings.TrimSpace(cfg.DataDir) == "" {
		return
	}
	wal, data := filepath.Clean(cfg.WALDir), filepath.Clean(cfg.DataDir)
	switch {
	case wal == data:
		b.problem("etcd.wal-dir", b.etcdSrc["wal-dir"], "is the data dir itself; leave it unset to keep the WAL in the data dir")
	case strings.HasPrefix(wal, data+string(filepath.Separator)+"member"):
		b.problem("etcd.wal-dir", b.etcdSrc["wal-dir"], "%s is inside the data dir's member directory, where etcd keeps its own files", wal)
	case strings.HasPrefix(data, wal+string(filepath.Separator)):
		b.problem("etcd.wal-dir", b.etcdSrc["wal-dir"], "%s contains the data dir %s", wal, data)
	}
}

// checkEtcdTLS: https URLs need certificates, certificate authentication
// needs a CA, and certificates come with their keys.
func (b *builder) checkEtcdTLS(cfg *Config) {
	e := b.etcd
	if anyHTTPS(cfg.ListenClientURLs) && e["cert-file"] == "" && !b.etcdBool("auto-tls") {
		b.problem("etcd.listen-client-urls", b.etcdSrc["listen-client-urls"], "uses https but etcd.cert-file is not set")
	}
	if anyHTTPS(cfg.ListenPeerURLs) && e["peer-cert-file"] == "" && !b.etcdBool("peer-auto-tls") {
		b.problem("etcd.listen-peer-urls", b.etcdSrc["listen-peer-urls"], "uses https but etcd.peer-cert-file is not set")
	}
	if b.etcdBool("client-cert-auth") && e["trusted-ca-file"] == "" {
		b.problem("etcd.client-cert-auth", b.etcdSrc["client-cert-auth"], "is true but etcd.trusted-ca-file is not set")
	}
	if b.etcdBool("peer-client-cert-auth") && e["peer-trusted-ca-file"] == "" {
		b.problem("etcd.peer-client-cert-auth", b.etcdSrc["peer-client-cert-auth"], "is true but etcd.peer-trusted-ca-file is not set")
	}
	for _, pair := range [][2]string{{"cert-file", "key-file"}, {"peer-cert-file", "peer-key-file"},
		{"client-cert-file", "client-key-file"}, {"peer-client-cert-file", "peer-client-key-file"}} {
		if (e[pair[0]] == "") != (e[pair[1]] == "") {
			set := pair[0]
			if e[set] == "" {
				set = pair[1]
			}
			b.problem("etcd."+set, b.etcdSrc[set], "is set without its partner (etcd.%s and etcd.%s go together)", pair[0], pair[1])
		}
	}
}

// etcdBool reads a boolean etcd flag; a value that is not a boolean is a problem.
func (b *builder) etcdBool(flag string) bool {
	v, ok := b.etcd[flag]
	if !ok || v == "" {
		return false
	}
	x, err := strconv.ParseBool(v)
	if err != nil {
		b.problem("etcd."+flag, b.etcdSrc[flag], "%q is not true or false", v)
	}
	return x
}

// anyHTTPS reports whether any of the URLs uses https: the one test of
// whether TLS is on.
func anyHTTPS(lists ...[]string) bool {
	for _, l := range lists {
		for _, u := range l {
			if strings.HasPrefix(strings.ToLower(u), "https://") {
				return true
			}
		}
	}
	return false
}

// clusterPeerURLs flattens the initial cluster's peer URLs.
func clusterPeerURLs(ic map[string][]string) []string {
	var out []string
	for _, urls := range ic {
		out = append(out, urls...)
	}
	return out
}

func (b *builder) checkPair(table string, t TLS) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		key := table + ".cert-file"
		if t.CertFile == "" {
			key = table + ".key-file"
		}
		b.problem(key, b.ownSrc[key], "is set without its partner (%s.cert-file and %s.key-file go together)", table, table)
	}
}

// deriveTLS fills the client and peer TLS settings etcd-rejoin uses from
// etcd's own when they are not set explicitly.
func (b *builder) deriveTLS(cfg *Config) {
	e := b.etcd
	if !cfg.ClientTLS.Enabled() && cfg.ClientTLSOn() {
		cfg.ClientTLS.CertFile = first(e["client-cert-file"], e["cert-file"])
		cfg.ClientTLS.KeyFile = first(e["client-key-file"], e["key-file"])
		cfg.ClientTLS.TrustedCAFile = e["trusted-ca-file"]
	}
	if !cfg.PeerTLS.Enabled() && anyHTTPS(cfg.PeerURLs, clusterPeerURLs(cfg.InitialCluster)) {
		cfg.PeerTLS.CertFile = first(e["peer-client-cert-file"], e["peer-cert-file"])
		cfg.PeerTLS.KeyFile = first(e["peer-client-key-file"], e["peer-key-file"])
		cfg.PeerTLS.TrustedCAFile = e["peer-trusted-ca-file"]
	}
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// fileKeys are the settings that name files which must exist.
var fileKeys = []string{
	"etcd.cert-file", "etcd.key-file", "etcd.trusted-ca-file",
	"etcd.peer-cert-file", "etcd.peer-key-file", "etcd.peer-trusted-ca-file",
	"etcd.client-cert-file", "etcd.client-key-file",
	"etcd.peer-client-cert-file", "etcd.peer-client-key-file",
	"client-tls.cert-file", "client-tls.key-file", "client-tls.trusted-ca-file",
	"peer-tls.cert-file", "peer-tls.key-file", "peer-tls.trusted-ca-file",
	"client-auth.password-file",
}

// checkFiles checks that every file the configuration names exists.
func (b *builder) checkFiles(cfg *Config, stat func(string) (os.FileInfo, error)) {
	for _, key := range fileKeys {
		path, src := b.lookup(cfg, key)
		if path == "" {
			continue
		}
		fi, err := stat(path)
		switch {
		case err != nil:
			b.problem(key, src, "file %s: %v", path, unwrapPathError(err))
		case fi.IsDir():
			b.problem(key, src, "%s is a directory, not a file", path)
		}
	}
}

// File is a file the configuration names: its key, where the value came
// from, and the path.
type File struct{ Key, Source, Path string }

// Files lists the certificate, key, CA and password files the configuration
// names (etcd's and etcd-rejoin's own), each once.
func (c *Config) Files() []File {
	b := &builder{etcd: c.Etcd, etcdSrc: map[string]string{}, ownSrc: map[string]string{}}
	for k, src := range c.Sources {
		if flag, ok := strings.CutPrefix(k, "etcd."); ok {
			b.etcdSrc[flag] = src
		} else {
			b.ownSrc[k] = src
		}
	}
	var out []File
	seen := map[string]bool{}
	for _, key := range fileKeys {
		path, src := b.lookup(c, key)
		if path == "" || seen[path] {
			continue
		}
		seen[path] = true
		out = append(out, File{Key: key, Source: src, Path: path})
	}
	return out
}

func (b *builder) lookup(cfg *Config, key string) (value, source string) {
	if flag, ok := strings.CutPrefix(key, "etcd."); ok {
		return b.etcd[flag], b.etcdSrc[flag]
	}
	if key == "client-auth.password-file" {
		return cfg.ClientAuth.PasswordFile, b.ownSrc[key]
	}
	tls := cfg.ClientTLS
	if strings.HasPrefix(key, "peer-tls.") {
		tls = cfg.PeerTLS
	}
	src := b.ownSrc[key]
	if src == sourceDefault {
		src = sourceDerived + " from etcd's settings"
	}
	switch {
	case strings.HasSuffix(key, ".cert-file"):
		return tls.CertFile, src
	case strings.HasSuffix(key, ".key-file"):
		return tls.KeyFile, src
	default:
		return tls.TrustedCAFile, src
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
