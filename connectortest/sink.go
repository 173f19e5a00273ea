package connectortest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"go.uber.org/goleak"
)

// sinkRecords is how many records the sink checks write.
const sinkRecords = 240

// RunSink runs the sink checks against s, each as a subtest of t.
func RunSink[T any](t *testing.T, s Sink[T]) {
	if s.Setup == nil || s.Record == nil {
		t.Fatal("connectortest.Sink: Setup and Record are required")
	}
	checks := []struct {
		name string
		fn   func(c *sinkCheck[T])
	}{
		{"Write", sinkWrite[T]},
		{"WriteWithoutCheckpoints", sinkWriteWithoutCheckpoints[T]},
		{"StopAndRestore", func(c *sinkCheck[T]) { sinkStopAndRestore(c, 2, 2) }},
		{"Rescale/1to2", func(c *sinkCheck[T]) { sinkStopAndRestore(c, 1, 2) }},
		{"Rescale/2to1", func(c *sinkCheck[T]) { sinkStopAndRestore(c, 2, 1) }},
		{"ExactlyOnceRestart", sinkRestart[T]},
		{"CancelAndRestore", sinkCancelAndRestore[T]},
		{"CommitOnRestore", sinkCommitOnRestore[T]},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			c := &sinkCheck[T]{t: t, s: s, key: keyFunc(s.Key), chk: t.TempDir()}
			c.data = s.Setup(t)
			if c.data.Sink == nil || c.data.Committed == nil {
				t.Fatal("SinkData.Sink and SinkData.Committed are required")
			}
			c.gate = newGate(c.key)
			for n := range int64(sinkRecords) {
				c.all = append(c.all, c.key(s.Record(n)))
			}
			distinct(t, "Record", c.all)
			ch.fn(c)
		})
	}
}

// sinkCheck is one sink check: the sink's output and the gate around the
// suite's source, shared by the check's jobs.
type sinkCheck[T any] struct {
	t    *testing.T
	s    Sink[T]
	key  func(T) string
	chk  string
	data SinkData[T]
	gate *gate[T]
	all  []string // keys of every record the source emits
	// hold drops the sink's commits while it is set (see heldSink).
	hold atomic.Bool
}

// start starts a job writing the records through the sink under test.
func (c *sinkCheck[T]) start(spec jobSpec) *running {
	r := newRunning(c.t)
	env := weir.New(spec.options(c.chk, r.stopCh, r.checkpointed, r.restarted)...)
	gen := weir.Generator(weir.GeneratorSpec{Splits: 3, Count: sinkRecords}, c.s.Record)
	var opts []weir.SourceOption
	if c.s.EventTime != nil {
		opts = append(opts, weir.EventTime(c.s.EventTime, 0))
	}
	s := weir.From(env, c.gate.source(gen), opts...).ID(sourceID).Name(sourceName)
	if f := spec.failOnce; f != nil {
		s = weir.TryMap(s, func(v T) (T, error) { return v, f.check() }).ID(failID)
	}
	weir.To(s, weir.Sink[T](heldSink[T]{c.data.Sink(), &c.hold})).ID(sinkID)
	r.start(env)
	return r
}

func (c *sinkCheck[T]) committed(what string) []string {
	c.t.Helper()
	vs, err := c.data.Committed()
	if err != nil {
		c.t.Fatalf("%s: reading what the sink committed: %v", what, err)
	}
	return keys(c.key, vs)
}

// exact checks that the sink committed every record once; an
// at-least-once sink may have committed some twice after a failure.
func (c *sinkCheck[T]) exact(what string, failed bool) {
	c.t.Helper()
	got := c.committed(what)
	if failed && !c.s.Capabilities.ExactlyOnce {
		if d := covers(got, c.all); d != "" {
			c.t.Fatalf("%s: an at-least-once sink committed %d records: %s", what, len(got), d)
		}
		if d := covers(c.all, got); d != "" {
			c.t.Fatalf("%s: the sink committed records that were not written: %s", what, d)
		}
		c.t.Logf("%s: an at-least-once sink committed %d records twice", what, repeats(got))
		return
	}
	if d := diff(got, c.all); d != "" {
		c.t.Fatalf("%s: the sink committed %s", what, d)
	}
}

func sinkWrite[T any](c *sinkCheck[T]) {
	c.start(jobSpec{parallelism: 2}).mustEnd("a bounded job with checkpoints")
	c.exact("a bounded job with checkpoints", false)
}

func sinkWriteWithoutCheckpoints[T any](c *sinkCheck[T]) {
	c.start(jobSpec{parallelism: 2, noCheckpoints: true}).mustEnd("a bounded job without checkpoints")
	c.exact("a bounded job without checkpoints", false)
}

// sinkStopAndRestore stops a job at parallelism from with a savepoint a
// third of the way, and restores it at parallelism to.
func sinkStopAndRestore[T any](c *sinkCheck[T], from, to int) {
	if from != to && !c.s.Capabilities.Rescale {
		c.t.Skip("the sink does not declare Rescale")
	}
	spent := c.gate.limit(sinkRecords / 3)
	r := c.start(jobSpec{parallelism: from})
	r.waitFor(spent, "a third of the records", progress(c.gate.emittedKeys, c.all))
	r.stop()
	r.mustEnd("the run stopped with a savepoint")
	// Stopping with a savepoint commits what it covers: every record read.
	read := c.gate.emittedKeys()
	if d := diff(c.committed("stopped with a savepoint"), read); d != "" {
		c.t.Fatalf("stopped with a savepoint after %d records, the sink committed %s", len(read), d)
	}
	c.gate.open()
	what := fmt.Sprintf("restored at parallelism %d from a savepoint taken at %d", to, from)
	c.start(jobSpec{parallelism: to, restore: true}).mustEnd(what)
	c.exact(what, false)
}

