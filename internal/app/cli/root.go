// Package cli implements the weir command line: one cobra command per file,
// each built by a function so that tests can run a fresh command tree
// in-process.
package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// Execute runs the weir command line with the process's arguments. A
// running job stops gracefully when the context's stop channel (WithStop)
// is closed — with a savepoint when it takes checkpoints — and at once when
// ctx is canceled; commands treat both as a normal end.
func Execute(ctx context.Context) error {
	return NewRootCommand().ExecuteContext(ctx)
}

type stopKey struct{}

// WithStop returns a context carrying stop: closing stop asks a running
// command to stop gracefully (the first Ctrl-C), while canceling the
// context stops it at once (the second).
func WithStop(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopKey{}, stop)
}

// stopOf returns the stop channel of ctx, or nil.
func stopOf(ctx context.Context) <-chan struct{} {
	stop, _ := ctx.Value(stopKey{}).(<-chan struct{})
	return stop
}

// NewRootCommand returns the weir command and its verbs. Errors are returned,
// not printed: the caller prints them once.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "weir",
		Short: "Weir is a stateful stream processor",
		Long: `Weir is a stateful stream processing engine written in Go: typed streams,
keyed state, event time and watermarks, and timers, run as parallel tasks
connected by bounded queues.

Today the command line runs declarative pipelines written in YAML (and
checks and tests them), runs the built-in demo job, with or without
checkpoints, lists the checkpoints a job left, generates the Nexmark
benchmark's event stream and runs its queries, starts a development Kafka
broker, and reports its version. 'weir serve' runs many pipelines as a job
server with a REST API, and 'weir jobs' controls them.`,
		Example: `  # Check a pipeline file, run its test cases, then run it.
  weir validate examples/pipelines/router.yaml
  weir test examples/pipelines/router.yaml
  weir run examples/pipelines/router.yaml --checkpoint-dir /tmp/router

  # Run the video-quality demo job for 10 seconds.
  weir demo

  # Run it with checkpoints, then list them.
  weir demo --checkpoints /tmp/weir-demo
  weir checkpoints list /tmp/weir-demo

  # Run Nexmark q5 on 10 million generated events.
  weir nexmark run --query q5

  # Start a Kafka-protocol broker for trying jobs locally.
  weir dev kafka

  # Print the version.
  weir --version`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// A command with no Run prints its help.
	}
	root.SetVersionTemplate("{{.Version}}\n")
	// Shell completion is left out until there is more to complete than two
	// verbs.
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddCommand(newVersionCommand(), newDemoCommand(), newCheckpointsCommand(), newNexmarkCommand(), newDevCommand(), newNormalCommand())
	root.AddCommand(newRunCommand(), newValidateCommand(), newSchemaCommand(), newTestCommand())
	return root
}
