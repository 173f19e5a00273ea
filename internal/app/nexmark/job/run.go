package job

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
)

// Options say how to run a query.
type Options struct {
	// Generator configures the in-process generator, used when Input is
	// empty. Generator.Events = 0 generates until the job is stopped.
	Generator nexmark.Config
	// Rate limits the generator to this many events per wall-clock second;
	// 0 generates as fast as the job goes.
	Rate float64
	// Splits is the number of generator splits (default 4, or Parallelism
	// if larger). A restore must use the split count it was taken with.
	Splits int
	// Input, when set, is a glob of JSON-lines events files to read
	// instead of generating events.
	Input string
	// Kafka, when set, is a topic of events to read (one JSON event per
	// record, as Input's lines) instead of generating them.
	Kafka *KafkaInput
	// Parallelism of every operator (default 1).
	Parallelism int

	// CheckpointDir turns exactly-once checkpoints on, every
	// CheckpointInterval.
	CheckpointDir      string
	CheckpointInterval time.Duration
	// Restore is "latest" or a checkpoint's path.
	Restore string
	// AllowNonRestoredState lets Restore drop the state of operators the
	// query does not have (a checkpoint of another query) instead of
	// failing.
	AllowNonRestoredState bool
	// Stop, when closed, stops the job with a savepoint (with checkpoints)
	// or cancels it.
	Stop <-chan struct{}

	// Out, when set, is the directory the result rows are written to, as
	// JSON lines through the exactly-once file sink. Otherwise rows are
	// counted and dropped. A directory that holds an earlier run's rows is
	// refused unless the run restores (and so goes on from that run) or
	// Append is set.
	Out string
	// Append lets the run add to the rows and dead letters of earlier runs
	// in Out and DeadLetters.
	Append bool
	// SideInput is q13's side input file ("" for the generated default).
	SideInput string

	// OnError is the job's error policy; DeadLetters the dead-letter
	// directory it needs for weir.DeadLetter (see weir.DeadLetters).
	OnError     weir.ErrorPolicy
	DeadLetters string

	// Progress, when set, is called about every ProgressEvery with the
	// events read so far.
	Progress      func(Progress)
	ProgressEvery time.Duration

	// EnvOptions are further options of the job (restarts, logging).
	EnvOptions []weir.Option

	// collect keeps the rows in memory (tests).
	collect bool
	// extra are options for the Env beyond the ones above (tests).
	extra []weir.Option
}

// Progress is where a running query is.
type Progress struct {
	Events      int64         // read by the sources, counted as they emit them
	Rows        int64         // result rows written (counted), read before Events
	Checkpoints int64         // checkpoints completed
	Elapsed     time.Duration // since the job started
}

// Result is what a finished run measured.
type Result struct {
	Events      int64
	Rows        int64
	Elapsed     time.Duration
	CPU         time.Duration // user + system time of the whole process
	Metrics     []weir.OperatorMetrics
	lines       []string
	Checkpoints int64 // checkpoints completed
}

// EventsPerSecond is events per wall-clock second.
func (r Result) EventsPerSecond() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// EventsPerCoreSecond is events per CPU second of the process.
func (r Result) EventsPerCoreSecond() float64 { return float64(r.Events) / r.CPU.Seconds() }

