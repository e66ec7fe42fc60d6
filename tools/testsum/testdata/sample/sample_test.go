// Package sample is what testsum's tests run `go test -json` on: its tests
// pass unless the environment asks one to fail in a given way.
package sample

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestPass(t *testing.T) { t.Log("a log line") }

func TestSkip(t *testing.T) { t.Skip("skipped on purpose") }

func TestParent(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "b" && os.Getenv("SAMPLE_FAIL_SUBTEST") != "" {
				t.Fatal("subtest b failed on purpose")
			}
		})
	}
}

func TestParentFailsItself(t *testing.T) {
	t.Run("ok", func(t *testing.T) {})
	if os.Getenv("SAMPLE_FAIL_PARENT") != "" {
		t.Fatal("the parent failed on purpose after its subtest passed")
	}
}

func TestAllSkipped(t *testing.T) {
	t.Run("x", func(t *testing.T) { t.Skip("x skipped on purpose") })
}

func TestHang(t *testing.T) {
	t.Run("inner", func(t *testing.T) {
		if os.Getenv("SAMPLE_HANG") != "" {
			time.Sleep(time.Hour)
		}
	})
}

func FuzzSample(f *testing.F) {
	f.Add("seed")
	f.Fuzz(func(t *testing.T, s string) {
		if os.Getenv("SAMPLE_PANIC") != "" {
			panic("panic on purpose: " + s)
		}
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("SAMPLE_MAIN_FAIL") != "" {
		fmt.Println("TestMain fails on purpose")
		code = 3
	}
	fmt.Println("timings from TestMain")
	os.Exit(code)
}
