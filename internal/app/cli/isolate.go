package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// isolatedJob is one output's job of a pipeline whose route isolates its
// outputs (pipeline.Pipeline.Split).
type isolatedJob struct {
	part   *pipeline.Pipeline
	env    *weir.Env
	job    *pipeline.Job
	dir    string // its checkpoint directory, DIR/OUTPUT; empty without checkpoints
	before int64
	err    error
}

// runIsolated runs the jobs of an isolated pipeline side by side, each
// with its own checkpoints (in --checkpoint-dir/OUTPUT), restore
// (--restore latest from there, or --restore PATH/OUTPUT), dead letters
// (in DIR/OUTPUT) and restarts, so that one that stalls or fails holds
// back none of the others. Ctrl-C or --duration stops all of them, each
// with a savepoint of its own. The run fails, naming the outputs, when one
// of the jobs fails; the others run to their end first. perJob gives each
// job's options beyond the flags' (its state backend).
func runIsolated(ctx context.Context, stdout, stderr io.Writer, p *pipeline.Pipeline, o pipelineRunOptions, extra []weir.Option, perJob func(output string, jobs int) []weir.Option) error {
	const prefix = "weir run: "
	if o.controlSocket != "" {
		return errors.New("--control-socket: a pipeline whose route isolates its outputs runs as several jobs, which the control socket does not answer for; remove isolate to run it under a supervisor")
	}
	var pol weir.ErrorPolicy
	if o.onError != "" {
		pol, _ = weir.ParseErrorPolicy(o.onError)
		if pol == weir.DeadLetter && p.DeadLetter == nil && o.deadLetters == "" {
			return fmt.Errorf("--on-error dead-letter needs a dead-letter directory: the file's dead_letter or --dead-letters DIR")
		}
	}
	stop := stopAfter(ctx, stopOf(ctx), o.duration)
	parent := ctx
	if stop != nil && o.checkpointDir == "" {
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
	parts := p.Split()
	jobs := make([]*isolatedJob, len(parts))
	closeAll := func() error {
		var errs []error
		for _, j := range jobs {
			if j != nil && j.job != nil {
				errs = append(errs, j.job.Close())
			}
		}
		return errors.Join(errs...)
	}
	for i, part := range parts {
		j := &isolatedJob{part: part}
		jobs[i] = j
		opts := append(part.EnvOptions(), weir.Parallelism(o.parallelism))
		if o.onError != "" {
			opts = append(opts, weir.OnError(pol))
		}
		if o.deadLetters != "" {
			opts = append(opts, weir.DeadLetters(filepath.Join(o.deadLetters, part.Output)))
		}
		if o.checkpointDir != "" {
			j.dir = filepath.Join(o.checkpointDir, part.Output)
			opts = append(opts, weir.Checkpoints(o.checkpointInterval, j.dir))
			if stop != nil {
				opts = append(opts, weir.StopOn(stop))
			}
		}
		if o.restore != "" {
			restore := o.restore
			if restore != "latest" {
				restore = filepath.Join(restore, part.Output)
			}
			from, err := resolveRestore(ctx, restore, j.dir, "--checkpoint-dir")
			if err != nil {
				return errors.Join(fmt.Errorf("output %s's job: %w", part.Output, err), closeAll())
			}
			opts = append(opts, weir.Restore(restore))
			fmt.Fprintf(stderr, "%soutput %s's job: restoring from %v %d at %s\n", prefix, part.Output, from.Ref.Kind, from.Ref.ID, from.Location)
		}
		if o.allowNonRestoredState {
			opts = append(opts, weir.AllowNonRestoredState())
		}
		if j.dir != "" {
			j.before = newestCheckpointID(ctx, j.dir)
		}
		opts = append(append(opts, extra...), perJob(part.Output, len(parts))...)
		j.env = weir.New(opts...)
		buildOpts := []pipeline.BuildOption{pipeline.Stdout(&lockedWriter{w: stdout})}
		if o.logger != nil {
			buildOpts = append(buildOpts, pipeline.Logger(o.logger.With("output", part.Output)))
		}
		job, err := part.Build(j.env, buildOpts...)
		if err != nil {
			return errors.Join(fmt.Errorf("output %s's job: %w", part.Output, err), closeAll())
		}
		j.job = job
		if err := j.env.Validate(); err != nil {
			return errors.Join(fmt.Errorf("output %s's job: %w", part.Output, err), closeAll())
		}
	}
	fmt.Fprintf(stderr, "%s%s\n", prefix, describePipeline(p, o))
	for _, j := range jobs {
		where := ""
		if j.dir != "" {
			where = ", checkpoints in " + j.dir
		}
		fmt.Fprintf(stderr, "%soutput %s runs as a job of its own: inputs %s; steps %s%s\n", prefix, j.part.Output,
			joinNames(len(j.part.Inputs), func(i int) string { return j.part.Inputs[i].Name }),
			joinNames(len(j.part.Steps), func(i int) string { return j.part.Steps[i].Name }), where)
	}

	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	if o.progress > 0 {
		wg.Go(func() {
			t := time.NewTicker(o.progress)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case now := <-t.C:
					var line strings.Builder
					fmt.Fprintf(&line, "%s%6.1fs", prefix, now.Sub(start).Seconds())
					for _, j := range jobs {
						in, out := pipelineCounts(j.env.Metrics())
						fmt.Fprintf(&line, "  %s: %d read, %d written", j.part.Output, in, out)
					}
					fmt.Fprintln(stderr, line.String())
				}
			}
		})
	}
	var runs sync.WaitGroup
	for _, j := range jobs {
		runs.Go(func() {
			err := j.job.Run(ctx)
			if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
				err = nil // Ctrl-C without checkpoints is a normal end
			}
			j.err = err
		})
	}
	runs.Wait()
	close(done)
	wg.Wait()
	elapsed := time.Since(start)

	var failed []error
	for _, j := range jobs {
		if j.err != nil {
			failed = append(failed, fmt.Errorf("output %s's job: %w", j.part.Output, j.err))
			fmt.Fprintf(stderr, "%soutput %s's job failed after %.1fs: %v\n", prefix, j.part.Output, elapsed.Seconds(), j.err)
			continue
		}
		ms := j.env.Metrics()
		in, out := pipelineCounts(ms)
		fmt.Fprintf(stderr, "%soutput %s's job stopped after %.1fs: %d records read, %d written\n", prefix, j.part.Output, elapsed.Seconds(), in, out)
		writeRunSummary(parent, stderr, prefix+"output "+j.part.Output+": ", ms, j.dir, j.before)
	}
	return errors.Join(failed...)
}

// joinNames joins n names, or says "none".
func joinNames(n int, name func(int) string) string {
	if n == 0 {
		return "none"
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = name(i)
	}
	return strings.Join(parts, ", ")
}
