package bench

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/weirstream/weir"
)

// idleSource is an unbounded source with one split that never has data,
// like a Kafka partition nobody writes to. Its reader can wake its task
// (it never needs to) unless polled is set, in which case the runtime
// polls it.
type idleSource struct {
	polled bool
	opened *sync.WaitGroup
}

func (s idleSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}}, nil
}
func (s idleSource) Bounded() bool { return false }
func (s idleSource) OpenSplit(context.Context, weir.Split, []byte) (weir.SplitReader[Event], error) {
	defer s.opened.Done()
	if s.polled {
		return idleReader{}, nil
	}
	return wakingIdleReader{}, nil
}

type idleReader struct{}

func (idleReader) Poll(weir.SourceOutput[Event], int) (weir.PollStatus, error) { return weir.Wait, nil }
func (idleReader) Position() []byte                                            { return nil }
func (idleReader) Close() error                                                { return nil }

type wakingIdleReader struct{ idleReader }

func (wakingIdleReader) SetWake(func()) {}

// IdleCPU runs a job of sources idle sources, unioned, mapped and written
// to a sink that discards, for d once every split is open, and returns the
// process CPU time spent in that span. With polled the readers cannot wake
// their tasks, so the runtime polls them every few milliseconds.
func IdleCPU(sources int, d time.Duration, polled bool) (time.Duration, error) {
	var opened sync.WaitGroup
	opened.Add(sources)
	env := weir.New()
	streams := make([]weir.Stream[Event], sources)
	for i := range streams {
		streams[i] = weir.From(env, weir.Source[Event](idleSource{polled: polled, opened: &opened})).Name("idle")
	}
	weir.To(weir.Map(weir.Union(streams[0], streams[1:]...), func(e Event) Event { return e }), weir.Sink[Event](dropSink{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	opened.Wait()
	c0 := cpuTime()
	select {
	case <-time.After(d):
	case err := <-done:
		cancel()
		return 0, err
	}
	cpu := cpuTime() - c0
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		return cpu, err
	}
	return cpu, nil
}

type dropSink struct{}

func (dropSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[Event], error) {
	return dropWriter{}, nil
}

type dropWriter struct{}

func (dropWriter) Write(Event) error { return nil }
func (dropWriter) Close() error      { return nil }
