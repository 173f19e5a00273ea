package weir_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// stepper keeps one timer of its key due: each firing sets the next one a
// millisecond later, so the final watermark of a bounded input fires it
// about 2^63 times. It closes started when it first fires.
type stepper struct {
	started chan struct{}
	once    sync.Once
}

func (s *stepper) Process(ctx weir.KeyedContext[string], _ int64, _ weir.Out[string]) error {
	return ctx.Timers().RegisterEventTime(time.UnixMilli(0))
}

func (s *stepper) OnTimer(ctx weir.TimerContext[string], _ weir.Out[string]) error {
	s.once.Do(func() { close(s.started) })
	return ctx.Timers().RegisterEventTime(ctx.Time().Add(time.Millisecond))
}

// A job stops on cancel even while one watermark fires timers without end:
// the firing loop checks the job's context.
func TestCancelStopsTimerFiring(t *testing.T) {
	env := weir.New()
	src := weir.From(env, weir.Slice[int64](0), weir.EventTime(func(v int64) time.Time { return time.UnixMilli(v) }, 0))
	fn := &stepper{started: make(chan struct{})}
	weir.Collect(weir.Process(weir.KeyBy(src, func(int64) string { return "k" }), weir.KeyedProcessFunction[string, int64, string](fn)))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	select {
	case <-fn.started:
	case err := <-done:
		t.Fatalf("the job ended before its timer fired: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

// stamped is a record with its event time in Unix milliseconds.
type stamped struct {
	Key string
	Ts  int64
}

// windowCounts counts records per key in 10 s tumbling windows of the
// event times of in, with the job's error policy p, and returns the
// "key window count" results, the records skipped and the job's error.
func windowCounts(t *testing.T, p weir.ErrorPolicy, in ...stamped) ([]string, int64, error) {
	t.Helper()
	env := weir.New(weir.OnError(p))
	src := weir.From(env, weir.Slice(in...), weir.EventTime(func(s stamped) time.Time { return time.UnixMilli(s.Ts) }, 0)).Name("stamps")
	counts := weir.Aggregate(weir.Windowed(weir.KeyBy(src, func(s stamped) string { return s.Key }),
		weir.TumblingEventTime(10*time.Second)), countOf[stamped]{})
	got := weir.Collect(weir.Map(counts, func(r weir.WindowResult[string, int64]) string {
		return fmt.Sprintf("%s %v %d", r.Key, r.Window, r.Value)
	}))
	err := env.Run(t.Context())
	var skipped int64
	for _, m := range env.Metrics() {
		skipped += m.Skipped
	}
	lines := got.Values()
	slices.Sort(lines)
	return lines, skipped, err
}

// countOf counts records.
type countOf[T any] struct{}

func (countOf[T]) CreateAccumulator() int64 { return 0 }
func (countOf[T]) Add(_ T, n int64) int64   { return n + 1 }
func (countOf[T]) Result(n int64) int64     { return n }
func (countOf[T]) Merge(a, b int64) int64   { return a + b }

// An event time a window bound would overflow at (near the int64 limits)
// or that is the int64 minimum (which the runtime uses for "no event
// time") is the record's fault: it meets the source's error policy, named
// by its origin and its time, and moves no watermark.
func TestEventTimeOutOfRange(t *testing.T) {
	in := []stamped{
		{"a", 1_000},
		{"a", math.MinInt64},     // offset 1
		{"a", math.MaxInt64 - 1}, // offset 2
		{"b", 12_000},
		{"a", weir.MaxEventTime.UnixMilli()}, // the latest time accepted
		{"c", weir.MinEventTime.UnixMilli()}, // the earliest
	}
	// One poll reads them all, so no watermark comes between them and
	// none is late.
	window := func(ts int64) string {
		start := ts - ((ts%10_000)+10_000)%10_000
		return fmt.Sprintf("[%d,%d)", start, start+10_000)
	}
	want := []string{
		"a [0,10000) 1",
		"a " + window(weir.MaxEventTime.UnixMilli()) + " 1",
		"b [10000,20000) 1",
		"c " + window(weir.MinEventTime.UnixMilli()) + " 1",
	}
	t.Run("fail", func(t *testing.T) {
		_, _, err := windowCounts(t, weir.FailJob, in...)
		if err == nil {
			t.Fatal("the job succeeded")
		}
		for _, s := range []string{`"stamps"`, "offset 1", "event time -9223372036854775808", "outside"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
	})
	t.Run("skip", func(t *testing.T) {
		got, skipped, err := windowCounts(t, weir.Skip, in...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if skipped != 2 {
			t.Errorf("%d records skipped, want 2", skipped)
		}
	})
}

// A record without an event time reaching an event-time window says so
// and says why, apart from a record whose event time is out of range.
func TestNoEventTimeMessage(t *testing.T) {
	env := weir.New()
	src := weir.From(env, weir.Slice("x")).Name("words")
	weir.Collect(weir.Aggregate(weir.Windowed(weir.KeyBy(src, func(s string) string { return s }),
		weir.TumblingEventTime(time.Second)), countOf[string]{}))
	err := env.Run(t.Context())
	if err == nil {
		t.Fatal("the job succeeded")
	}
	for _, s := range []string{`"words"`, "no event time", "EventTime"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// atEndOfTime emits each key once, from an event-time timer at EndOfTime:
// its output carries the int64 maximum as event time.
type atEndOfTime struct{}

func (atEndOfTime) Process(ctx weir.KeyedContext[string], _ string, _ weir.Out[string]) error {
	return ctx.Timers().RegisterEventTime(weir.EndOfTime)
}

func (atEndOfTime) OnTimer(ctx weir.TimerContext[string], out weir.Out[string]) error {
	out.Emit(ctx.Key())
	return nil
}

// A window after an operator that emits records out of the event-time
// range (here from a timer at EndOfTime) fails on them by name instead of
// computing a window whose end has overflowed.
func TestWindowRejectsTimesOutOfRange(t *testing.T) {
	env := weir.New()
	src := weir.From(env, weir.Slice("x"), weir.EventTime(func(string) time.Time { return time.UnixMilli(5) }, 0))
	late := weir.Process(weir.KeyBy(src, func(s string) string { return s }), weir.KeyedProcessFunction[string, string, string](atEndOfTime{}))
	got := weir.Collect(weir.Aggregate(weir.Windowed(weir.KeyBy(late, func(s string) string { return s }),
		weir.TumblingEventTime(time.Second)), countOf[string]{}))
	err := env.Run(t.Context())
	if err == nil {
		t.Fatalf("the job succeeded with %v", got.Values())
	}
	if s := "event time 9223372036854775807 ms is outside"; !strings.Contains(err.Error(), s) {
		t.Errorf("error %q does not say %q", err, s)
	}
}
