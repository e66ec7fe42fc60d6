package member

import (
	"log/slog"
	"net/url"

	"github.com/etcd-rejoin/etcd-rejoin/internal/config"
)

// OptionsFor returns the settings for talking to the live cluster of a
// configuration: the configured peer client URLs (discovered through the
// other members' peer URLs when none are), TLS and timeouts.
func OptionsFor(cfg *config.Config, log *slog.Logger) Options {
	return Options{
		ClientURLs:     cfg.PeerClientURLs,
		PeerURLs:       otherPeerURLs(cfg),
		SelfPeerURLs:   cfg.PeerURLs,
		ClientTLS:      TLS(cfg.ClientTLS),
		PeerTLS:        TLS(cfg.PeerTLS),
		Auth:           Auth(cfg.ClientAuth),
		ClientScheme:   clientScheme(cfg),
		DialTimeout:    cfg.DialTimeout,
		RequestTimeout: cfg.RequestTimeout,
		Log:            log,
	}
}

// clientScheme is the scheme of the members' client URLs: https when the
// configuration uses TLS for them.
func clientScheme(cfg *config.Config) string {
	if cfg.ClientTLSOn() {
		return "https"
	}
	return "http"
}

// otherPeerURLs lists the peer URLs of the initial cluster's other members.
func otherPeerURLs(c *config.Config) []string {
	var out []string
	for name, urls := range c.InitialCluster {
		if name != c.Name {
			out = append(out, urls...)
		}
	}
	return out
}

// LocalFor returns how this host's own member is asked: at its listen
// address and, under TLS, by its advertised URL, so that its certificate is
// checked against the name it was made for (it need not name 127.0.0.1 when
// etcd listens on 0.0.0.0).
func LocalFor(cfg *config.Config, log *slog.Logger) (endpoint string, o Options) {
	o = OptionsFor(cfg, log)
	if cfg.LocalAdvertisedURL == "" {
		return cfg.LocalClientURL, o
	}
	if u, err := url.Parse(cfg.LocalClientURL); err == nil {
		o.DialAddress = u.Host
	}
	return cfg.LocalAdvertisedURL, o
}
