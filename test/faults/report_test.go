package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func sampleReport() *Report {
	return &Report{
		Config: Config{Seed: 7, Steps: 3, Members: 5, EtcdVersion: "3.5", WalDirMembers: 1, Skip: []string{"bitflip-db"}},
		Results: []StepResult{
			{Step: Step{N: 1, Kind: "kill-etcd", Peer: -1}, Heal: 2 * time.Second},
			{Step: Step{N: 2, Kind: "kill-etcd", Peer: -1}, Heal: 4 * time.Second},
			{Step: Step{N: 3, Kind: "rejoin-crash", Variant: "after-add", Peer: -1}, Heal: 9 * time.Second, Note: "wiped; crashed after after-add"},
		},
		Verdict: Verdict{Ops: 100, Acked: 90, Failed: 4, Unknown: 6, Linearizable: porcupine.Ok},
	}
}

func TestReportTable(t *testing.T) {
	table := sampleReport().Table()
	for _, want := range []string{
		"kill-etcd      2         4.0s        4.0s",
		"rejoin-crash:after-add      1         9.0s        9.0s",
		"all      3         4.0s        9.0s",
		"operations: 100 (acknowledged 90, failed 4, unknown 6)",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if !strings.HasSuffix(table, "acknowledged: 90 lost: 0 linearizable: yes\n") {
		t.Errorf("the last line is not the final line:\n%s", table)
	}
}

func TestReportFailure(t *testing.T) {
	r := sampleReport()
	r.Failure, r.FailStep, r.OutDir = "invariant violated: x", 2, "/tmp/logs"
	r.Verdict.Lost = []Op{{Kind: Put, Key: "k/01", Value: "c1-9", Outcome: OK}}
	r.Verdict.Linearizable = porcupine.Illegal
	table := r.Table()
	for _, want := range []string{
		"FAILED at step 2: invariant violated: x",
		"replay: make faults SEED=7 STEPS=2 MEMBERS=5 ETCD=3.5 FAULTS_FLAGS='-skip bitflip-db'",
		"logs: /tmp/logs",
		"acknowledged: 90 lost: 1 linearizable: no",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if r.Passed() {
		t.Error("a failed report passed")
	}
}

func TestReportMarkdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.md")
	if err := sampleReport().WriteMarkdown(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Fault campaign: seed 7, 5 members, etcd 3.5",
		"| kill-etcd | 2 | 4.0s | 4.0s |",
		"| **all** | **3** | **4.0s** | **9.0s** |",
		"- kinds left out: bitflip-db",
		"acknowledged: 90 lost: 0 linearizable: yes",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b)
		}
	}
}
