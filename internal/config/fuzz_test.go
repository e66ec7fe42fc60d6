package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary TOML and one arbitrary environment variable to
// Load: it must either succeed with a usable member identity or fail with
// ErrInvalid listing at least one problem; never panic.
func FuzzLoad(f *testing.F) {
	f.Add("keep-backups = 3\n[etcd]\nname = \"a\"\n", "ETCD_NAME=a")
	f.Add("[etcd]\ninitial-cluster = \"a=http://127.0.0.1:2380,b=http://127.0.0.2:2380\"\nname=\"a\"\ninitial-advertise-peer-urls=\"http://127.0.0.1:2380\"\n", "ETCD_OTHER_PEERS_CLIENT_URLS=http://127.0.0.2:2379")
	f.Add("peer-client-urls = [\"http://x:1\"]\n[client-tls]\ncert-file=\"/c\"\nkey-file=\"/k\"\n", "ETCD_REJOIN_LEARNER=false")
	f.Add("= =\n", "ETCD_INITIAL_CLUSTER=")
	f.Add("[etcd]\nname = 3\n", "ETCD_REJOIN_KEEP_BACKUPS=-1")
	f.Add("learner = [[1]]\n", "ETCD_LISTEN_CLIENT_URLS=https://[::]:2379")
	f.Fuzz(func(t *testing.T, toml, envVar string) {
		in := Input{
			Path:     "fuzz.toml",
			Environ:  []string{envVar},
			ReadFile: func(string) ([]byte, error) { return []byte(toml), nil },
		}
		cfg, err := Load(in)
		if err != nil {
			var ce *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error is not a list of problems: %v", err)
			}
			return
		}
		if cfg.Name == "" || cfg.DataDir == "" || len(cfg.PeerURLs) == 0 || cfg.KeepBackups < 1 {
			t.Fatalf("accepted a config without a usable identity: %+v", cfg)
		}
		if _, ok := cfg.InitialCluster[cfg.Name]; !ok {
			t.Fatalf("accepted a config whose name %q is not in %v", cfg.Name, cfg.InitialCluster)
		}
		if _, ok := cfg.Etcd[stateFlag]; ok {
			t.Fatal("initial-cluster-state leaked into etcd settings")
		}
		for k := range cfg.Etcd {
			if strings.ContainsAny(k, "=\x00") {
				t.Fatalf("etcd flag %q cannot become an environment variable", k)
			}
		}
	})
}
