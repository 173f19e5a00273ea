package weir

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/failpoint"
	"github.com/weirstream/weir/internal/runtime"
)

// SinkInfo describes the sink subtask being opened.
type SinkInfo struct {
	Name        string
	OperatorID  string
	Subtask     int
	Parallelism int
	// Attempt counts the restarts of the job in this process before this
	// run (Restarts): 0 for its first run. A sink whose output names the
	// run it came from tells runs apart by it.
	Attempt int
	// RestoredCheckpointID is the ID of the checkpoint or savepoint the job
	// restored from, 0 on a fresh start. Every checkpoint the job takes has
	// a higher ID, and the runs between that checkpoint and this one may
	// have left output staged but never committed: a transactional sink
	// (transaction IDs made of a prefix, the subtask and the checkpoint ID)
	// aborts those of its subtask with IDs above RestoredCheckpointID
	// before it writes.
	RestoredCheckpointID int64
	// PreviousParallelism is the sink's parallelism in the restored
	// checkpoint, 0 on a fresh start or when the checkpoint holds nothing
	// of the sink. When it is above Parallelism, subtasks Parallelism to
	// PreviousParallelism-1 no longer exist and nobody would abort what
	// they left; by convention subtask 0 does.
	PreviousParallelism int
	// CheckpointInterval is the job's checkpoint interval, 0 when it takes
	// no periodic checkpoints. A transactional sink whose transactions the
	// broker aborts after a timeout checks the timeout against it.
	CheckpointInterval time.Duration
}

// Sink is the connector interface for outputs.
//
// Delivery guarantees with checkpoints: a sink whose writers implement
// TwoPhaseWriter is exactly-once — its output becomes visible only when the
// checkpoint that covers it completes. Any other sink is at-least-once: at
// every barrier its writer is flushed (Flusher) so nothing the checkpoint
// covers is lost, but after a restore the records since that checkpoint are
// written again. That is exactly-once in effect for idempotent sinks (an
// upsert by key, a file named by its content), and the documented mode for
// them.
//
// Assert that your type implements it where the type is declared, so that
// the compiler names the method it lacks or gets wrong, with the type
// arguments spelled out (docs/errors.md):
//
//	var _ weir.Sink[Order] = (*ordersSink)(nil)
type Sink[T any] interface {
	// Open returns the writer of one subtask.
	Open(ctx context.Context, info SinkInfo) (SinkWriter[T], error)
}

// SinkWriter writes the records of one sink subtask, on its task's
// goroutine. Close is called once at the end, after a failure too; it
// flushes what is buffered.
type SinkWriter[T any] interface {
	Write(v T) error
	Close() error
}

// TwoPhaseWriter is implemented by sink writers that commit their output
// exactly once, in step with checkpoints. In a job without checkpoints,
// Prepare(0) and Commit are called once, when the subtask's input ends; a
// subtask that fails or is canceled before then is only closed.
type TwoPhaseWriter interface {
	// Prepare is called at a checkpoint barrier: it flushes and stages
	// everything written since the last barrier and returns a committable
	// describing it, which the checkpoint stores (a copy: the writer may
	// reuse the slice).
	Prepare(checkpointID int64) ([]byte, error)
	// Commit makes staged output visible once its checkpoint has completed.
	// It is also called with the committables of a restored checkpoint, and
	// again after it failed (CommitRetries), so it must be idempotent.
	Commit(ctx context.Context, committables [][]byte) error
}

// Flusher is implemented by sink writers that buffer: Flush writes out what
// is buffered. The runtime calls it at every checkpoint barrier, which is
// what makes a sink without TwoPhaseWriter at-least-once.
type Flusher interface {
	Flush() error
}

// EventTimeWriter is implemented by sink writers that need each record's
// event time (to bucket output by it, say); the runtime then calls
// WriteEventTime instead of Write. ts is the zero Time for a record without
// one.
type EventTimeWriter[T any] interface {
	WriteEventTime(v T, ts time.Time) error
}

// Sinked is the end of a stream in a sink; its methods set the sink
// operator's name, ID and parallelism.
type Sinked struct{ n *node }

// Name sets the sink operator's name.
func (s Sinked) Name(name string) Sinked { s.n.name = name; return s }

// ID sets the sink operator's stable ID.
func (s Sinked) ID(id string) Sinked { s.n.uid = id; return s }

// Parallelism sets the sink's number of subtasks.
func (s Sinked) Parallelism(n int) Sinked {
	Stream[struct{}]{n: s.n}.Parallelism(n)
	return s
}

// To writes s to sink.
//
// F, sink's own type, is a type parameter rather than sink a Sink so that
// a compile error names the method of sink that does not fit, with the
// signature it has (docs/errors.md).
func To[T any, F Sink[T]](s Stream[T], sink F) Sinked {
	return to[T](s, sink)
}

