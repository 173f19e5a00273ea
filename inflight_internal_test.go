package weir

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// A writer sends its open batch once it holds the queue's batch limit, long
// before the batch is full: a consumer that reads 32 records a second,
// with a one-second target and a capacity of 8 messages, asks for batches
// of 4 records.
func TestExchangeWriterSendsAtBatchLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := runtime.NewQueue(8, make(chan struct{}, 1), make(chan struct{}))
		q.SetInFlightTarget(time.Second)
		// One second in which the consumer reads 32 records.
		if err := q.Put(runtime.Message{Kind: runtime.Data, Batch: &runtime.Batch[int]{Recs: make([]runtime.Rec[int], 32)}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if _, ok := q.Poll(); !ok {
			t.Fatal("poll of a non-empty queue found nothing")
		}
		if got := q.BatchLimit(); got != 4 {
			t.Fatalf("batch limit = %d, want 4", got)
		}

		w := newExchangeWriter[int](&writerBuild{
			queues: []*runtime.Queue{q}, meta: &runtime.Meta{}, batchSize: 256, pool: newBatchPool[int](256),
		}, nil)
		for v := range 3 {
			if err := w.Push(v); err != nil {
				t.Fatal(err)
			}
		}
		if n := q.Len(); n != 0 {
			t.Fatalf("%d messages sent after 3 records, want none below the limit of 4", n)
		}
		if err := w.Push(3); err != nil {
			t.Fatal(err)
		}
		m, ok := q.Poll()
		if !ok {
			t.Fatal("no batch sent once it held the batch limit of 4 records")
		}
		if b := m.Batch.(*runtime.Batch[int]); len(b.Recs) != 4 || b.Recs[3].V != 3 {
			t.Fatalf("sent batch holds %d records %v, want 0..3", len(b.Recs), b.Recs)
		}
	})
}

// A job that takes checkpoints bounds its channels by DefaultInFlightTarget
// unless it sets its own target; a job without checkpoints keeps the fixed
// bound unless it sets one.
func TestInFlightTargetDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want time.Duration
	}{
		{"checkpoints", []Option{Checkpoints(time.Hour, t.TempDir())}, DefaultInFlightTarget},
		{"checkpoints, target off", []Option{Checkpoints(time.Hour, t.TempDir()), InFlightTarget(0)}, 0},
		{"checkpoints, own target", []Option{InFlightTarget(3 * time.Second), Checkpoints(time.Hour, t.TempDir())}, 3 * time.Second},
		{"no checkpoints", nil, 0},
		{"no checkpoints, own target", []Option{InFlightTarget(2 * time.Second)}, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := New(append([]Option{Parallelism(2)}, tc.opts...)...)
			src := From(env, Generator(GeneratorSpec{Count: 10, Splits: 2}, func(seq int64) int64 { return seq }))
			Collect(Process(KeyBy(src, func(v int64) int64 { return v }), &backendSpy{got: new(string)}))
			p, err := env.validate()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			tasks, err := p.tasks(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, task := range tasks {
				for _, in := range task.Inputs {
					n++
					if got := in.Queue.InFlightTarget(); got != tc.want {
						t.Errorf("task %d: channel in-flight target %v, want %v", task.Index, got, tc.want)
					}
				}
			}
			if n != 4 {
				t.Fatalf("%d channels, want 4 (a keyed exchange from 2 subtasks to 2)", n)
			}
		})
	}
}

// A limit above the batch size leaves batches full, not larger: a
// debloating queue that has measured nothing yet still gets batches of
// BatchSize.
func TestExchangeWriterBatchSizeCapsLimit(t *testing.T) {
	q := runtime.NewQueue(8, make(chan struct{}, 1), make(chan struct{}))
	q.SetInFlightTarget(time.Second)
	w := newExchangeWriter[int](&writerBuild{
		queues: []*runtime.Queue{q}, meta: &runtime.Meta{}, batchSize: 4, pool: newBatchPool[int](4),
	}, nil)
	for v := range 9 {
		if err := w.Push(v); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.Len(); n != 2 {
		t.Fatalf("%d batches sent after 9 records with a batch size of 4, want 2", n)
	}
}
