package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The operations keys (issue 10): metrics-address and defrag-*.

func TestOpsDefaults(t *testing.T) {
	cfg, err := load(t, "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := DefragConfig{Enabled: true, MinFreeRatio: 0.5, MinFreeBytes: 64 << 20, CheckInterval: 10 * time.Minute}
	if cfg.MetricsAddress != "" || cfg.Defrag != want {
		t.Errorf("metrics-address %q, defrag %+v; want off and %+v", cfg.MetricsAddress, cfg.Defrag, want)
	}
}

func TestOpsFromFileAndEnv(t *testing.T) {
	file := `
metrics-address = "127.0.0.1:9101"
defrag = false
defrag-min-free-ratio = 0.25
defrag-min-free-bytes = 1048576
defrag-check-interval = "1h"
`
	cfg, err := load(t, file, "ETCD_REJOIN_DEFRAG_MIN_FREE_BYTES=100 MB", "ETCD_REJOIN_METRICS_ADDRESS=:9102")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := DefragConfig{Enabled: false, MinFreeRatio: 0.25, MinFreeBytes: 100e6, CheckInterval: time.Hour}
	if cfg.MetricsAddress != ":9102" || cfg.Defrag != want {
		t.Errorf("metrics-address %q, defrag %+v; want :9102 (env) and %+v", cfg.MetricsAddress, cfg.Defrag, want)
	}
	if src := cfg.Sources["defrag-min-free-ratio"]; !strings.HasSuffix(src, "etcd-rejoin.toml") {
		t.Errorf("source of defrag-min-free-ratio = %q, want the file", src)
	}
}

func TestOpsInvalid(t *testing.T) {
	file := `
metrics-address = "127.0.0.1"
defrag = "sometimes"
defrag-min-free-ratio = 1.5
defrag-min-free-bytes = "lots"
defrag-check-interval = "0s"
`
	_, err := load(t, file, "ETCD_REJOIN_METRICS_ADDRESS=127.0.0.1:99999")
	var cerr *Error
	if !errors.As(err, &cerr) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load = %v, want a configuration error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`metrics-address (env ETCD_REJOIN_METRICS_ADDRESS): port "99999" is not a number from 1 to 65535`,
		`defrag (`, `"sometimes" is not true or false`,
		`defrag-min-free-ratio (`, `"1.5" is not a fraction above 0 and below 1`,
		`defrag-min-free-bytes (`, `"lots" is not a size`,
		`defrag-check-interval (`, "must be longer than zero",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	_, err = load(t, `metrics-address = "127.0.0.1"`)
	if err == nil || !strings.Contains(err.Error(), `"127.0.0.1" is not host:port`) {
		t.Errorf("metrics-address without a port: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "67108864": 64 << 20, "64MiB": 64 << 20, "64 MiB": 64 << 20, "100MB": 100e6,
		"1GiB": 1 << 30, "2 GB": 2e9, "10KiB": 10 << 10, "5KB": 5000, "7B": 7,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "10 TB", "9999999999GiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}
