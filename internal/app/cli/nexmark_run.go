package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/queries"
)

// runOptions are the flags of `weir nexmark run`.
type runOptions struct {
	query             string
	events, seed, tps int64
	input             string
	kafkaTopic        string
	kafkaBrokers      []string
	kafkaGroup        string
	parallelism       int
	splits            int
	runFlags
	out         string
	sideInput   string
	onError     string
	deadLetters string
	appendOut   bool
	duration    time.Duration
	rate        float64
}

func newNexmarkRunCommand() *cobra.Command {
	o := runOptions{events: 10_000_000, tps: nexmark.DefaultTPS, parallelism: 1, onError: "fail",
		runFlags: runFlags{dirFlag: "checkpoint-dir", checkpointInterval: 10 * time.Second}}
	var jf *jobFlags
	cmd := &cobra.Command{
		Use:   "run --query qN",
		Short: "Run a Nexmark query on generated events or an events file",
		Long: `Run one Nexmark query through Weir's DataStream API and runtime, on the
in-process generator (--events, --tps, --seed: the same stream 'weir nexmark
generate' writes), on JSON-lines events files (--input), or on a Kafka topic of
JSON events (--kafka-topic, read to the end it has when the job starts).
Queries: ` + strings.Join(queries.Names(), " ") + `
(q6 needs an OVER window the reference suite cannot run either).

Event time is each event's dateTime, with the reference watermark dateTime −
4 s; q12 counts in processing-time windows.

A progress line goes to standard error every second; at the end, the events
read, events per second, and events per second per CPU core (the events
divided by the CPU seconds of this process, user + system, from its own
rusage).

Without --out the result rows are counted and dropped (as the reference
suite's blackhole sink). With --out DIR they are written as JSON lines through
the exactly-once file sink: one object per row, with the column names of the
reference SQL query and times in Unix milliseconds. Queries whose result is an
updating table (q4, q9, q15–q19) write a changelog: every row has "op", one
of +I, -U, +U, -D, as Flink's changelog does. Files become visible when a
checkpoint completes (or at the end of a bounded run); q10 writes into dt=…/
hm=… partition directories.

With --checkpoint-dir the job takes a checkpoint every --checkpoint-interval;
Ctrl-C then stops it with a savepoint, and --restore latest carries on from
the newest one (at any --parallelism; the generator's --splits must stay the
same). A second Ctrl-C stops at once. A checkpoint of another query holds
state this query has no operator for: --allow-non-restored-state drops it
instead of failing.

--out refuses a directory that holds the rows of an earlier run (a second
run would add its files beside them) unless the run restores from a
checkpoint of that run or --append says to add to them; --dead-letters
likewise.

Blank lines of an --input file are skipped and counted as filtered.
--on-error says what happens to an event line that does not decode (or a
row that cannot be computed): fail the job (the default), write it to the
--dead-letters directory with the error and where it came from (exactly
once, like the rows: see docs/dead-letters.md), or skip it. The summary at
the end counts, per operator, what came in and went out, and what was
filtered, dead-lettered, skipped or late.

With --checkpoint-dir a job that fails restarts itself from its newest
checkpoint, up to --restarts times in a row (0: never), waiting
--restart-backoff before the first restart and 1.5 times longer before each
next one, up to --restart-max-backoff. The job logs to standard error at
--log-level (warn: restarts with their causes, failed checkpoints, the
failure — which text logs leave to the last line, "weir: …"; info: also
each checkpoint with its duration and bytes, and restores) as --log-format
text or json.`,
		Example: `  # q5 on 10 million generated events, at parallelism 2.
  weir nexmark run --query q5 --parallelism 2

  # q0 on a file, results into a directory.
  weir nexmark generate --events 1000000 --out /tmp/events.jsonl
  weir nexmark run --query q0 --input /tmp/events.jsonl --out /tmp/q0

  # q5 for 30 seconds with a checkpoint every 2 seconds.
  weir nexmark run --query q5 --events 0 --duration 30s --checkpoint-dir /tmp/q5-chk --checkpoint-interval 2s

  # An endless q7 with checkpoints; stop it with Ctrl-C, then resume.
  weir nexmark run --query q7 --events 0 --checkpoint-dir /tmp/q7-chk --checkpoint-interval 5s
  weir nexmark run --query q7 --events 0 --checkpoint-dir /tmp/q7-chk --restore latest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jo, q, err := nexmarkRunConfig(o, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			stderr := &lockedWriter{w: cmd.ErrOrStderr()}
			if jo.EnvOptions, err = jf.options(stderr, jo.CheckpointDir, "--checkpoint-dir", cmd.Flags().Changed); err != nil {
				return err
			}
			jo.Stop = stopAfter(cmd.Context(), stopOf(cmd.Context()), o.duration)
			defer jf.limitMemory(cmd.Flags().Changed)()
			return runNexmarkQuery(cmd.Context(), cmd.OutOrStdout(), stderr, q, jo, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.query, "query", "", "the query to run: q0 … q22 (required)")
	f.Int64Var(&o.events, "events", o.events, "how many events to generate; 0 generates until Ctrl-C")
	f.Int64Var(&o.seed, "seed", 0, "which generated stream")
	f.Int64Var(&o.tps, "tps", o.tps, "events per second of event time in the generated stream")
	f.Float64Var(&o.rate, "rate", 0, "generate at most this many events per second of wall-clock time; 0 is as fast as the job goes")
	f.IntVar(&o.splits, "splits", 0, "generator splits (default 4, or --parallelism if larger); keep it across --restore")
	f.StringVar(&o.input, "input", "", "read events from these JSON-lines `files` (a glob) instead of generating them")
	f.StringVar(&o.kafkaTopic, "kafka-topic", "", "read events from this Kafka `topic` (one JSON event per record, to the end it has when the job starts) instead of generating them")
	f.StringSliceVar(&o.kafkaBrokers, "kafka-brokers", []string{"127.0.0.1:9092"}, "the Kafka brokers of --kafka-topic (host:port, comma-separated)")
	f.StringVar(&o.kafkaGroup, "kafka-group", "", "commit the offsets of --kafka-topic to this consumer group at every checkpoint (for lag tools)")
	f.IntVar(&o.parallelism, "parallelism", o.parallelism, "parallel subtasks of each operator")
	o.runFlags.register(f, "take exactly-once checkpoints into this `directory` or s3://bucket/prefix")
	f.StringVar(&o.out, "out", "", "write the result rows as JSON lines under this `directory` (exactly-once)")
	f.StringVar(&o.sideInput, "side-input", "", "q13's side input, a `file` of key,value lines (default: a generated one)")
	f.StringVar(&o.onError, "on-error", o.onError, "what a record that fails does: fail, dead-letter or skip")
	f.StringVar(&o.deadLetters, "dead-letters", "", "the dead-letter `directory` for --on-error dead-letter (part files of JSON lines)")
	f.BoolVar(&o.appendOut, "append", false, "add to the output of earlier runs in --out and --dead-letters instead of refusing a directory that holds it")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long, as Ctrl-C does (with a savepoint under --checkpoint-dir); 0 runs until the events end")
	jf = addJobFlags(f)
	return cmd
}

// nexmarkRunConfig checks the flags, naming the one at fault, and turns
// them into the query and the job's options.
func nexmarkRunConfig(o runOptions, changed func(string) bool) (job.Options, job.Query, error) {
	var jo job.Options
	if o.query == "" {
		return jo, job.Query{}, fmt.Errorf("--query is required: one of %s", strings.Join(queries.Names(), " "))
	}
	q, ok := queries.ByName(strings.ToLower(o.query))
	if !ok {
		if strings.EqualFold(o.query, "q6") {
			return jo, job.Query{}, errors.New("invalid --query q6: its reference SQL needs an OVER window that no engine of the suite runs; Weir does not implement it")
		}
		return jo, job.Query{}, fmt.Errorf("invalid --query %q: want one of %s", o.query, strings.Join(queries.Names(), " "))
	}
	policy, err := weir.ParseErrorPolicy(o.onError)
	if err != nil {
		return jo, job.Query{}, fmt.Errorf("invalid --on-error %q: want fail, dead-letter or skip", o.onError)
	}
	switch {
	case o.events < 0:
		return jo, q, fmt.Errorf("invalid --events %d: must not be negative (0 generates until Ctrl-C)", o.events)
	case o.tps <= 0:
		return jo, q, fmt.Errorf("invalid --tps %d: must be positive", o.tps)
	case o.parallelism <= 0:
		return jo, q, fmt.Errorf("invalid --parallelism %d: must be positive", o.parallelism)
	case o.duration < 0:
		return jo, q, fmt.Errorf("invalid --duration %v: must not be negative", o.duration)
	case !validRate(o.rate):
		return jo, q, fmt.Errorf("invalid --rate %v: want a finite number of events per second, not negative (0 is as fast as the job goes)", o.rate)
	case o.splits < 0:
		return jo, q, fmt.Errorf("invalid --splits %d: must be positive", o.splits)
	case o.input != "" && (changed("events") || changed("tps") || changed("seed") || changed("splits") || changed("rate")):
		return jo, q, errors.New("--input reads events from files: --events, --tps, --seed, --rate and --splits are for generated events")
	case o.kafkaTopic != "" && (changed("events") || changed("tps") || changed("seed") || changed("splits") || changed("rate")):
		return jo, q, errors.New("--kafka-topic reads events from Kafka: --events, --tps, --seed, --rate and --splits are for generated events")
	case o.kafkaTopic != "" && o.input != "":
		return jo, q, errors.New("--input and --kafka-topic both name the events to read; give one")
	case o.kafkaTopic == "" && (changed("kafka-brokers") || changed("kafka-group")):
		return jo, q, errors.New("--kafka-brokers and --kafka-group need --kafka-topic")
	case changed("kafka-topic") && o.kafkaTopic == "":
		return jo, q, errors.New("invalid --kafka-topic: the topic name is empty")
	case changed("input") && o.input == "":
		return jo, q, errors.New("invalid --input: the file name is empty")
	case changed("out") && o.out == "":
		return jo, q, errors.New("invalid --out: the directory must not be empty")
	case o.sideInput != "" && q.Name != "q13":
		return jo, q, fmt.Errorf("--side-input is q13's side input; %s has none", q.Name)
	case policy == weir.DeadLetter && o.deadLetters == "":
		return jo, q, errors.New("--on-error dead-letter needs --dead-letters DIR, where the failed records go")
	case o.deadLetters != "" && policy != weir.DeadLetter:
		return jo, q, errors.New("--dead-letters needs --on-error dead-letter")
	case o.appendOut && o.out == "" && o.deadLetters == "":
		return jo, q, errors.New("--append needs --out DIR or --dead-letters DIR, the output to add to")
	}
	if err := o.runFlags.validate(changed); err != nil {
		return jo, q, err
	}
	cfg := nexmark.DefaultConfig()
	cfg.Events, cfg.Seed, cfg.TPS = o.events, o.seed, o.tps
	if err := cfg.Validate(); err != nil {
		return jo, q, err
	}
	jo = job.Options{
		Generator: cfg, Rate: o.rate, Splits: o.splits, Input: o.input, Parallelism: o.parallelism,
		CheckpointDir: o.checkpointDir, CheckpointInterval: o.checkpointInterval, Restore: o.restore,
		AllowNonRestoredState: o.allowNonRestoredState,
		Out:                   o.out, Append: o.appendOut, SideInput: o.sideInput, OnError: policy, DeadLetters: o.deadLetters,
	}
	if o.kafkaTopic != "" {
		jo.Kafka = &job.KafkaInput{Brokers: o.kafkaBrokers, Topic: o.kafkaTopic, Group: o.kafkaGroup}
	}
	return jo, q, nil
}

func runNexmarkQuery(ctx context.Context, stdout, stderr io.Writer, q job.Query, jo job.Options, o runOptions) error {
	if jo.Restore != "" {
		from, err := resolveRestore(ctx, jo.Restore, jo.CheckpointDir, "--checkpoint-dir")
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "weir nexmark: restoring from %v %d at %s\n", from.Ref.Kind, from.Ref.ID, from.Location)
	}
	var before int64
	if jo.CheckpointDir != "" {
		before = newestCheckpointID(ctx, jo.CheckpointDir)
	}
	fmt.Fprintf(stderr, "weir nexmark: %s\n", describeRun(q, jo, o.duration))
	var lastEvents int64
	var lastAt time.Duration
	jo.Progress = func(p job.Progress) {
		rate := float64(p.Events-lastEvents) / (p.Elapsed - lastAt).Seconds()
		lastEvents, lastAt = p.Events, p.Elapsed
		fmt.Fprintf(stderr, "weir nexmark: %s %5.1fs %12d events %10.0f events/s %10d rows\n",
			q.Name, p.Elapsed.Seconds(), p.Events, rate, p.Rows)
	}
	r, err := job.Run(ctx, q, jo)
	// A second Ctrl-C cancels ctx: like the first, at any moment, it is
	// how a run is meant to end, and the summary says how far it got.
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d events in %.2fs: %.0f events/s, %.0f events/s per core (%.2f CPU s), %d rows, %d checkpoints\n",
		q.Name, r.Events, r.Elapsed.Seconds(), r.EventsPerSecond(), r.EventsPerCoreSecond(), r.CPU.Seconds(), r.Rows, r.Checkpoints)
	writeRunSummary(ctx, stderr, "weir nexmark: ", r.Metrics, jo.CheckpointDir, before)
	return nil
}

// stopAfter returns a channel closed when stop is closed or, if d > 0, d
// from now.
func stopAfter(ctx context.Context, stop <-chan struct{}, d time.Duration) <-chan struct{} {
	if d <= 0 {
		return stop
	}
	out := make(chan struct{})
	go func() {
		defer close(out)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-stop:
		case <-t.C:
		case <-ctx.Done():
		}
	}()
	return out
}

// describeRun says in one line what is about to run.
func describeRun(q job.Query, jo job.Options, d time.Duration) string {
	in := fmt.Sprintf("%d generated events (seed %d, tps %d)", jo.Generator.Events, jo.Generator.Seed, jo.Generator.TPS)
	if jo.Generator.Events == 0 {
		in = fmt.Sprintf("generated events until Ctrl-C (seed %d, tps %d)", jo.Generator.Seed, jo.Generator.TPS)
		if d > 0 {
			in = fmt.Sprintf("generated events for %v (seed %d, tps %d)", d, jo.Generator.Seed, jo.Generator.TPS)
		}
	}
	if jo.Input != "" {
		in = "events from " + jo.Input
	}
	if k := jo.Kafka; k != nil {
		in = fmt.Sprintf("events of Kafka topic %s at %s", k.Topic, strings.Join(k.Brokers, ","))
	}
	out := "rows counted, not kept"
	if jo.Out != "" {
		out = "rows into " + jo.Out + " (exactly-once)"
	}
	s := fmt.Sprintf("%s (%s) on %s, parallelism %d, %s", q.Name, q.Title, in, jo.Parallelism, out)
	if jo.CheckpointDir != "" {
		s += fmt.Sprintf(", checkpoints every %v into %s", jo.CheckpointInterval, jo.CheckpointDir)
	}
	if d > 0 && jo.Generator.Events != 0 {
		s += fmt.Sprintf(", for at most %v", d)
	}
	return s
}
