package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// execute runs a fresh weir command tree in-process with args and returns
// what it wrote to standard output and standard error.
func execute(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestEveryVerbIsDocumented(t *testing.T) {
	var cmds []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		cmds = append(cmds, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand())
	for _, c := range cmds {
		if c.Name() == "help" {
			continue // cobra's own
		}
		t.Run(c.CommandPath(), func(t *testing.T) {
			if c.Short == "" || c.Long == "" || c.Example == "" {
				t.Errorf("%q lacks Short, Long or Example text", c.CommandPath())
			}
			args := append(strings.Fields(c.CommandPath())[1:], "--help")
			stdout, _, err := execute(t, args...)
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			for _, want := range []string{c.Long, "Usage:", "Examples:", c.Example} {
				if !strings.Contains(stdout, want) {
					t.Errorf("%v printed\n%s\nwhich lacks %q", args, stdout, want)
				}
			}
		})
	}
}

func TestUnknownVerbFails(t *testing.T) {
	_, _, err := execute(t, "frobnicate")
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("weir frobnicate: err = %v, want an unknown command error", err)
	}
}
