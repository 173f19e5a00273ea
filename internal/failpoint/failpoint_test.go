package failpoint

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	m, err := Parse("a=1, b=3")
	if err != nil || m["a"] != 1 || m["b"] != 3 {
		t.Fatalf("Parse = %v, %v", m, err)
	}
	for _, bad := range []string{"a", "a=0", "=1", "a=x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// The n-th hit of an armed failpoint kills the process with SIGKILL and
// logs the failpoint's name; other failpoints and earlier hits do nothing.
func TestHitKillsOnTheNthHit(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		Hit("other")
		Hit("x")
		Hit("x")
		os.Stdout.WriteString("after the second hit\n")
		Hit("x")
		os.Stdout.WriteString("after the third hit\n")
		return
	}
	logf := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHitKillsOnTheNthHit$")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", "WEIR_FAILPOINTS=x=3", "WEIR_FAILPOINTS_LOG="+logf)
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL; output %q", err, out)
	}
	if !strings.Contains(string(out), "after the second hit") || strings.Contains(string(out), "after the third hit") {
		t.Fatalf("child output %q: want it killed at the third hit", out)
	}
	if b, _ := os.ReadFile(logf); string(b) != "x\n" {
		t.Fatalf("log %q", b)
	}
}
