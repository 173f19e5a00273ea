package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// executeStopped runs a fresh weir command tree in-process, as execute does,
// on a context that has already asked the command to stop: gracefully (the
// first Ctrl-C) or, with cancel, at once as well (the second).
func executeStopped(t *testing.T, cancel bool, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, stopNow := context.WithCancel(t.Context())
	defer stopNow()
	stop := make(chan struct{})
	close(stop)
	if cancel {
		stopNow()
	}
	cmd := NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(WithStop(ctx, stop))
	return out.String(), errOut.String(), err
}

// TestStopBeforeTheFirstEventIsANormalEnd: a Ctrl-C (one or two) that
// comes before the job has read anything ends the run as any other stop
// does, with exit status 0 and the summary, not with "context canceled".
func TestStopBeforeTheFirstEventIsANormalEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
		args   []string
		want   string // in stdout or stderr
	}{
		{"nexmark", false, []string{"nexmark", "run", "--query", "q0", "--events", "0"}, " events in "},
		{"nexmark twice", true, []string{"nexmark", "run", "--query", "q0", "--events", "0"}, " events in "},
		{"nexmark checkpoints", false, []string{"nexmark", "run", "--query", "q0", "--events", "0", "--checkpoint-dir", t.TempDir()}, " events in "},
		{"nexmark checkpoints twice", true, []string{"nexmark", "run", "--query", "q0", "--events", "0", "--checkpoint-dir", t.TempDir()}, " events in "},
		{"demo", false, []string{"demo", "--no-server", "--duration", "0"}, "weir demo: stopped after "},
		{"demo twice", true, []string{"demo", "--no-server", "--duration", "0"}, "weir demo: stopped after "},
		{"demo checkpoints", false, []string{"demo", "--no-server", "--duration", "0", "--checkpoints", t.TempDir()}, "weir demo: stopped after "},
		{"demo checkpoints twice", true, []string{"demo", "--no-server", "--duration", "0", "--checkpoints", t.TempDir()}, "weir demo: stopped after "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := executeStopped(t, tc.cancel, tc.args...)
			if err != nil {
				t.Fatalf("weir %v stopped before it began: %v, want a normal end\nstderr:\n%s", tc.args, err, stderr)
			}
			if !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("weir %v printed\n%s%s\nwhich lacks the summary %q", tc.args, stdout, stderr, tc.want)
			}
		})
	}
}
