package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// pipelineRunOptions are the flags of `weir run`.
type pipelineRunOptions struct {
	runFlags
	parallelism int
	onError     string
	deadLetters string
	duration    time.Duration
	progress    time.Duration
	// controlSocket is where the run answers its supervisor (control.go).
	controlSocket string
	// output, for a pipeline whose route isolates its outputs, runs the
	// job of that output alone (pipeline.Pipeline.Split).
	output string
	// retain keeps every checkpoint completed within it (--retain).
	retain retention
	logger *slog.Logger // the job's, for the steps that log
}

func newRunCommand() *cobra.Command {
	o := pipelineRunOptions{parallelism: 1, progress: time.Second,
		runFlags: runFlags{dirFlag: "checkpoint-dir", checkpointInterval: 10 * time.Second}}
	var jf *jobFlags
	cmd := &cobra.Command{
		Use:   "run pipeline.yaml",
		Short: "Run a pipeline file",
		Long: `Run a declarative pipeline: the inputs, steps and outputs of a YAML file
(docs/pipelines.md), on the same runtime as the Go jobs, with the same
checkpoints, savepoints, restarts and exactly-once outputs.

The file is checked first, as 'weir validate' does, and every mistake in it
is reported at once. A progress line goes to standard error every
--progress: the records the inputs read and the outputs wrote. At the end, the
records per operator balance what came in against what went out, was
filtered, dead-lettered or skipped.

With --checkpoint-dir the job takes a checkpoint every --checkpoint-interval;
Ctrl-C (or --duration) then stops it with a savepoint, and --restore latest
carries on from the newest one, at any --parallelism. Operator IDs come from
the names of the inputs, steps and outputs, so a savepoint restores into a
pipeline whose steps were added or reordered; an input or output whose
state the savepoint holds and the file no longer has fails the restore
naming it, unless --allow-non-restored-state drops its state.

--on-error overrides the file's on_error for every input and step that does
not set its own: fail the job, dead-letter the record (to the file's dead_letter,
or --dead-letters DIR), or skip it. With --checkpoint-dir a job that fails
restarts from its newest checkpoint, up to --restarts times in a row.

A pipeline whose route step has isolate: true runs as one job per output,
side by side: each reads its inputs at its own position and has its own
checkpoints (in --checkpoint-dir/OUTPUT), restarts and dead letters
(in DIR/OUTPUT), so that a slow or failing output holds back no other.
--restore PATH then names a directory holding one per output, as
--checkpoint-dir does; progress and the final balance are per job.
--output NAME runs the job of output NAME alone, as a pipeline without
isolate runs (its checkpoints in --checkpoint-dir itself): what 'weir serve'
does, one supervised process per output.`,
		Example: `  # Check a pipeline, then run it.
  weir validate router.yaml
  weir run router.yaml

  # Run with a checkpoint every 5 seconds; stop with Ctrl-C, then resume.
  weir run router.yaml --checkpoint-dir /tmp/router --checkpoint-interval 5s
  weir run router.yaml --checkpoint-dir /tmp/router --restore latest --parallelism 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if err := o.validate(changed); err != nil {
				return err
			}
			p, err := pipeline.ParseFile(args[0], pipeline.Options{})
			if err != nil {
				return err
			}
			stderr := &lockedWriter{w: cmd.ErrOrStderr()}
			envOpts, err := jf.options(stderr, o.checkpointDir, "--checkpoint-dir", changed)
			if err != nil {
				return err
			}
			o.logger = jf.logger
			if o.output != "" {
				if p, err = isolatedPart(p, o.output); err != nil {
					return err
				}
				return runPipeline(cmd.Context(), cmd.OutOrStdout(), stderr, p, o, envOpts)
			}
			if p.Isolated() {
				return runIsolated(cmd.Context(), cmd.OutOrStdout(), stderr, p, o, envOpts, func(output string, jobs int) []weir.Option {
					return jf.isolatedBackend(output, jobs)
				})
			}
			return runPipeline(cmd.Context(), cmd.OutOrStdout(), stderr, p, o, envOpts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.parallelism, "parallelism", o.parallelism, "parallel subtasks of each operator")
	o.runFlags.register(f, "take exactly-once checkpoints into this `directory`")
	f.StringVar(&o.onError, "on-error", "", "what a record that fails does, for every step without its own on_error: fail, dead-letter or skip (default: the file's on_error, else fail)")
	f.StringVar(&o.deadLetters, "dead-letters", "", "the dead-letter `directory`, instead of the file's dead_letter")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long, as Ctrl-C does (with a savepoint under --checkpoint-dir); 0 runs until the inputs end")
	f.DurationVar(&o.progress, "progress", o.progress, "print a progress line this often; 0 never")
	f.Var(&o.retain, "retain", "with --checkpoint-dir, keep every checkpoint completed within this `duration` (such as 7d or 36h) besides the newest 3, so --restore can reach back that far")
	f.StringVar(&o.output, "output", "", "of a pipeline whose route isolates its outputs, run only the job of the output `NAME`")
	f.StringVar(&o.controlSocket, "control-socket", "", "answer metrics and savepoint requests on a Unix socket at this `path` (what 'weir serve' uses to supervise its jobs; unauthenticated, so put it in a private directory)")
	jf = addJobFlags(f)
	return cmd
}

// isolatedPart returns the job of output name of an isolated pipeline.
func isolatedPart(p *pipeline.Pipeline, name string) (*pipeline.Pipeline, error) {
	if !p.Isolated() {
		return nil, fmt.Errorf("--output %s: the pipeline runs as one job (no route step isolates its outputs); remove --output", name)
	}
	parts := p.Split()
	names := make([]string, len(parts))
	for i, part := range parts {
		if part.Output == name {
			return part, nil
		}
		names[i] = part.Output
	}
	return nil, fmt.Errorf("--output %s: the pipeline has no output %q; its outputs are %s", name, name, strings.Join(names, ", "))
}

func (o pipelineRunOptions) validate(changed func(string) bool) error {
	switch {
	case o.parallelism <= 0:
		return fmt.Errorf("invalid --parallelism %d: must be positive", o.parallelism)
	case o.duration < 0:
		return fmt.Errorf("invalid --duration %v: must not be negative", o.duration)
	case o.progress < 0:
		return fmt.Errorf("invalid --progress %v: must not be negative", o.progress)
	case changed("dead-letters") && o.deadLetters == "":
		return errors.New("invalid --dead-letters: the directory must not be empty")
	case changed("output") && o.output == "":
		return errors.New("invalid --output: the output's name must not be empty")
	case changed("control-socket") && o.controlSocket == "":
		return errors.New("invalid --control-socket: the path must not be empty")
	case changed("retain") && o.checkpointDir == "":
		return errors.New("--retain needs --checkpoint-dir DIR")
	}
	if o.onError != "" {
		if _, err := weir.ParseErrorPolicy(o.onError); err != nil {
			return fmt.Errorf("invalid --on-error %q: want fail, dead-letter or skip", o.onError)
		}
	}
	return o.runFlags.validate(changed)
}

func runPipeline(ctx context.Context, stdout, stderr io.Writer, p *pipeline.Pipeline, o pipelineRunOptions, extra []weir.Option) error {
	const prefix = "weir run: "
	opts := append(p.EnvOptions(), weir.Parallelism(o.parallelism))
	deadLetters := p.DeadLetter != nil
	if o.onError != "" {
		pol, _ := weir.ParseErrorPolicy(o.onError)
		opts = append(opts, weir.OnError(pol))
		if pol == weir.DeadLetter && !deadLetters && o.deadLetters == "" {
			return fmt.Errorf("--on-error dead-letter needs a dead-letter directory: the file's dead_letter or --dead-letters DIR")
		}
	}
	if o.deadLetters != "" {
		opts = append(opts, weir.DeadLetters(o.deadLetters))
	}
	if o.checkpointDir != "" {
		opts = append(opts, weir.Checkpoints(o.checkpointInterval, o.checkpointDir))
	}
	if o.retain > 0 {
		opts = append(opts, weir.RetainCheckpointsFor(time.Duration(o.retain)))
	}
	var before int64
	if o.restore != "" {
		from, err := resolveRestore(ctx, o.restore, o.checkpointDir, "--checkpoint-dir")
		if err != nil {
			return err
		}
		opts = append(opts, weir.Restore(o.restore))
		fmt.Fprintf(stderr, "%srestoring from %v %d at %s\n", prefix, from.Ref.Kind, from.Ref.ID, from.Location)
	}
	if o.allowNonRestoredState {
		opts = append(opts, weir.AllowNonRestoredState())
	}
	if o.checkpointDir != "" {
		before = newestCheckpointID(ctx, o.checkpointDir)
	}
	stop := stopAfter(ctx, stopOf(ctx), o.duration)
	parent := ctx
	if stop != nil && o.checkpointDir != "" {
		opts = append(opts, weir.StopOn(stop))
	} else if stop != nil {
		// Without checkpoints there is no savepoint to stop with.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	opts = append(opts, extra...)
	env := weir.New(opts...)
	buildOpts := []pipeline.BuildOption{pipeline.Stdout(&lockedWriter{w: stdout})}
	if o.logger != nil {
		// A script's console.log and its reloads go to the job's log.
		buildOpts = append(buildOpts, pipeline.Logger(o.logger))
	}
	job, err := p.Build(env, buildOpts...)
	if err != nil {
		return err
	}
	if err := env.Validate(); err != nil {
		return errors.Join(err, job.Close())
	}
	fmt.Fprintf(stderr, "%s%s\n", prefix, describePipeline(p, o))
	for _, in := range p.Inputs {
		if in.HTTP != nil {
			fmt.Fprintf(stderr, "%sinput %s takes events posted to http://%s%s\n", prefix, in.Name, job.Addr(in.Name), in.HTTP.Path)
		}
	}
	if o.controlSocket != "" {
		stopControl, err := serveControl(o.controlSocket, env)
		if err != nil {
			return errors.Join(err, job.Close())
		}
		defer stopControl()
	}

	start := time.Now()
	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if o.progress == 0 {
			return
		}
		t := time.NewTicker(o.progress)
		defer t.Stop()
		var lastIn int64
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				in, out := pipelineCounts(env.Metrics())
				fmt.Fprintf(stderr, "%s%6.1fs %12d records read %10.0f records/s %12d written\n",
					prefix, now.Sub(start).Seconds(), in, float64(in-lastIn)/now.Sub(last).Seconds(), out)
				lastIn, last = in, now
			}
		}
	}()
	cpu0 := cpuSeconds()
	err = job.Run(ctx)
	close(done)
	<-progressDone
	elapsed := time.Since(start)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Ctrl-C, a second time or without checkpoints, is a normal end.
		err = nil
	}
	if err != nil {
		return err
	}
	ms := env.Metrics()
	in, out := pipelineCounts(ms)
	cpu := cpuSeconds() - cpu0
	perCore := 0.0
	if cpu > 0 {
		perCore = float64(in) / cpu
	}
	fmt.Fprintf(stderr, "%sstopped after %.1fs: %d records read (%.0f records/s, %.0f per CPU second), %d written\n",
		prefix, elapsed.Seconds(), in, float64(in)/elapsed.Seconds(), perCore, out)
	writeRunSummary(parent, stderr, prefix, ms, o.checkpointDir, before)
	return nil
}

// pipelineCounts sums the records the inputs read and the outputs wrote.
func pipelineCounts(ms []weir.OperatorMetrics) (in, out int64) {
	for _, m := range ms {
		switch {
		case pipeline.IsSource(m.ID):
			in += m.In
		case pipeline.IsSink(m.ID):
			out += m.Out
		}
	}
	return in, out
}

// describePipeline says in one line what is about to run, naming no
// connector setting (which may hold a secret).
func describePipeline(p *pipeline.Pipeline, o pipelineRunOptions) string {
	names := func(n int, name func(int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = name(i)
		}
		return strings.Join(parts, ", ")
	}
	s := fmt.Sprintf("pipeline %s: inputs %s; steps %s; outputs %s; parallelism %d",
		p.File,
		names(len(p.Inputs), func(i int) string { return p.Inputs[i].Name + " (" + p.Inputs[i].Type + ")" }),
		names(len(p.Steps), func(i int) string { return p.Steps[i].Name + " (" + p.Steps[i].Kind + ")" }),
		names(len(p.Outputs), func(i int) string { return p.Outputs[i].Name + " (" + p.Outputs[i].Type + ")" }),
		o.parallelism)
	if len(p.Steps) == 0 {
		s = strings.Replace(s, "steps ;", "no steps;", 1)
	}
	if o.checkpointDir != "" {
		s += fmt.Sprintf(", checkpoints every %v into %s", o.checkpointInterval, o.checkpointDir)
	}
	if o.duration > 0 {
		s += fmt.Sprintf(", for at most %v", o.duration)
	}
	return s
}

func newValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate pipeline.yaml",
		Short: "Check a pipeline file without running it",
		Long: `Check a pipeline file without running it: its YAML, every field, the names
its steps and outputs refer to, and the type of every expression against
the declared schemas of the inputs. Every mistake is reported at once, each
with its file, line and column, the line and a caret. The exit status is 0
for a valid file, 1 otherwise. ${env:NAME} and ${file:PATH} are resolved, so a
variable that is not set is reported too; their values are never printed.`,
		Example: `  weir validate examples/pipelines/router.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pipeline.ParseFile(args[0], pipeline.Options{})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %s, %s, %s, %s\n", p.File,
				plural(len(p.Inputs), "input"), plural(len(p.Steps), "step"), plural(len(p.Outputs), "output"), plural(len(p.Tests), "test"))
			return nil
		},
	}
}

func newSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of pipeline files",
		Long: `Print the JSON Schema (draft 2020-12) of the pipeline file format, for
editors that check YAML against a schema as you type. 'weir validate' checks
more than the schema can: the names steps refer to and the types of
expressions.`,
		Example: `  weir schema > weir-pipeline.schema.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(pipeline.JSONSchema())
			return err
		},
	}
}

func newTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test pipeline.yaml",
		Short: "Run the test cases of a pipeline file",
		Long: `Run the test cases a pipeline file carries under tests: each case's records
replace the inputs, the pipeline runs in-process, and what reaches each output
the case names is compared with what it expects (as JSON, in any order).
Prints PASS or FAIL per case, with what was missing and what was not
expected; the exit status is 1 when a case fails. The ${env:NAME} and
${file:PATH} references of the inputs and outputs need not resolve: the
cases replace them.`,
		Example: `  weir test examples/pipelines/router.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The cases replace the inputs and outputs, so the variables
			// and files that configure them need not exist: an unset one
			// stands for itself.
			p, err := pipeline.ParseFile(args[0], pipeline.Options{
				LookupEnv: func(name string) (string, bool) {
					if v, ok := os.LookupEnv(name); ok {
						return v, true
					}
					return "${env:" + name + "}", true
				},
				ReadFile: func(path string) ([]byte, error) {
					if b, err := os.ReadFile(path); err == nil {
						return b, nil
					}
					return []byte("${file:" + path + "}"), nil
				},
			})
			if err != nil {
				return err
			}
			if len(p.Tests) == 0 {
				return fmt.Errorf("%s has no test cases (tests:)", p.File)
			}
			w := cmd.OutOrStdout()
			failed := 0
			for _, r := range p.Test(cmd.Context()) {
				if r.Err == nil {
					fmt.Fprintf(w, "PASS %s\n", r.Name)
					continue
				}
				failed++
				fmt.Fprintf(w, "FAIL %s (%s:%d)\n    %s\n", r.Name, p.File, r.Pos.Line, strings.ReplaceAll(r.Err.Error(), "\n", "\n    "))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %s failed", failed, plural(len(p.Tests), "test"))
			}
			fmt.Fprintf(w, "ok: %s passed\n", plural(len(p.Tests), "test"))
			return nil
		},
	}
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
