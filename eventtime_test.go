package weir_test

import (
	"context"
	"errors"
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
