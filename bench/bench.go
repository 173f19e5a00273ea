// Package bench holds Weir's benchmark jobs and, beside each, a hand-written
// ceiling: the same generator and functions in one goroutine with no
// framework, which says how close the engine comes to what the machine can
// do. Benchmarks report records per CPU second of the whole process
// (getrusage), not per wall second.
package bench

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/weirstream/weir"
)

// Event is the benchmark record.
type Event struct {
	Key   int64
	Value int64
}

// Keys is the number of distinct keys the generator produces.
const Keys = 10_000

// Gen returns the event with sequence number seq.
func Gen(seq int64) Event { return Event{Key: seq % Keys, Value: seq} }

// The passthrough's functions: map, filter, map.
func double(e Event) Event { e.Value *= 2; return e }
func keep(e Event) bool    { return e.Value%3 != 0 }
func shift(e Event) Event  { e.Key++; return e }
func keyOf(e Event) int64  { return e.Key }

// Result is one measured run.
type Result struct {
	Records int64
	Wall    time.Duration
	CPU     time.Duration // user + system time of the process
}

// PerCore returns records per CPU second.
func (r Result) PerCore() float64 { return float64(r.Records) / r.CPU.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%d records in %v wall, %v CPU: %.2f M records/s/core",
		r.Records, r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), r.PerCore()/1e6)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err) // getrusage(RUSAGE_SELF) does not fail on Linux
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs f and reports its records, wall time and process CPU time.
func measure(records int64, f func() error) (Result, error) {
	c0, w0 := cpuTime(), time.Now()
	err := f()
	return Result{Records: records, Wall: time.Since(w0), CPU: cpuTime() - c0}, err
}

// Totals summarizes a benchmark's output so runs can be checked against
// each other.
type Totals struct {
	Count  int64 // records
	KeySum int64 // sum of their keys
	ValSum int64 // sum of their values
}

func (t *Totals) add(e Event) {
	t.Count++
	t.KeySum += e.Key
	t.ValSum += e.Value
}

// totalSink adds up what its subtasks receive.
type totalSink struct {
	mu    *sync.Mutex
	total *Totals
}

func newTotalSink() totalSink { return totalSink{mu: &sync.Mutex{}, total: &Totals{}} }

func (s totalSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[Event], error) {
	return &totalWriter{s: s}, nil
}

type totalWriter struct {
	s totalSink
	t Totals
}

func (w *totalWriter) Write(e Event) error { w.t.add(e); return nil }

func (w *totalWriter) Close() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.total.Count += w.t.Count
	w.s.total.KeySum += w.t.KeySum
	w.s.total.ValSum += w.t.ValSum
	w.t = Totals{}
	return nil
}

// Passthrough runs generator → map → filter → map → counting sink, all
// chained in one task, over n records.
func Passthrough(n int64) (Result, Totals, error) {
	env := weir.New()
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n}, Gen))
	out := weir.Map(weir.Map(src, double).Filter(keep), shift)
	sink := newTotalSink()
	weir.To(out, weir.Sink[Event](sink))
	r, err := measure(n, func() error { return env.Run(context.Background()) })
	return r, *sink.total, err
}

// PassthroughCeiling is Passthrough by hand.
func PassthroughCeiling(n int64) (Result, Totals) {
	var t Totals
	r, _ := measure(n, func() error {
		for seq := range n {
			e := double(Gen(seq))
			if !keep(e) {
				continue
			}
			t.add(shift(e))
		}
		return nil
	})
	return r, t
}

// counter counts records per key in keyed state and emits each key's count
// when the input ends, from an event-time timer registered when the key is
// first seen.
type counter struct {
	count weir.ValueState[int64, int64]
}

func (c *counter) Open(oc weir.KeyedOpenContext[int64]) error {
	c.count = weir.Value[int64](oc, "count")
	return nil
}

func (c *counter) Process(ctx weir.KeyedContext[int64], _ Event, _ weir.Out[Event]) error {
	n, ok, err := c.count.Get(ctx)
	if err != nil {
		return err
	}
	if !ok {
		if err := ctx.Timers().RegisterEventTime(weir.EndOfTime); err != nil {
			return err
		}
	}
	return c.count.Set(ctx, n+1)
}

func (c *counter) OnTimer(ctx weir.TimerContext[int64], out weir.Out[Event]) error {
	n, _, err := c.count.Get(ctx)
	out.Emit(Event{Key: ctx.Key(), Value: n})
	return err
}

// KeyedCount runs a generator with parallelism p, keys its events across an
// exchange and counts them per key in keyed state, over n records. opts
// are added to the job's.
func KeyedCount(n int64, p int, opts ...weir.Option) (Result, Totals, error) {
	env := weir.New(append([]weir.Option{weir.Parallelism(p)}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Splits: p}, Gen))
	counts := weir.Process(weir.KeyBy(src, keyOf), &counter{})
	sink := newTotalSink()
	weir.To(counts, weir.Sink[Event](sink))
	r, err := measure(n, func() error { return env.Run(context.Background()) })
	return r, *sink.total, err
}

// KeyedCountCeiling is KeyedCount by hand: one goroutine, a Go map.
func KeyedCountCeiling(n int64) (Result, Totals) {
	counts := make(map[int64]int64)
	var t Totals
	r, _ := measure(n, func() error {
		for seq := range n {
			counts[keyOf(Gen(seq))]++
		}
		for k, c := range counts {
			t.add(Event{Key: k, Value: c})
		}
		return nil
	})
	return r, t
}
