package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an Output and an Operator that records what reaches it.
type recorder struct {
	events []string
}

func (r *recorder) Flush() error { return nil }
func (r *recorder) Broadcast(m Message) error {
	switch m.Kind {
	case Watermark, Barrier:
		r.events = append(r.events, fmt.Sprintf("out %v %d", m.Kind, m.Value))
	default:
		r.events = append(r.events, fmt.Sprintf("out %v", m.Kind))
	}
	return nil
}
func (r *recorder) Name() string               { return "recorder" }
func (r *recorder) Open(context.Context) error { return nil }
func (r *recorder) OnWatermark(wm int64) error {
	r.events = append(r.events, fmt.Sprintf("op watermark %d", wm))
	return nil
}
func (r *recorder) EndInput() error { r.events = append(r.events, "op end"); return nil }
func (r *recorder) Close() error    { return nil }

// newTestTask returns a task with n inputs whose data batches are strings
// recorded as "data <s>".
func newTestTask(n int, done <-chan struct{}) (*Task, []*Queue, *recorder) {
	rec := &recorder{}
	t := &Task{
		Name: "test", Parallelism: 1, Meta: &Meta{},
		Ops: []Operator{rec}, OpIDs: []string{"rec"}, Outputs: []Output{rec},
		Wake: make(chan struct{}, 1), Mailbox: make(chan func(context.Context) error, 1),
		BufferTimeout: time.Millisecond,
	}
	var qs []*Queue
	for range n {
		q := NewQueue(16, t.Wake, done)
		qs = append(qs, q)
		t.Inputs = append(t.Inputs, &Input{Queue: q, Deliver: func(b any) error {
			rec.events = append(rec.events, "data "+b.(string))
			return nil
		}})
	}
	t.Checkpointer = checkpointerFunc(func(id int64) {
		rec.events = append(rec.events, fmt.Sprintf("snapshot %d", id))
	})
	return t, qs, rec
}

func put(t *testing.T, q *Queue, ms ...Message) {
	t.Helper()
	for _, m := range ms {
		if err := q.Put(m); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpointerFunc records acknowledgements.
type checkpointerFunc func(id int64)

func (f checkpointerFunc) Acknowledge(id int64, _ int, _ time.Duration, _ []OperatorState) { f(id) }
func (f checkpointerFunc) Decline(int64, int, error)                                       {}
func (f checkpointerFunc) SourceEnded(int)                                                 {}

func data(s string) Message    { return Message{Kind: Data, Batch: s} }
func fin() Message             { return Message{Kind: Finished} }
func wm(v int64) Message       { return Message{Kind: Watermark, Value: v} }
func barrier(id int64) Message { return Message{Kind: Barrier, Value: id} }
func end() Message             { return Message{Kind: EndOfInput} }
func idle() Message            { return Message{Kind: Idle} }
func runTask(t *testing.T, task *Task) {
	t.Helper()
	if err := task.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	task.finalDone = true
	if err := task.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := task.Close(); err != nil {
		t.Fatal(err)
	}
}

// A channel that delivered the barrier is not read again until every
// channel has delivered it; the others are read meanwhile.
func TestBarrierAlignmentBlocksOnlyAlignedChannels(t *testing.T) {
	task, qs, rec := newTestTask(2, nil)
	put(t, qs[0], data("a1"), barrier(1), data("a2"), end(), fin())
	put(t, qs[1], data("b1"), data("b2"), data("b3"), barrier(1), data("b4"), end(), fin())
	runTask(t, task)
	snap := slices.Index(rec.events, "snapshot 1")
	if snap < 0 {
		t.Fatalf("no snapshot: %v", rec.events)
	}
	before, after := rec.events[:snap], rec.events[snap:]
	for _, d := range []string{"data a1", "data b1", "data b2", "data b3"} {
		if !slices.Contains(before, d) {
			t.Errorf("%s should be processed before the snapshot: %v", d, rec.events)
		}
	}
	for _, d := range []string{"data a2", "data b4"} {
		if !slices.Contains(after, d) {
			t.Errorf("%s should be processed after the snapshot: %v", d, rec.events)
		}
	}
	if after[1] != "out barrier 1" {
		t.Errorf("barrier not forwarded right after the snapshot: %v", rec.events)
	}
}

// The task's watermark is the minimum over its inputs; idle inputs are
// left out; it never goes back; when every open input is idle the output
// goes idle; when all inputs have ended it is the final watermark.
func TestWatermarkIsMinimumOverActiveInputs(t *testing.T) {
	task, _, rec := newTestTask(3, nil)
	if err := task.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	in := task.Inputs
	steps := []struct {
		in   int
		m    Message
		want []string
	}{
		{0, wm(10), nil},
		{1, wm(20), nil},
		{2, idle(), []string{"op watermark 10", "out watermark 10"}},
		{0, wm(30), []string{"op watermark 20", "out watermark 20"}},
		{0, wm(5), nil},
		{0, end(), nil},
		{1, wm(25), []string{"op watermark 25", "out watermark 25"}},
		{1, end(), []string{"out idle"}},
		{2, end(), []string{"out active", "op watermark 9223372036854775807", "out watermark 9223372036854775807", "op end", "out end-of-input"}},
	}
	for i, s := range steps {
		rec.events = nil
		if err := task.handle(context.Background(), in[s.in], s.m); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.events, s.want) {
			t.Fatalf("step %d (%v on input %d): %v, want %v", i, s.m.Kind, s.in, rec.events, s.want)
		}
	}
}

// Put blocks while the queue is full and returns when the job is canceled.
func TestQueueBlocksWhenFullAndUnblocksOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wake := make(chan struct{}, 1)
		done := make(chan struct{})
		q := NewQueue(2, wake, done)
		put(t, q, data("1"), data("2"))
		select {
		case <-wake:
		default:
			t.Fatal("a put into an empty queue did not wake the consumer")
		}
		errc := make(chan error, 1)
		go func() { errc <- q.Put(data("3")) }()
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("Put on a full queue returned %v", err)
		default:
		}
		if m, ok := q.Poll(); !ok || m.Batch != "1" {
			t.Fatalf("Poll = %v %v", m, ok)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		go func() { errc <- q.Put(data("4")) }()
		synctest.Wait()
		close(done)
		if err := <-errc; !errors.Is(err, ErrCanceled) {
			t.Fatalf("Put after cancel = %v", err)
		}
		if q.Len() != 2 {
			t.Fatalf("Len = %d", q.Len())
		}
	})
}

