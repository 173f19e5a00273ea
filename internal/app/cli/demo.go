package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/demo"
	"github.com/weirstream/weir/internal/checkpoint"
)

func newDemoCommand() *cobra.Command {
	o := demo.DefaultOptions()
	rf := runFlags{dirFlag: "checkpoints", checkpointInterval: o.CheckpointInterval}
	var jf *jobFlags
	var noServer bool
	var data string
	var port int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the job server with the video-quality monitoring demo job",
		Long: `Run the demo: Weir's job server (weir serve) with the video-quality
monitoring job, on generated video views.

By default the demo starts the server on a free port of 127.0.0.1, with its
data in a temporary directory (removed at the end) or in --data DIR, and
prints its address, where the dashboard is, and its API token. It submits
the job as a pipeline (video views posted to an HTTP ingest input, a count
window of --block-size views per title, the per-customer model of normal as
the pipeline's normal step), posts the generated views to the job's input, and prints
the job's alert lines to standard output. Without --duration it runs until
Ctrl-C, so the dashboard and 'weir jobs' can be tried on it; at the end it
stops the job with a savepoint once it has read every view posted, prints
the last alerts and stops the server. --no-server runs the job in this
process instead, as below, with every flag.

A generator produces views of a dozen video titles of four customers, 1% to
4% of them failing with an error type (network, decode, drm, timeout) — each
customer has its own normal rate — and injects an incident: from view 60 000
to 120 000 (3 s to 6 s into a default run) one customer's views fail 30% of
the time. The job keys the views by title and closes a block every
--block-size views of a title (a count window kept in keyed state); then,
per customer, it learns the normal error rate of its blocks and prints an
alert to standard output when it opens (the rate is far above normal for two
blocks in a row) and when it closes (normal again for three) — not one line
per block. --blocks also prints every block: the title, the number of views
and the error rate per error type.

What runs is printed to standard error first, and how long it ran at the end.
The run ends when --duration is over, when --views views have been processed,
or on Ctrl-C, whichever comes first: with --checkpoints, --duration and the
first Ctrl-C stop it with a savepoint; a second Ctrl-C stops it at once.

With --checkpoints DIR the job takes a checkpoint of its state (the open
blocks, the learned baselines, the generator's positions) every
--checkpoint-interval into DIR, and one more when --views views have been
processed (--no-server only). --restore starts from one:
"latest" for the newest in DIR, or the path of a chk-<id> or sp-<id>
directory, or of a directory holding them (meaning its newest). Whether the
run restores, and from where, is printed first; the newest checkpoint in DIR
at the end. 'weir checkpoints list DIR' shows them all.

With --checkpoints a job that fails restarts itself from its newest
checkpoint, up to --restarts times in a row (0: never), waiting
--restart-backoff before the first restart and 1.5 times longer before each
next one, up to --restart-max-backoff. The job logs to standard error at
--log-level (warn: restarts with their causes, failed checkpoints, the
failure — which text logs leave to the last line, "weir: …"; info: also
each checkpoint with its duration and bytes, and restores) as --log-format
text or json.`,
		Example: `  # The job server with the demo job, until Ctrl-C.
  weir demo

  # The same for 30 seconds, keeping the server's directory.
  weir demo --duration 30s --data /tmp/weir-demo-server

  # Run for 10 seconds at 20000 views per second, in this process.
  weir demo --no-server

  # Process exactly 100000 views as fast as possible.
  weir demo --no-server --views 100000 --rate 0 --duration 0

  # Run until Ctrl-C with larger blocks on 4 parallel subtasks.
  weir demo --no-server --duration 0 --block-size 1000 --parallelism 4

  # Take a checkpoint every 5 seconds until Ctrl-C, then carry on from the
  # newest one at another parallelism.
  weir demo --no-server --duration 0 --checkpoints /tmp/weir-demo --checkpoint-interval 5s
  weir demo --no-server --duration 0 --checkpoints /tmp/weir-demo --restore latest --parallelism 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !noServer {
				o.CheckpointInterval = rf.checkpointInterval
				return runDemoServer(cmd, o, data, port)
			}
			if cmd.Flags().Changed("data") || cmd.Flags().Changed("port") {
				return errors.New("--data and --port are the demo's server's: not with --no-server")
			}
			if err := rf.validate(cmd.Flags().Changed); err != nil {
				return err
			}
			o.CheckpointDir, o.CheckpointInterval, o.Restore = rf.checkpointDir, rf.checkpointInterval, rf.restore
			o.AllowNonRestoredState = rf.allowNonRestoredState
			if err := validateDemoFlags(o); err != nil {
				return err
			}
			stderr := &lockedWriter{w: cmd.ErrOrStderr()}
			var err error
			if o.EnvOptions, err = jf.options(stderr, o.CheckpointDir, "--checkpoints", cmd.Flags().Changed); err != nil {
				return err
			}
			o.Stop = stopOf(cmd.Context())
			defer jf.limitMemory(cmd.Flags().Changed)()
			return runDemo(cmd.Context(), cmd.OutOrStdout(), stderr, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "duration", o.Duration, "how long to run; 0 runs until the views run out or Ctrl-C")
	f.Float64Var(&o.Rate, "rate", o.Rate, "views generated per second; 0 generates them as fast as possible")
	f.Int64Var(&o.Views, "views", o.Views, "total views to generate; 0 is unbounded")
	f.IntVar(&o.BlockSize, "block-size", o.BlockSize, "views per block (the count window) of each title")
	f.BoolVar(&o.Blocks, "blocks", false, "print every block too, besides the alerts")
	f.IntVar(&o.Parallelism, "parallelism", o.Parallelism, "parallel subtasks of each operator")
	rf.register(f, "take checkpoints into this `directory` (created if missing) or s3://bucket/prefix")
	jf = addJobFlags(f)
	f.BoolVar(&noServer, "no-server", false, "run the job in this process, without the job server (every other flag works then)")
	f.StringVar(&data, "data", "", "the server's data `directory` (default: a temporary one, removed at the end)")
	f.IntVar(&port, "port", 0, "the server's port on 127.0.0.1 (0: a free one)")
	return cmd
}

// serverDemoFlags are the flags that apply to the demo under the server;
// the others are the in-process job's.
var serverDemoFlags = map[string]bool{"duration": true, "rate": true, "views": true, "block-size": true,
	"parallelism": true, "checkpoint-interval": true, "data": true, "port": true, "no-server": true}

// runDemoServer runs the demo under the job server.
func runDemoServer(cmd *cobra.Command, o demo.Options, data string, port int) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err == nil && !serverDemoFlags[f.Name] {
			err = fmt.Errorf("--%s is a flag of the job run in this process: give --no-server too (under the server, the job's checkpoints are in its directory, and weir jobs controls it)", f.Name)
		}
	})
	if err != nil {
		return err
	}
	if !cmd.Flags().Changed("duration") {
		o.Duration = 0
	}
	if err := validateDemoFlags(o); err != nil {
		return err
	}
	if o.CheckpointInterval < 100*time.Millisecond {
		return fmt.Errorf("invalid --checkpoint-interval %v: the server wants at least 100ms", o.CheckpointInterval)
	}
	if port < 0 || port > 65535 {
		return fmt.Errorf("invalid --port %d: want 0 (a free port) to 65535", port)
	}
	o.Stop = stopOf(cmd.Context())
	d := &demoServer{data: data, port: port, stdout: &lineCounter{w: cmd.OutOrStdout()},
		stderr: &lockedWriter{w: cmd.ErrOrStderr()}, o: o, started: time.Now()}
	return d.run(cmd.Context())
}

// validateDemoFlags names the flag at fault; demo.Options.Validate checks the
// same rules in the options' own terms. The checkpoint flags are checked by
// runFlags.validate.
func validateDemoFlags(o demo.Options) error {
	switch {
	case o.Duration < 0:
		return fmt.Errorf("invalid --duration %v: must not be negative", o.Duration)
	case !validRate(o.Rate):
		return fmt.Errorf("invalid --rate %v: want a finite number of views per second, not negative (0 generates them as fast as possible)", o.Rate)
	case o.Views < 0:
		return fmt.Errorf("invalid --views %d: must not be negative", o.Views)
	case o.BlockSize <= 0:
		return fmt.Errorf("invalid --block-size %d: must be positive", o.BlockSize)
	case o.Parallelism <= 0:
		return fmt.Errorf("invalid --parallelism %d: must be positive", o.Parallelism)
	}
	return nil
}

func runDemo(ctx context.Context, stdout, stderr io.Writer, o demo.Options) error {
	// Resolve the restore before saying anything, so a wrong --restore
	// fails naming the flag rather than deep inside the job.
	var from checkpoint.Info
	if o.Restore != "" {
		var err error
		if from, err = resolveRestore(ctx, o.Restore, o.CheckpointDir, "--checkpoints"); err != nil {
			return err
		}
	}
	var before int64
	if o.CheckpointDir != "" {
		before = newestCheckpointID(ctx, o.CheckpointDir)
	}
	fmt.Fprintf(stderr, "weir demo: %s\n", describeDemo(o))
	if o.CheckpointDir != "" || o.Restore != "" {
		fmt.Fprintf(stderr, "weir demo: %s\n", describeCheckpoints(o, from))
	}
	out := &lineCounter{w: stdout}
	var metrics []weir.OperatorMetrics
	o.Metrics = func(ms []weir.OperatorMetrics) { metrics = ms }
	start := time.Now()
	err := demo.Run(ctx, out, o)
	elapsed := time.Since(start)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Ctrl-C is how a demo without a bound is meant to end.
		err = nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "weir demo: stopped after %.1fs, %d lines printed\n", elapsed.Seconds(), out.lines.Load())
	writeRunSummary(ctx, stderr, "weir demo: ", metrics, o.CheckpointDir, before)
	return nil
}

// describeDemo says in one line what the demo is about to run.
func describeDemo(o demo.Options) string {
	rate := strconv.FormatFloat(o.Rate, 'f', -1, 64) + " views/s"
	if o.Rate == 0 {
		rate = "views as fast as possible"
	}
	var views string
	if o.Views > 0 {
		views = fmt.Sprintf(", %d views in all", o.Views)
	}
	until := "until Ctrl-C"
	switch {
	case o.Duration > 0:
		until = "for " + o.Duration.String() + " (Ctrl-C stops)"
	case o.Views > 0:
		until = "until all views are processed (Ctrl-C stops)"
	}
	return fmt.Sprintf("video-quality job, %s%s, blocks of %d views per title, parallelism %d, %s",
		rate, views, o.BlockSize, o.Parallelism, until)
}

// resolveRestore finds the checkpoint or savepoint --restore names, as the
// job will: "latest" is the newest in dir, which the flag dirFlag gave.
func resolveRestore(ctx context.Context, restore, dir, dirFlag string) (checkpoint.Info, error) {
	path := restore
	if path == "latest" {
		path = dir
	}
	d, info, err := checkpoint.OpenLocation(ctx, path)
	switch {
	case err == nil:
	case restore != "latest":
		return checkpoint.Info{}, fmt.Errorf("invalid --restore: %w", err)
	case errors.Is(err, fs.ErrNotExist):
		return checkpoint.Info{}, fmt.Errorf("--restore latest: %s %s does not exist", dirFlag, dir)
	case errors.Is(err, checkpoint.ErrNotFound):
		return checkpoint.Info{}, fmt.Errorf("--restore latest: no completed checkpoint or savepoint in %s %s", dirFlag, dir)
	case errors.Is(err, checkpoint.ErrCorrupt):
		return checkpoint.Info{}, fmt.Errorf("--restore latest: %w; weir does not fall back to an older checkpoint by itself, since the output committed after it would be written again: name one with --restore PATH (weir checkpoints list %s), or move the damaged one away", err, dir)
	default:
		return checkpoint.Info{}, fmt.Errorf("--restore latest: %w", err)
	}
	d.Close()
	return info, nil
}

// describeCheckpoints says in one line whether the run restores, from
// where, and where it takes checkpoints.
func describeCheckpoints(o demo.Options, from checkpoint.Info) string {
	var s string
	if o.Restore != "" {
		s = fmt.Sprintf("restoring from %v %d (completed %s) at %s",
			from.Ref.Kind, from.Ref.ID, from.CompletedAt.UTC().Format(time.RFC3339), from.Location)
	} else {
		s = "starting from empty state (no --restore)"
	}
	if o.CheckpointDir != "" {
		s += fmt.Sprintf("; checkpoints every %v into %s", o.CheckpointInterval, o.CheckpointDir)
	}
	return s
}

// newestCheckpointID returns the highest ID of a completed checkpoint in
// dir, or 0 when there is none or dir cannot be read (the job then reports
// why). It leaves a missing dir for the job to create.
func newestCheckpointID(ctx context.Context, dir string) int64 {
	if _, err := os.Stat(dir); err != nil && !checkpoint.IsS3URL(dir) {
		return 0
	}
	newest, _, _, err := completedCheckpoints(ctx, dir)
	if err != nil {
		return 0
	}
	return newest.Ref.ID
}

// summarizeCheckpoints says what the run left in dir. Retention deletes the
// older checkpoints as new ones complete, so the directory tells which is
// newest and how many it keeps, not how many this run took.
func summarizeCheckpoints(ctx context.Context, dir string, before int64) string {
	newest, kept, savepoints, err := completedCheckpoints(ctx, dir)
	switch {
	case err != nil:
		return fmt.Sprintf("cannot list the checkpoints: %v", err)
	case newest.Ref.ID <= before:
		return fmt.Sprintf("no checkpoint completed in this run; %s keeps %s and %s", dir,
			plural(kept, "checkpoint"), plural(savepoints, "savepoint"))
	case newest.Ref.Kind == checkpoint.KindSavepoint:
		return fmt.Sprintf("stopped with savepoint %d at %s; resume with --restore latest (weir checkpoints list %s)",
			newest.Ref.ID, newest.Location, dir)
	}
	return fmt.Sprintf("checkpoint %d completed last, at %s; %s keeps %s and %s (weir checkpoints list %s)",
		newest.Ref.ID, newest.CompletedAt.UTC().Format(time.RFC3339), dir, plural(kept, "checkpoint"), plural(savepoints, "savepoint"), dir)
}

// plural formats a count of things: "1 savepoint", "0 checkpoints".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// completedCheckpoints returns the completed checkpoint or savepoint with
// the highest ID in dir (the zero Info when there is none) and how many
// checkpoints and savepoints there are.
func completedCheckpoints(ctx context.Context, dir string) (newest checkpoint.Info, checkpoints, savepoints int, err error) {
	d, err := checkpoint.Open(dir)
	if err != nil {
		return checkpoint.Info{}, 0, 0, err
	}
	defer d.Close()
	infos, err := d.List(ctx)
	if err != nil {
		return checkpoint.Info{}, 0, 0, err
	}
	for _, in := range infos {
		if in.Ref.Kind == checkpoint.KindCheckpoint {
			checkpoints++
		} else {
			savepoints++
		}
		if in.Ref.ID > newest.Ref.ID {
			newest = in
		}
	}
	return newest, checkpoints, savepoints, nil
}

// lineCounter counts the blocks the demo prints: its sink writes each line
// with one Write call.
type lineCounter struct {
	w     io.Writer
	lines atomic.Int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines.Add(1)
	return c.w.Write(p)
}
