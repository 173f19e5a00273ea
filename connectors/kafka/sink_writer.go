package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
)

// produced keeps the first failure among a producer's records, which the
// brokers acknowledge on the client's goroutines after Write returned.
type produced struct {
	mu  sync.Mutex
	err error
}

// promise is the callback of every produced record.
func (p *produced) promise(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	if r.Partition >= 0 && r.Topic != "" {
		p.err = fmt.Errorf("producing to topic %s partition %d: %w", r.Topic, r.Partition, err)
	} else {
		p.err = fmt.Errorf("producing to topic %s: %w", r.Topic, err)
	}
}

func (p *produced) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// writer is the at-least-once writer of one subtask: one idempotent
// producer, flushed at every checkpoint barrier. The runtime calls it from
// its task's goroutine only.
type writer[T any] struct {
	s    *Sink[T]
	name string // the sink and subtask, for errors
	cl   *kgo.Client
	// ctx is the job's context, kept because Write and Flush take none: a
	// Write waiting for room in a full buffer, or a Flush waiting for
	// brokers that do not answer, ends when the job is canceled.
	ctx context.Context
	out produced
	// promise is the callback of every record: it notes failures in out
	// and gives the record's memory back to mem. Made once: a closure
	// made for each record would be an allocation each.
	promise func(*kgo.Record, error)
	mem     *arena[T]
}

var (
	_ weir.SinkWriter[int]      = (*writer[int])(nil)
	_ weir.Flusher              = (*writer[int])(nil)
	_ weir.EventTimeWriter[int] = (*writer[int])(nil)
)

func (s *Sink[T]) openAtLeastOnce(ctx context.Context, info weir.SinkInfo) (*writer[T], error) {
	cl, err := s.connect(ctx, s.producerOpts()...)
	if err != nil {
		return nil, err
	}
	w := &writer[T]{s: s, name: subtaskName(s.where(), info), cl: cl, ctx: ctx, mem: s.arena(ctx)}
	w.promise = func(r *kgo.Record, err error) {
		w.out.promise(r, err)
		release[T](r)
	}
	return w, nil
}

func subtaskName(where string, info weir.SinkInfo) string {
	return fmt.Sprintf("%s (subtask %d of %d)", where, info.Subtask, info.Parallelism)
}

// Write implements weir.SinkWriter: it hands v's message to the producer,
// which sends it in the background. A message the brokers refused fails
// the next Write, Flush or Close.
func (w *writer[T]) Write(v T) error { return w.WriteEventTime(v, time.Time{}) }

// WriteEventTime implements weir.EventTimeWriter: Write, with ts, the
// record's event time, as the message's timestamp (the time of writing
// when ts is zero).
func (w *writer[T]) WriteEventTime(v T, ts time.Time) error {
	if err := w.out.failed(); err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	r, err := w.s.record(w.mem, v, ts)
	if err != nil {
		return err
	}
	w.cl.Produce(w.ctx, r, w.promise)
	return nil
}

// Flush implements weir.Flusher: it waits until the brokers have
// acknowledged every message written so far.
func (w *writer[T]) Flush() error {
	if err := w.cl.Flush(w.ctx); err != nil {
		return fmt.Errorf("%s: flush: %w", w.name, err)
	}
	if err := w.out.failed(); err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	return nil
}

// Close implements weir.SinkWriter: it flushes (unless the job was
// canceled) and closes the producer.
func (w *writer[T]) Close() error {
	if w.cl == nil {
		return nil
	}
	var err error
	if w.ctx.Err() == nil {
		err = w.Flush()
	}
	w.cl.Close()
	w.cl = nil
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