func to[T any](s Stream[T], sink Sink[T]) Sinked {
	n := oneInput(s, "sink")
	n.fanout = fanoutOf[struct{}]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &sinkOp[T]{opBase: newOpBase(b), sink: sink, info: SinkInfo{
			Name: b.name, OperatorID: b.id, Subtask: b.subtask, Parallelism: b.parallelism, Attempt: b.attempt,
			RestoredCheckpointID: b.restoredID, CheckpointInterval: b.cfg.checkpoint.interval,
		}, checkpoints: b.checkpoints, retry: b.cfg.commitRetry}
		if b.restore != nil {
			op.restored = b.restore.committables
			op.info.PreviousParallelism = b.restore.parallelism
		}
		return op, op, nil
	}
	return Sinked{n}
}

// sinkOp drives a sink writer. A two-phase writer prepares at every barrier
// and commits when the checkpoint completes; the committables of
// checkpoints that have not completed yet stay in every snapshot, so a
// restore commits them.
type sinkOp[T any] struct {
	opBase
	sink        Sink[T]
	info        SinkInfo
	w           SinkWriter[T]
	tw          EventTimeWriter[T]
	tp          TwoPhaseWriter
	checkpoints bool
	restored    [][]byte
	pending     []prepared
	retry       retryPolicy
}

// prepared is what a two-phase writer prepared for one checkpoint.
type prepared struct {
	id          int64
	committable []byte
}

