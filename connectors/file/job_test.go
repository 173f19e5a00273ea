package file

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// observed wraps a Sink to count what the runtime does with its writers.
type observed struct {
	s                         *Sink[event]
	timedWrites, plainWrites  atomic.Int64
	prepares, commits, closes atomic.Int64
}

func (o *observed) Open(_ context.Context, info weir.SinkInfo) (weir.SinkWriter[event], error) {
	w, err := o.s.OpenWriter(info)
	if err != nil {
		return nil, err
	}
	return &observedWriter{Writer: w, o: o}, nil
}

type observedWriter struct {
	*Writer[event]
	o *observed
}

func (w *observedWriter) Write(v event) error {
	w.o.plainWrites.Add(1)
	return w.Writer.Write(v)
}

func (w *observedWriter) WriteEventTime(v event, ts time.Time) error {
	if !ts.IsZero() {
		w.o.timedWrites.Add(1)
	}
	return w.Writer.WriteEventTime(v, ts)
}

func (w *observedWriter) Prepare(id int64) ([]byte, error) {
	w.o.prepares.Add(1)
	return w.Writer.Prepare(id)
}

func (w *observedWriter) Commit(ctx context.Context, cs [][]byte) error {
	w.o.commits.Add(1)
	return w.Writer.Commit(ctx, cs)
}

func (w *observedWriter) Close() error {
	w.o.closes.Add(1)
	return w.Writer.Close()
}

// TestBoundedJob runs a real job into the sink. What the job leaves depends
// on whether the runtime drives two-phase writers: one that does not only
// writes and closes, so nothing may be visible (nothing was committed); one
// that does ends a bounded job by preparing and committing everything, so
// every record must be visible once. The test checks whichever happened.
func TestBoundedJob(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	var events []event
	for n := range 200 {
		events = append(events, event{N: n, At: base.Add(time.Duration(n) * time.Minute)})
	}
	o := &observed{s: newSink(t, Config[event]{Dir: dir, RollSize: 64, EventTimeBuckets: "2006-01-02--15"})}
	env := weir.New(weir.Parallelism(2))
	src := weir.From(env, weir.Slice(events...), weir.EventTime(func(e event) time.Time { return e.At }, 0))
	weir.To(src, o).Name("files")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if n := o.timedWrites.Load(); n != int64(len(events)) || o.plainWrites.Load() != 0 {
		t.Errorf("%d writes with event time and %d without, want %d with", n, o.plainWrites.Load(), len(events))
	}
	if n := o.closes.Load(); n != 2 {
		t.Errorf("%d writers closed, want 2", n)
	}
	if o.commits.Load() == 0 {
		t.Logf("the runtime prepared %d times and committed nothing", o.prepares.Load())
		equal(t, "files after a job that committed nothing", append(visibleFiles(t, dir), hiddenFiles(t, dir)...), nil)
		return
	}
	t.Logf("the runtime prepared %d times and committed %d times", o.prepares.Load(), o.commits.Load())
	var want []string
	for _, e := range events {
		want = append(want, strconv.Itoa(e.N))
	}
	slices.Sort(want)
	equal(t, "visible after a job that committed", visibleLines(t, dir), want)
	equal(t, "hidden files after a job that committed", hiddenFiles(t, dir), nil)
	buckets := map[string]bool{}
	for _, f := range visibleFiles(t, dir) {
		buckets[f[:len("2025-06-01--10")]] = true
	}
	if len(buckets) != 4 { // 200 minutes from 10:00
		t.Errorf("buckets %v, want the four hours 10 to 13", buckets)
	}
}
