package weir_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// chanSink hands every record written to a Go channel, so that a test can
// wait for output while the job runs. The channel must have room for all
// of it: Write does not wait for the job's cancellation.
type chanSink[T any] struct{ ch chan T }

func (s chanSink[T]) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[T], error) {
	return chanWriter[T](s), nil
}

type chanWriter[T any] struct{ ch chan T }

func (w chanWriter[T]) Write(v T) error { w.ch <- v; return nil }
func (w chanWriter[T]) Close() error    { return nil }

// expect waits for the next n records of ch and compares them, in any
// order, with want.
func expect(t *testing.T, ch <-chan string, want ...string) {
	t.Helper()
	got := make([]string, 0, len(want))
	for range want {
		select {
		case v := <-ch:
			got = append(got, v)
		case <-time.After(time.Minute): // bounds a failure only
			t.Fatalf("got %v, then nothing; want %v", got, want)
		}
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// runAsync runs env on a goroutine of its own; the channel returns Run's
// result.
func runAsync(ctx context.Context, env *weir.Env) <-chan error {
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	return done
}

type sensorReading struct {
	Sensor string
	Value  int
}

// scaleByRule multiplies each sensorReading by the factor the latest rule set;
// a rule is acknowledged by every subtask that takes it.
type scaleByRule struct{}

func (scaleByRule) ProcessElement(c weir.KeyedContext[string], r sensorReading, bs *weir.BroadcastState[int], out weir.Out[string]) error {
	f, ok := bs.Get("factor")
	if !ok {
		f = 1
	}
	out.Emit(fmt.Sprintf("%s=%d", c.Key(), r.Value*f))
	return nil
}

func (scaleByRule) ProcessBroadcast(_ weir.Context, factor int, bs *weir.BroadcastState[int], out weir.Out[string]) error {
	bs.Put("factor", factor)
	out.Emit(fmt.Sprintf("rule %d", factor))
	return nil
}

// Rules pushed on a channel while the job runs change what it emits from
// then on, on every subtask; the job ends when both channels are closed.
func TestFromChannelBroadcastRules(t *testing.T) {
	readings, rules := make(chan sensorReading), make(chan int)
	out := make(chan string, 100)
	env := weir.New(weir.Parallelism(2))
	byID := weir.KeyBy(weir.FromChannel(env, readings), func(r sensorReading) string { return r.Sensor })
	scaled := weir.ProcessBroadcast(byID, weir.Broadcast(weir.FromChannel(env, rules)),
		weir.KeyedBroadcastProcessFunction[string, sensorReading, int, int, string](scaleByRule{}))
	weir.To(scaled, weir.Sink[string](chanSink[string]{out}))
	done := runAsync(context.Background(), env)

	readings <- sensorReading{"a", 1}
	expect(t, out, "a=1")
	rules <- 10
	expect(t, out, "rule 10", "rule 10")
	readings <- sensorReading{"a", 2}
	readings <- sensorReading{"b", 3}
	expect(t, out, "a=20", "b=30")
	rules <- 3
	expect(t, out, "rule 3", "rule 3")
	readings <- sensorReading{"b", 5}
	expect(t, out, "b=15")
	close(readings)
	close(rules)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// Canceling the job stops a channel source whose channel stays open (and
// its goroutine: goleak checks); a closed channel ends the job.
func TestFromChannelEndsAndCancels(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		ch := make(chan int, 3)
		ch <- 1
		ch <- 2
		ch <- 3
		close(ch)
		env := weir.New()
		got := weir.Collect(weir.FromChannel(env, ch))
		run(t, env)
		if !slices.Equal(got.Values(), []int{1, 2, 3}) {
			t.Fatalf("got %v", got.Values())
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ch := make(chan string)
		out := make(chan string, 10)
		env := weir.New()
		weir.To(weir.FromChannel(env, ch), weir.Sink[string](chanSink[string]{out}))
		ctx, cancel := context.WithCancel(context.Background())
		done := runAsync(ctx, env)
		ch <- "x"
		expect(t, out, "x")
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want it canceled", err)
		}
	})
}

// The channel source is at most once: a record read after the last
// checkpoint is not read again after a failure — the job that failed on it
// does not fail again after its restart, and goes on with what the
// channel sends next.
func TestFromChannelIsAtMostOnce(t *testing.T) {
	ch := make(chan string)
	out := make(chan string, 10)
	restarted := make(chan struct{})
	env := weir.New(weir.Checkpoints(time.Hour, t.TempDir()), weir.Restarts(quick),
		weir.OnRestart(func(weir.Restart) { close(restarted) }))
	checked := weir.TryMap(weir.FromChannel(env, ch), func(v string) (string, error) {
		if v == "boom" {
			return "", errInjected
		}
		return v, nil
	})
	weir.To(checked, weir.Sink[string](chanSink[string]{out}))
	done := runAsync(context.Background(), env)
	ch <- "a"
	expect(t, out, "a")
	ch <- "boom"
	<-restarted
	ch <- "b"
	expect(t, out, "b")
	close(ch)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A restore goes on with the channel the restoring program passes,
// numbering its records after those the checkpoint counted.
func TestFromChannelRestoreCountsOn(t *testing.T) {
	dir := t.TempDir()
	build := func(ch chan string, out chan string, stop chan struct{}, opts ...weir.Option) *weir.Env {
		env := weir.New(append([]weir.Option{weir.Checkpoints(time.Hour, dir), weir.StopOn(stop)}, opts...)...)
		checked := weir.TryMap(weir.FromChannel(env, ch).ID("events"), func(v string) (string, error) {
			if v == "boom" {
				return "", errInjected
			}
			return v, nil
		}).Name("check").ID("check")
		weir.To(checked, weir.Sink[string](chanSink[string]{out}))
		return env
	}
	ch, out, stop := make(chan string), make(chan string, 10), make(chan struct{})
	done := runAsync(context.Background(), build(ch, out, stop))
	for _, v := range []string{"a", "b", "c"} {
		ch <- v
	}
	expect(t, out, "a", "b", "c")
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("first run: %v", err)
	}

	ch = make(chan string, 2)
	ch <- "d"
	ch <- "boom"
	err := build(ch, out, make(chan struct{}), weir.Restore("latest")).Run(context.Background())
	var oe *weir.OperatorError
	if !errors.As(err, &oe) || oe.Origin == nil || oe.Origin.Offset != 4 || oe.Origin.Source != "channel" {
		t.Fatalf("Run = %v (%+v), want the failure of the channel's record at offset 4", err, oe)
	}
	expect(t, out, "d")
}
