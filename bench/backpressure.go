package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
)

// BackpressureRun is what CheckpointsUnderBackpressure measured.
type BackpressureRun struct {
	// Took is each completed checkpoint's duration, trigger to completion,
	// in the order they completed.
	Took []time.Duration
	// Written is how many records the slow sink wrote.
	Written int64
	// Elapsed is how long the job ran.
	Elapsed time.Duration
}

// SlowSinkDelay is how long the backpressure job's sink takes per record.
const SlowSinkDelay = time.Millisecond

// CheckpointsUnderBackpressure runs, for d, a job whose sink is far slower
// than its source: a generator limited to rate records per second → keyBy →
// a keyed count → keyBy another key → a pass-through chained to a sink that
// takes SlowSinkDelay per record, every operator at parallelism p, so two
// exchanges stay full. It takes a checkpoint every interval into dir and
// returns how long each took. opts are added to the job's (queue sizes, for
// instance).
func CheckpointsUnderBackpressure(d time.Duration, p int, rate float64, interval time.Duration, dir string, opts ...weir.Option) (BackpressureRun, error) {
	var (
		mu   sync.Mutex
		took []time.Duration
	)
	opts = append([]weir.Option{
		weir.Parallelism(p),
		weir.Checkpoints(interval, dir),
		weir.OnCheckpoint(func(c weir.CheckpointMetrics) {
			t := c.Duration
			mu.Lock()
			took = append(took, t)
			mu.Unlock()
		}),
	}, opts...)
	env := weir.New(opts...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: p, Rate: rate}, Gen)).ID("gen")
	counted := weir.Process(weir.KeyBy(src, keyOf), &runningCount{}).ID("count")
	// Keyed by the sequence number, so every upstream subtask feeds every
	// downstream one and both channels of each sink subtask are full.
	passed := weir.Process(weir.KeyBy(counted, func(e Event) int64 { return e.Value }), passThrough{}).ID("pass")
	var written atomic.Int64
	weir.To(passed, weir.Sink[Event](slowSink{written: &written})).ID("slow-sink")

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := env.Run(ctx)
	run := BackpressureRun{Written: written.Load(), Elapsed: time.Since(start)}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	mu.Lock()
	run.Took = took
	mu.Unlock()
	return run, err
}

// runningCount emits each event with its key's running count as Value.
type runningCount struct {
	count weir.ValueState[int64, int64]
}

func (c *runningCount) Open(oc weir.KeyedOpenContext[int64]) error {
	c.count = weir.Value[int64](oc, "count")
	return nil
}

func (c *runningCount) Process(ctx weir.KeyedContext[int64], e Event, out weir.Out[Event]) error {
	n, _, err := c.count.Get(ctx)
	if err != nil {
		return err
	}
	if err := c.count.Set(ctx, n+1); err != nil {
		return err
	}
	out.Emit(e)
	return nil
}

type passThrough struct{}

func (passThrough) Process(_ weir.KeyedContext[int64], e Event, out weir.Out[Event]) error {
	out.Emit(e)
	return nil
}

// slowSink stands for an external system that accepts SlowSinkDelay's
// worth of records per second per subtask.
type slowSink struct{ written *atomic.Int64 }

func (s slowSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[Event], error) {
	return slowWriter(s), nil
}

type slowWriter struct{ written *atomic.Int64 }

func (w slowWriter) Write(Event) error {
	time.Sleep(SlowSinkDelay)
	w.written.Add(1)
	return nil
}

func (slowWriter) Close() error { return nil }