// sinkRestart fails a job once after a checkpoint taken a third of the
// way; the job restarts itself from that checkpoint.
func sinkRestart[T any](c *sinkCheck[T]) {
	f := &failOnce{}
	spent := c.gate.limit(sinkRecords / 3)
	r := c.start(jobSpec{parallelism: 2, restarts: true, failOnce: f})
	r.waitFor(spent, "a third of the records", progress(c.gate.emittedKeys, c.all))
	r.waitFor(r.checkpointAfter(), "a checkpoint", func() string { return "no checkpoint completed" })
	f.armed.Store(true)
	c.gate.open()
	r.mustEnd("the job that failed once")
	if !f.failed.Load() || r.restartCount() != 1 {
		c.t.Fatalf("the injected failure happened: %v; restarts: %d; want one of each", f.failed.Load(), r.restartCount())
	}
	c.exact("after a failure and a restart from the latest checkpoint", true)
}

// sinkCancelAndRestore cancels a job after a checkpoint — a crash, as the
// sink sees it — and restores it from its latest checkpoint.
func sinkCancelAndRestore[T any](c *sinkCheck[T]) {
	leaks := goleak.IgnoreCurrent()
	spent := c.gate.limit(sinkRecords / 2)
	r := c.start(jobSpec{parallelism: 2})
	r.waitFor(spent, "half the records", progress(c.gate.emittedKeys, c.all))
	r.waitFor(r.checkpointAfter(), "a checkpoint", func() string { return "no checkpoint completed" })
	r.cancelled("canceled after a checkpoint")
	got := c.committed("canceled")
	if d := covers(c.all, got); d != "" {
		c.t.Fatalf("canceled: the sink committed records that were not written: %s", d)
	}
	if n := repeats(got); n > 0 && c.s.Capabilities.ExactlyOnce {
		c.t.Fatalf("canceled: the sink committed %d records twice", n)
	}
	if err := goleak.Find(leaks); err != nil {
		c.t.Fatalf("goroutines left after the canceled job returned: %v", err)
	}
	c.gate.open()
	c.start(jobSpec{parallelism: 2, restore: true}).mustEnd("restored after the cancel")
	c.exact("restored after the cancel", true)
}

// sinkCommitOnRestore crashes a job between a checkpoint's completion and
// the sink's commit: the sink's commits are dropped until the job is
// canceled. Until then nothing may be visible; the restored job commits
// what the checkpoint holds, at another parallelism when the sink can
// change it.
func sinkCommitOnRestore[T any](c *sinkCheck[T]) {
	if !c.s.Capabilities.ExactlyOnce {
		c.t.Skip("the sink does not declare ExactlyOnce")
	}
	c.hold.Store(true)
	spent := c.gate.limit(sinkRecords / 2)
	r := c.start(jobSpec{parallelism: 2})
	r.waitFor(spent, "half the records", progress(c.gate.emittedKeys, c.all))
	r.waitFor(r.checkpointAfter(), "a checkpoint", func() string { return "no checkpoint completed" })
	r.cancelled("canceled before any commit")
	if got := c.committed("canceled before any commit"); len(got) > 0 {
		c.t.Fatalf("no Commit call reached the sink, yet it shows %d records: output must become visible only by Commit", len(got))
	}
	c.hold.Store(false)
	c.gate.open()
	to := 2
	if c.s.Capabilities.Rescale {
		to = 1
	}
	what := fmt.Sprintf("restored at parallelism %d, committing what the checkpoint held", to)
	c.start(jobSpec{parallelism: to, restore: true}).mustEnd(what)
	c.exact(what, false)
}

// heldSink wraps the sink under test so that its writers' commits never
// happen while hold is set, as if the process had died before them.
type heldSink[T any] struct {
	s    weir.Sink[T]
	hold *atomic.Bool
}

func (h heldSink[T]) Open(ctx context.Context, info weir.SinkInfo) (weir.SinkWriter[T], error) {
	w, err := h.s.Open(ctx, info)
	if err != nil {
		return nil, err
	}
	tp, ok := w.(weir.TwoPhaseWriter)
	if !ok {
		return w, nil
	}
	hw := &heldWriter[T]{SinkWriter: w, tp: tp, hold: h.hold}
	if et, ok := w.(weir.EventTimeWriter[T]); ok {
		return &heldEventTimeWriter[T]{hw, et}, nil
	}
	return hw, nil
}

type heldWriter[T any] struct {
	weir.SinkWriter[T]
	tp   weir.TwoPhaseWriter
	hold *atomic.Bool
}

func (w *heldWriter[T]) Prepare(id int64) ([]byte, error) { return w.tp.Prepare(id) }

// Commit waits, while hold is set, until the job is canceled: a commit
// that returned would tell the job its output is visible, and a later
// checkpoint would then no longer carry it, which a process that died
// before committing never sees.
func (w *heldWriter[T]) Commit(ctx context.Context, cs [][]byte) error {
	if w.hold.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return w.tp.Commit(ctx, cs)
}

type heldEventTimeWriter[T any] struct {
	*heldWriter[T]
	et weir.EventTimeWriter[T]
}

func (w *heldEventTimeWriter[T]) WriteEventTime(v T, ts time.Time) error {
	return w.et.WriteEventTime(v, ts)
}
