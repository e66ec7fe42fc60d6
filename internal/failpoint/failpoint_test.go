package failpoint_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-rejoin/etcd-rejoin/internal/failpoint"
)

const gofailModule = "go.etcd.io/gofail"

// build compiles pkg (relative to this directory) into dir with the given
// build tags and returns the binary's path.
func build(t *testing.T, pkg, tags string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, b)
	}
	return out
}

// hit runs the hitter with terms in GOFAIL_FAILPOINTS and passes the
// failpoints names in order. It returns stdout, stderr and how it ended.
func hit(t *testing.T, bin, terms string, names ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(bin, names...)
	cmd.Env = append(os.Environ(), "GOFAIL_FAILPOINTS="+terms)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// killedBy reports the signal that ended the process, if one did.
func killedBy(err error) syscall.Signal {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return 0
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0
	}
	return ws.Signal()
}

func TestHitWithFailpoints(t *testing.T) {
	bin := build(t, "./testdata/hitter", "failpoints")
	rejoin := []string{failpoint.AfterMoveAside, failpoint.AfterRemove, failpoint.AfterAdd, failpoint.AfterStart, failpoint.BeforePromote}

	t.Run("no terms: every failpoint passes", func(t *testing.T) {
		out, _, err := hit(t, bin, "", rejoin...)
		if err != nil {
			t.Fatalf("hitter failed: %v\n%s", err, out)
		}
		for _, name := range rejoin {
			if !strings.Contains(out, "passed "+name+"\n") {
				t.Errorf("%s not passed; output:\n%s", name, out)
			}
		}
	})

	for i, name := range rejoin {
		t.Run("kill at "+name, func(t *testing.T) {
			out, errOut, err := hit(t, bin, name+`=return("kill")`, rejoin...)
			if sig := killedBy(err); sig != syscall.SIGKILL {
				t.Fatalf("want the process killed by SIGKILL, got %v (signal %v)\nstdout:\n%s", err, sig, out)
			}
			for _, before := range rejoin[:i] {
				if !strings.Contains(out, "passed "+before+"\n") {
					t.Errorf("%s, before the kill, not passed; stdout:\n%s", before, out)
				}
			}
			for _, after := range rejoin[i:] {
				if strings.Contains(out, "passed "+after+"\n") {
					t.Errorf("%s passed although the process was killed at %s", after, name)
				}
			}
			if want := "failpoint " + name + ": SIGKILL"; !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		})
	}

	t.Run("sleep pauses, then passes", func(t *testing.T) {
		start := time.Now()
		out, _, err := hit(t, bin, failpoint.AfterAdd+`=sleep("400ms")`, failpoint.AfterAdd)
		took := time.Since(start)
		if err != nil || !strings.Contains(out, "passed "+failpoint.AfterAdd) {
			t.Fatalf("hitter: %v\n%s", err, out)
		}
		if took < 400*time.Millisecond { // a lower bound only: the pause happened
			t.Errorf("sleep(400ms) returned after %s", took)
		}
	})

	t.Run("only the first of a counted term kills", func(t *testing.T) {
		out, _, err := hit(t, bin, failpoint.AfterAdd+`=1*sleep(1)->return("kill")`, failpoint.AfterAdd, failpoint.AfterAdd)
		if sig := killedBy(err); sig != syscall.SIGKILL {
			t.Fatalf("want SIGKILL at the second hit, got %v\n%s", err, out)
		}
		if strings.Count(out, "passed "+failpoint.AfterAdd) != 1 {
			t.Errorf("want exactly one pass before the kill:\n%s", out)
		}
	})

	t.Run("an unsupported value panics with the name", func(t *testing.T) {
		_, errOut, err := hit(t, bin, failpoint.AfterAdd+`=return("boom")`, failpoint.AfterAdd)
		if err == nil || !strings.Contains(errOut, "failpoint "+failpoint.AfterAdd+": unsupported value boom") {
			t.Fatalf("want a panic naming the failpoint, got %v\n%s", err, errOut)
		}
	})

	t.Run("an unknown name panics", func(t *testing.T) {
		_, errOut, err := hit(t, bin, "", "no-such-point")
		if err == nil || !strings.Contains(errOut, "unknown failpoint no-such-point") {
			t.Fatalf("want a panic naming the unknown failpoint, got %v\n%s", err, errOut)
		}
	})
}

func TestHitWithoutFailpointsIgnoresTerms(t *testing.T) {
	bin := build(t, "./testdata/hitter", "")
	out, _, err := hit(t, bin, failpoint.AfterAdd+`=return("kill")`, failpoint.AfterAdd)
	if err != nil {
		t.Fatalf("hitter without the tag failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "enabled false") || !strings.Contains(out, "passed "+failpoint.AfterAdd) {
		t.Errorf("want the failpoint passed in a build without the tag:\n%s", out)
	}
}

// TestShippedBinaryLinksNoGofail builds the product the way it ships (no
// build tag) and checks that neither its module list nor its symbol table
// holds the failpoint runtime; a build of the same package with the tag
// must, or the check proves nothing.
func TestShippedBinaryLinksNoGofail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the product twice")
	}
	shipped := build(t, "../../cmd/etcd-rejoin", "")
	if deps := goVersionM(t, shipped); strings.Contains(deps, gofailModule) {
		t.Errorf("the shipped binary lists %s:\n%s", gofailModule, deps)
	}
	if syms := gofailSymbols(t, shipped); len(syms) > 0 {
		t.Errorf("the shipped binary holds gofail symbols: %v", syms[:min(5, len(syms))])
	}

	tagged := build(t, "./testdata/hitter", "failpoints")
	if deps := goVersionM(t, tagged); !strings.Contains(deps, gofailModule) {
		t.Errorf("control: a failpoints build does not list %s:\n%s", gofailModule, deps)
	}
	if len(gofailSymbols(t, tagged)) == 0 {
		t.Errorf("control: a failpoints build holds no gofail symbols")
	}
}

func goVersionM(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m %s: %v\n%s", bin, err, out)
	}
	return string(out)
}

func gofailSymbols(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool nm %s: %v\n%s", bin, err, out)
	}
	var syms []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, gofailModule) {
			syms = append(syms, strings.TrimSpace(line))
		}
	}
	return syms
}