// Run runs q with o until its input ends, o.Stop is closed or ctx is done.
// Closing o.Stop is a normal end (nil) at any moment; ctx's end gives
// ctx.Err() with the Result of what ran.
func Run(ctx context.Context, q Query, o Options) (Result, error) {
	if o.Parallelism == 0 {
		o.Parallelism = 1
	}
	if o.Splits == 0 {
		o.Splits = max(4, o.Parallelism)
	}
	opts := []weir.Option{weir.Parallelism(o.Parallelism)}
	if o.CheckpointDir != "" {
		opts = append(opts, weir.Checkpoints(o.CheckpointInterval, o.CheckpointDir))
	}
	if o.Restore != "" {
		opts = append(opts, weir.Restore(o.Restore))
	}
	if o.Input == "" && o.Kafka == nil {
		// What decides the generated events; the rate and the split count
		// do not (a changed split count fails by itself, naming a split).
		g := o.Generator
		opts = append(opts, weir.InputParameters(map[string]string{
			"seed": strconv.FormatInt(g.Seed, 10), "events": strconv.FormatInt(g.Events, 10),
			"tps": strconv.FormatInt(g.TPS, 10), "base-time": strconv.FormatInt(g.BaseTime, 10),
		}))
	}
	if o.AllowNonRestoredState {
		opts = append(opts, weir.AllowNonRestoredState())
	}
	parent := ctx
	if o.Stop != nil && o.CheckpointDir != "" {
		opts = append(opts, weir.StopOn(o.Stop))
	} else if o.Stop != nil {
		// Without checkpoints there is nothing to stop with: stop at once.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-o.Stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if o.OnError != weir.FailJob {
		opts = append(opts, weir.OnError(o.OnError))
	}
	if o.DeadLetters != "" {
		opts = append(opts, weir.DeadLetters(o.DeadLetters))
		if o.Append {
			opts = append(opts, weir.AppendDeadLetters())
		}
	}
	if o.Out != "" && o.Restore == "" && !o.Append {
		if err := checkEmptyOut(o.Out); err != nil {
			return Result{}, err
		}
	}
	var completed atomic.Int64
	opts = append(opts, weir.OnCheckpoint(func(weir.CheckpointMetrics) { completed.Add(1) }))
	opts = append(opts, o.EnvOptions...)
	opts = append(opts, o.extra...)
	env := weir.New(opts...)

	c := &Context{Env: env, SideInput: o.SideInput, out: &output{dir: o.Out, collect: o.collect}}
	// read counts the events the sources emit as they emit them, for the
	// progress line; the operators' metrics are published only every
	// quarter second, so rows counted at once would run ahead of them.
	var read atomic.Int64
	switch {
	case o.Input != "":
		c.events = fromFiles(env, &read, o.Input)
	case o.Kafka != nil:
		var err error
		if c.events, err = fromKafka(env, &read, *o.Kafka); err != nil {
			return Result{}, err
		}
	default:
		var err error
		if c.events, err = fromGenerator(env, o.Generator, o.Splits, o.Rate, &read); err != nil {
			return Result{}, err
		}
	}
	if err := q.Build(c); err != nil {
		return Result{}, fmt.Errorf("%s: %w", q.Name, err)
	}
	switch {
	case c.err != nil:
		return Result{}, fmt.Errorf("%s: %w", q.Name, c.err)
	case c.out.err != nil:
		return Result{}, fmt.Errorf("%s: output: %w", q.Name, c.out.err)
	case !c.emitted:
		return Result{}, fmt.Errorf("%s: the query emits no result", q.Name)
	}

	cpu0 := cpuTime()
	start := time.Now()
	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if o.Progress == nil {
			return
		}
		every := o.ProgressEvery
		if every <= 0 {
			every = time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				// Rows first: every row counted then comes from an event
				// counted before it was emitted, so Events ≥ what made Rows.
				rows := c.out.rows.Load()
				o.Progress(Progress{Events: read.Load(), Rows: rows,
					Checkpoints: completed.Load(), Elapsed: time.Since(start)})
			}
		}
	}()
	err := env.Run(ctx)
	close(done)
	<-progressDone
	r := Result{Elapsed: time.Since(start), CPU: cpuTime() - cpu0, Metrics: env.Metrics(), Rows: c.out.rows.Load(),
		Checkpoints: completed.Load()}
	r.Events = sourceEvents(r.Metrics)
	if c.out.lines != nil {
		r.lines = c.out.lines()
	}
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		if parent.Err() == nil {
			// Canceled by Stop, not by the caller: the end asked for.
			return r, nil
		}
		return r, parent.Err()
	}
	return r, err
}

// checkEmptyOut refuses an output directory that holds committed output
// (a name not starting with a dot): a second run's files would land beside
// the first's, and every row would be there twice. Hidden files are the file
// sink's uncommitted ones, which it cleans up itself.
func checkEmptyOut(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			return fmt.Errorf("output directory %s already holds %s, the output of an earlier run; give an empty directory, restore that run's checkpoint, or append", dir, e.Name())
		}
	}
	return nil
}

// sourceEvents sums what the job's source subtasks read.
func sourceEvents(ms []weir.OperatorMetrics) int64 {
	var n int64
	for _, m := range ms {
		if m.ID == "nexmark-generator" || m.ID == "nexmark-file" || m.ID == "nexmark-kafka" {
			n += m.In
		}
	}
	return n
}

// cpuTime returns the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0 // getrusage(RUSAGE_SELF) does not fail on Linux
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RunCollect runs q as Run does, keeping the result rows in memory, and
// returns them as JSON objects in arrival order. Tests use it; Out is
// ignored.
func RunCollect(ctx context.Context, q Query, o Options) ([]string, Result, error) {
	o.collect, o.Out = true, ""
	r, err := Run(ctx, q, o)
	return r.lines, r, err
}