func (o *sinkOp[T]) Open(ctx context.Context) error {
	w, err := o.sink.Open(ctx, o.info)
	if err != nil {
		return err
	}
	o.w = w
	if o.info.Subtask == 0 {
		o.c.reporters.add(o.sink, "")
	}
	o.c.reporters.add(w, "")
	o.tw, _ = w.(EventTimeWriter[T])
	o.tp, _ = w.(TwoPhaseWriter)
	if len(o.restored) > 0 {
		if o.tp == nil {
			return fmt.Errorf("the checkpoint holds committables, but the sink's writer %T cannot commit", w)
		}
		// Output prepared for the restored checkpoint may not have been
		// committed before the job stopped; committing is idempotent.
		if err := o.retry.do(ctx, "commit restored output", func(ctx context.Context) error {
			return o.tp.Commit(ctx, o.restored)
		}); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot implements runtime.Stateful.
func (o *sinkOp[T]) Snapshot(_ context.Context, id int64, _ bool) (runtime.OperatorState, error) {
	if o.tp == nil {
		if f, ok := o.w.(Flusher); ok {
			return runtime.OperatorState{}, f.Flush()
		}
		return runtime.OperatorState{}, nil
	}
	failpoint.Hit(failpoint.SinkPreparing)
	c, err := o.tp.Prepare(id)
	if err != nil {
		return runtime.OperatorState{}, err
	}
	// A copy: it is committed after the writer has written on, and a
	// writer may reuse the slice it returned.
	c = bytes.Clone(c)
	failpoint.Hit(failpoint.SinkPrepared)
	o.pending = append(o.pending, prepared{id: id, committable: c})
	st := runtime.OperatorState{Committables: make([][]byte, len(o.pending))}
	for i, p := range o.pending {
		st.Committables[i] = p.committable
	}
	return st, nil
}

// CheckpointComplete implements runtime.CheckpointListener: it commits
// what was prepared for checkpoint id and the ones before it.
func (o *sinkOp[T]) CheckpointComplete(ctx context.Context, id int64) error {
	n := 0
	for n < len(o.pending) && o.pending[n].id <= id {
		n++
	}
	if n == 0 {
		return nil
	}
	cs := make([][]byte, n)
	for i, p := range o.pending[:n] {
		cs[i] = p.committable
	}
	failpoint.Hit(failpoint.SinkCommitting)
	if err := o.retry.do(ctx, fmt.Sprintf("commit checkpoint %d", id), func(ctx context.Context) error {
		return o.tp.Commit(ctx, cs)
	}); err != nil {
		return err
	}
	o.pending = o.pending[n:]
	return nil
}

func (o *sinkOp[T]) Push(v T) error {
	o.enter()
	o.c.in++
	var err error
	if o.tw != nil {
		var ts time.Time
		if o.meta.Ts != runtime.NoTimestamp {
			ts = time.UnixMilli(o.meta.Ts)
		}
		err = o.tw.WriteEventTime(v, ts)
	} else {
		err = o.w.Write(v)
	}
	if err != nil {
		return o.handle(err, v)
	}
	o.c.out++
	return nil
}

// EndInput closes a plain writer, which flushes it. A two-phase writer
// stays open for the final checkpoint; in a job without checkpoints it
// prepares and commits everything here, since nothing can fail after the
// input has ended.
func (o *sinkOp[T]) EndInput() error {
	if o.tp == nil {
		return o.Close()
	}
	if o.checkpoints {
		return nil
	}
	c, err := o.tp.Prepare(0)
	if err != nil {
		return err
	}
	return o.retry.do(context.Background(), "commit at end of input", func(ctx context.Context) error {
		return o.tp.Commit(ctx, [][]byte{c})
	})
}

func (o *sinkOp[T]) Close() error {
	w := o.w
	o.w = nil
	if w == nil {
		return nil
	}
	return w.Close()
}

// WriterSink writes one line per record to w, formatted by format (fmt.Sprint
// when nil). Subtasks share w under a lock; each line is written whole.
type WriterSink[T any] struct {
	mu     *sync.Mutex
	w      io.Writer
	format func(T) string
}

// Print returns a sink writing lines to w.
func Print[T any](w io.Writer, format func(T) string) *WriterSink[T] {
	if format == nil {
		format = func(v T) string { return fmt.Sprint(v) }
	}
	return &WriterSink[T]{mu: &sync.Mutex{}, w: w, format: format}
}

// Stdout returns a sink writing lines to standard output.
func Stdout[T any](format func(T) string) *WriterSink[T] { return Print(os.Stdout, format) }

// Open implements Sink.
func (s *WriterSink[T]) Open(context.Context, SinkInfo) (SinkWriter[T], error) {
	return &lineWriter[T]{s: s}, nil
}

type lineWriter[T any] struct {
	s   *WriterSink[T]
	buf []byte
}

func (w *lineWriter[T]) Write(v T) error {
	w.buf = append(append(w.buf[:0], w.s.format(v)...), '\n')
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	_, err := w.s.w.Write(w.buf)
	return err
}

func (w *lineWriter[T]) Close() error { return nil }

// FileSink writes one line per record to plain files: path itself when the
// sink has one subtask (its directory must exist), path/part-<subtask>
// otherwise (path is created as a directory), appending to files that
// exist. Each subtask opens its file when the job starts, so a subtask
// that gets no record leaves an empty file. Lines are buffered (64 KiB)
// and reach the file when the buffer fills, at every checkpoint barrier,
// and when the subtask closes: at the end of its input, or when the job
// fails or is canceled. So a bounded job without checkpoints has its
// files complete when Run returns, and a failed one leaves every line its
// sink was given before the failure.
//
// It is at-least-once (see Sink): a failed job leaves what it wrote, and a
// restored one writes the records since its checkpoint again. The
// exactly-once file sink is in package connectors/file.
type FileSink[T any] struct {
	path   string
	format func(T) string
}

// File returns a sink writing lines to files under path.
func File[T any](path string, format func(T) string) *FileSink[T] {
	if format == nil {
		format = func(v T) string { return fmt.Sprint(v) }
	}
	return &FileSink[T]{path: path, format: format}
}

// Open implements Sink.
func (s *FileSink[T]) Open(_ context.Context, info SinkInfo) (SinkWriter[T], error) {
	name := s.path
	if info.Parallelism > 1 {
		if err := os.MkdirAll(s.path, 0o755); err != nil {
			return nil, fmt.Errorf("file sink: %w", err)
		}
		name = filepath.Join(s.path, fmt.Sprintf("part-%d", info.Subtask))
	}
	// Appending keeps what earlier runs of the job wrote, so a restored run
	// goes on after them (at-least-once).
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return &fileWriter[T]{f: f, bw: bufio.NewWriterSize(f, 64<<10), format: s.format}, nil
}

type fileWriter[T any] struct {
	f      *os.File
	bw     *bufio.Writer
	format func(T) string
}

func (w *fileWriter[T]) Write(v T) error {
	w.bw.WriteString(w.format(v))
	return w.bw.WriteByte('\n')
}

// Flush implements Flusher.
func (w *fileWriter[T]) Flush() error { return w.bw.Flush() }

func (w *fileWriter[T]) Close() error {
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("file sink %s: %w", w.f.Name(), err)
	}
	return nil
}

// Timestamped is a collected record with its event time (the zero Time when
// it has none).
type Timestamped[T any] struct {
	Value T
	Time  time.Time
}

// Collector gathers what reaches a collecting sink, for tests.
type Collector[T any] struct {
	mu   sync.Mutex
	recs []Timestamped[T]
}

// Collect adds a collecting sink to s.
func Collect[T any](s Stream[T]) *Collector[T] {
	c := &Collector[T]{}
	n := oneInput(s, "collect")
	n.fanout = fanoutOf[struct{}]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &collectOp[T]{opBase: newOpBase(b), c: c}
		return op, op, nil
	}
	return c
}

// Values returns the collected values in arrival order.
func (c *Collector[T]) Values() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]T, len(c.recs))
	for i, r := range c.recs {
		out[i] = r.Value
	}
	return out
}

// Records returns the collected records with their event times.
func (c *Collector[T]) Records() []Timestamped[T] {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Timestamped[T](nil), c.recs...)
}

type collectOp[T any] struct {
	opBase
	c *Collector[T]
}

func (o *collectOp[T]) Push(v T) error {
	o.opBase.c.in++
	o.opBase.c.out++
	r := Timestamped[T]{Value: v}
	if o.meta.Ts != runtime.NoTimestamp {
		r.Time = time.UnixMilli(o.meta.Ts)
	}
	o.c.mu.Lock()
	o.c.recs = append(o.c.recs, r)
	o.c.mu.Unlock()
	return nil
}
