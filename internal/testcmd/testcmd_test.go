package testcmd

import (
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	r := Run(t, 10*time.Second, "/", []string{"X=1"}, "sh", "-c", `echo "$X $(pwd)"; echo err >&2; exit 3`)
	if r.Code != 3 || r.Out != "1 /\nerr\n" {
		t.Errorf("Run = %+v", r)
	}
	if r := Run(t, 10*time.Second, "", nil, "true"); r.Code != 0 || r.Out != "" {
		t.Errorf("Run true = %+v", r)
	}
}