// Put adds the time it waits for space, and only that, to Blocked, which
// counts a wait going on too.
func TestQueueCountsTimeBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue(1, make(chan struct{}, 1), nil)
		put(t, q, data("1"))
		if b := q.Blocked(); b != 0 {
			t.Fatalf("Blocked = %v after a Put that found room", b)
		}
		errc := make(chan error, 1)
		go func() { errc <- q.Put(data("2")) }()
		synctest.Wait()
		time.Sleep(3 * time.Second)
		if b := q.Blocked(); b != 3*time.Second {
			t.Fatalf("Blocked = %v while the Put has waited 3s", b)
		}
		time.Sleep(time.Second)
		q.Poll()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if b := q.Blocked(); b != 4*time.Second {
			t.Fatalf("Blocked = %v, want the 4s the Put waited", b)
		}
	})
}

// alignments records the alignment each acknowledgement reports.
type alignments map[int64]time.Duration

func (a alignments) Acknowledge(id int64, _ int, d time.Duration, _ []OperatorState) { a[id] = d }
func (a alignments) Decline(int64, int, error)                                       {}
func (a alignments) SourceEnded(int)                                                 {}

// A task reports how long it waited between the first and the last barrier
// of a checkpoint on its inputs.
func TestAlignmentTimeIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		task, _, _ := newTestTask(2, nil)
		got := alignments{}
		task.Checkpointer = got
		if err := task.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := task.handle(ctx, task.Inputs[0], barrier(1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if err := task.handle(ctx, task.Inputs[1], barrier(1)); err != nil {
			t.Fatal(err)
		}
		if err := task.handle(ctx, task.Inputs[1], barrier(2)); err != nil {
			t.Fatal(err)
		}
		if err := task.handle(ctx, task.Inputs[0], barrier(2)); err != nil {
			t.Fatal(err)
		}
		if want := (alignments{1: 2 * time.Second, 2: 0}); !maps.Equal(got, want) {
			t.Fatalf("alignments %v, want %v", got, want)
		}
	})
}

// The watermark each operator was last given is readable from another
// goroutine, and only moves when the task's does.
func TestOperatorWatermarkIsPublished(t *testing.T) {
	task, _, _ := newTestTask(1, nil)
	if got := task.Watermark(0); got != MinWatermark {
		t.Fatalf("before Open: %d", got)
	}
	if err := task.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, w := range []int64{10, 30, 20} {
		if err := task.handle(ctx, task.Inputs[0], wm(w)); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan int64)
	go func() { got <- task.Watermark(0) }()
	if w := <-got; w != 30 {
		t.Fatalf("Watermark(0) = %d, want 30", w)
	}
}
