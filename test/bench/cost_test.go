package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseHandled(t *testing.T) {
	text := `# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12
grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3
grpc_server_handled_total{grpc_code="OK",grpc_method="Status",grpc_service="etcdserverpb.Maintenance",grpc_type="unary"} 4
grpc_server_handled_total{grpc_code="OK",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 0
grpc_server_started_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 99
`
	got, err := parseHandled(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got["Range"] != 15 || got["Status"] != 4 || got["Watch"] != 0 || len(got) != 3 {
		t.Errorf("parseHandled = %v", got)
	}
	if _, err := parseHandled(strings.NewReader(`grpc_server_handled_total{grpc_code="OK"} x`)); err == nil {
		t.Error("no error for an unreadable sample")
	}
}

func TestRates(t *testing.T) {
	before := map[string]float64{"Range": 10, "Status": 5}
	after := map[string]float64{"Range": 70, "Status": 5, "Put": 30}
	got := rates(before, after, 10*time.Second, 3)
	if got["Range"] != 2 || got["Put"] != 1 || len(got) != 2 {
		t.Errorf("rates = %v; want Range 2, Put 1 (per second per host), Status left out", got)
	}
}

func TestParseStatTicks(t *testing.T) {
	// The command may hold spaces and parentheses.
	stat := "4689 (etcd (x) y) S 4650 4689 4650 0 -1 4194560 2410 0 0 0 123 45 0 0 20 0 12 0 5107 1179 11 18446744073709551615"
	got, err := parseStatTicks(stat)
	if err != nil || got != 168 {
		t.Errorf("parseStatTicks = %d, %v; want 168", got, err)
	}
	if _, err := parseStatTicks("4689 (etcd) S 1 2"); err == nil {
		t.Error("no error for a short stat line")
	}
}

func TestParseRSS(t *testing.T) {
	status := "Name:\tetcd-rejoin\nVmPeak:\t 1000 kB\nVmRSS:\t   19872 kB\nRssAnon:\t 9000 kB\n"
	if got, err := parseRSS(status); err != nil || got != 19872 {
		t.Errorf("parseRSS = %d, %v; want 19872", got, err)
	}
	if _, err := parseRSS("Name:\tx\n"); err == nil {
		t.Error("no error without VmRSS")
	}
	if got, err := statusKiB(status, "RssAnon"); err != nil || got != 9000 {
		t.Errorf("RssAnon = %d, %v; want 9000", got, err)
	}
}

func TestLabel(t *testing.T) {
	line := `grpc_server_handled_total{grpc_code="OK",grpc_method="Range"} 1`
	if got := label(line, "grpc_method"); got != "Range" {
		t.Errorf("label = %q", got)
	}
	if got := label(line, "grpc_service"); got != "" {
		t.Errorf("missing label = %q", got)
	}
}
