package weir

import (
	"context"
	"testing"
	"time"
)

// A channel source wakes its task when a record arrives: with a poll
// interval of an hour, records sent while the job runs still come out.
func TestChannelSourceWakesItsTask(t *testing.T) {
	env := New()
	env.cfg.pollInterval = time.Hour
	ch := make(chan int)
	got := make(chan int, 10)
	To(Map(FromChannel(env, ch), func(v int) int { return v * 2 }), Sink[int](sinkFunc[int](func(v int) { got <- v })))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounds a failure only
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	for i := 1; i <= 3; i++ {
		ch <- i
		select {
		case v := <-got:
			if v != 2*i {
				t.Fatalf("got %d, want %d", v, 2*i)
			}
		case <-ctx.Done():
			t.Fatalf("record %d was sent but never came out: the source was not woken", i)
		}
	}
	close(ch)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// sinkFunc is a sink that calls a function with every record.
type sinkFunc[T any] func(T)

func (f sinkFunc[T]) Open(context.Context, SinkInfo) (SinkWriter[T], error) { return f, nil }
func (f sinkFunc[T]) Write(v T) error                                       { f(v); return nil }
func (f sinkFunc[T]) Close() error                                          { return nil }
