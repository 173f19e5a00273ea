package weir

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// Split is one independently readable part of a source: a file, a
// partition, a shard, a generator lane. A source's splits do not depend on
// the job's parallelism; they are assigned to its subtasks.
type Split struct {
	ID string
}

// Source is the connector interface for inputs.
//
// A source lists its splits once when the job starts; the runtime assigns
// them to subtasks (split j to subtask j mod p) and opens a reader for each
// on the subtask's task goroutine.
//
// Assert that your type implements it where the type is declared, so that
// the compiler names the method it lacks or gets wrong, with the type
// arguments spelled out (docs/errors.md):
//
//	var _ weir.Source[Order] = (*ordersSource)(nil)
type Source[T any] interface {
	// Splits lists the source's splits.
	Splits(ctx context.Context) ([]Split, error)
	// Bounded reports whether every split ends.
	Bounded() bool
	// OpenSplit opens a reader positioned just after position, a value an
	// earlier reader of the same split returned from Position; nil means
	// the beginning.
	OpenSplit(ctx context.Context, split Split, position []byte) (SplitReader[T], error)
}

// PollStatus is what a split reader reports after a poll.
type PollStatus uint8

const (
	// More means the reader may have more records right away.
	More PollStatus = iota
	// Wait means nothing is available now. The runtime polls again soon
	// (every few milliseconds) or, for a reader that implements
	// WakingReader, once the reader has called its wake function.
	Wait
	// End means the split is exhausted.
	End
)

// SplitReader reads one split. Its methods are called on the task's
// goroutine only; Poll must not block for long (a connector with network
// I/O fetches on goroutines of its own and hands over in Poll).
type SplitReader[T any] interface {
	// Poll emits up to max records to out.
	Poll(out SourceOutput[T], max int) (PollStatus, error)
	// Position returns the position after the last record emitted; a
	// reader opened at it continues with the next record. Checkpoints store
	// a copy of it, so the reader may reuse the slice.
	Position() []byte
	// Close releases the reader.
	Close() error
}

// WakingReader is implemented by split readers that know when data arrives
// — a fetch goroutine got a response, a watcher saw a file grow — so that
// a waiting split costs nothing instead of a poll every few milliseconds.
//
// SetWake is called once, on the task goroutine, before the first Poll.
// wake may be called from any goroutine, any number of times, and never
// blocks. After Poll returns Wait the split is polled again only once wake
// has been called after that Poll began; so a reader that fetches on a
// goroutine of its own calls wake after handing over each response, and a
// wake-up that comes while Poll runs is never lost.
type WakingReader interface {
	SetWake(wake func())
}

// CheckpointListener is implemented by split readers that act when a
// checkpoint completes, such as a Kafka reader committing its consumer
// group's offsets so that lag can be watched from outside. The job's
// exactly-once guarantee never depends on it: a restore starts from the
// positions in the checkpoint.
//
// CheckpointComplete is called on the task goroutine after checkpoint id
// has completed, with the position the checkpoint holds for the split
// (what Position returned at its barrier). It is not called for
// checkpoints that did not complete, nor for a split that has ended, and
// when a later checkpoint completes first only the later one is reported.
// A failed call is retried like a sink's commit (CommitRetries), so it
// must be idempotent; when the retries run out the job fails.
type CheckpointListener interface {
	CheckpointComplete(ctx context.Context, id int64, position []byte) error
}

// SourceOutput receives what a split reader reads.
type SourceOutput[T any] interface {
	// Emit passes a record and its offset within the split (a line number,
	// a sequence number, a partition offset): errors name it.
	Emit(v T, offset int64)
	// EmitAt passes a record with the event time the source knows for it
	// (a Kafka timestamp, say). An EventTime option overrides it.
	EmitAt(v T, ts time.Time, offset int64)
	// Watermark declares that the split will not emit event times at or
	// before t. Sources that know their watermark use it; others rely on
	// the EventTime option.
	Watermark(t time.Time)
	// Idle declares the split idle until it emits again.
	Idle()
	// Reject hands the job's error policy a record the reader could not
	// turn into a T (bytes that do not decode, say), with its offset and
	// why: under the dead-letter policy it is written with the source's
	// name, the split and the offset; under skip it is counted; under fail
	// the job fails with err naming the split and offset. raw is kept as
	// the dead letter's record: text as text, other bytes as base64.
	Reject(raw any, offset int64, err error)
}

// SourceOption configures From.
type SourceOption interface{ applySource(*sourceConfig) }

type sourceConfig struct {
	assigner    any // func(T) time.Time
	bound       time.Duration
	idleTimeout time.Duration
	discovery   time.Duration
}

type sourceOptionFunc func(*sourceConfig)

func (f sourceOptionFunc) applySource(c *sourceConfig) { f(c) }

// EventTime gives records the event time ts returns and derives each split's
// watermark from it, allowing records to arrive up to bound out of order:
// the watermark is the largest event time seen minus bound, minus one
// millisecond. A bound of zero suits monotonic splits.
func EventTime[T any](ts func(T) time.Time, bound time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.assigner, c.bound = ts, bound })
}

// IdleTimeout marks a split idle when it emits nothing for d, so that a
// quiet split does not hold back the watermark; it becomes active again
// when it emits.
func IdleTimeout(d time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.idleTimeout = d })
}

// sourceNode is what the job builder needs of a source before the types are
// erased: its splits and, for an unbounded source that discovers splits
// while it runs, a hub for its subtasks (nil otherwise).
type sourceNode interface {
	splits(ctx context.Context) ([]Split, bool, error)
	hub(name string, p int) *splitHub
}

type sourceSpec[T any] struct {
	src       Source[T]
	discovery time.Duration
}

func (s sourceSpec[T]) hub(name string, p int) *splitHub {
	d, ok := s.src.(SplitDiscoverer)
	if !ok || s.src.Bounded() {
		return nil
	}
	return newSplitHub(name, d, s.discovery, p)
}

func (s sourceSpec[T]) splits(ctx context.Context) ([]Split, bool, error) {
	sp, err := s.src.Splits(ctx)
	return sp, s.src.Bounded(), err
}

// assignedSplit is a split given to a subtask, with its index in the job's
// split table.
type assignedSplit struct {
	split    Split
	origin   int32
	position []byte
	// restored is set when the split's state comes from a checkpoint.
	restored  bool
	watermark int64
	ended     bool
}

// From adds a source to the job.
//
// F, src's own type, is a type parameter rather than src a Source so that
// a compile error names the method src lacks or gets wrong
// (docs/errors.md).
func From[T any, F Source[T]](e *Env, src F, opts ...SourceOption) Stream[T] {
	return from[T](e, src, opts...)
}

func from[T any](e *Env, src Source[T], opts ...SourceOption) Stream[T] {
	n := e.addNode("source")
	n.fanout = fanoutOf[T]
	var cfg sourceConfig
	for _, o := range opts {
		o.applySource(&cfg)
	}
	var assign func(T) time.Time
	if cfg.assigner != nil {
		a, ok := cfg.assigner.(func(T) time.Time)
		if !ok {
			e.fail(fmt.Errorf("source: EventTime function %T does not take %T", cfg.assigner, *new(T)))
		}
		assign = a
	}
	if cfg.bound < 0 || cfg.idleTimeout < 0 || cfg.discovery < 0 {
		e.fail(fmt.Errorf("source: EventTime bound %v, IdleTimeout %v and DiscoveryInterval %v must not be negative",
			cfg.bound, cfg.idleTimeout, cfg.discovery))
	}
	if cfg.discovery == 0 {
		cfg.discovery = defaultDiscoveryInterval
	}
	n.source = sourceSpec[T]{src: src, discovery: cfg.discovery}
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &sourceOp[T]{
			opBase:       newOpBase(b),
			src:          src,
			splits:       b.splits,
			next:         b.main.(runtime.Pusher[T]),
			assign:       assign,
			bound:        cfg.bound.Milliseconds(),
			idleTimeout:  cfg.idleTimeout,
			pollInterval: b.cfg.pollInterval,
			batchSize:    b.cfg.batchSize,
			retry:        b.cfg.commitRetry,
			bounded:      src.Bounded(),
			hub:          b.hub,
			subtask:      b.subtask,
			clock:        b.clock,
			progress:     newWatermarkPacer(b.cfg.watermarkInterval),
		}
		return op, nil, nil
	}
	return Stream[T]{n: n}
}

// splitRun is a split being read by a subtask, with the state its watermark
// derives from.
type splitRun[T any] struct {
	_          [64]byte // see the end
	op         *sourceOp[T]
	split      Split
	origin     int32
	reader     SplitReader[T]
	position   []byte // the position the split was opened at, and its last one once ended
	ended      bool
	maxTs      int64
	declared   int64 // watermark the reader declared
	idle       bool  // the reader declared itself idle
	lastActive time.Time
	emitted    int
	err        error
	// waking is set for a WakingReader; waiting when its last Poll
	// returned Wait, so that it is polled again only after woken is set.
	waking, waiting bool
	woken           atomic.Bool
	// Every record writes the split's fields, and the splits of all source
	// subtasks are made one after the other: the padding on both sides
	// keeps them off other splits' cache lines.
	_ [64]byte
}

// wake is the function a WakingReader calls when it has data.
func (r *splitRun[T]) wake() {
	r.woken.Store(true)
	r.op.task.Notify()
}

func (r *splitRun[T]) Emit(v T, offset int64) { r.EmitAt(v, time.Time{}, offset) }

func (r *splitRun[T]) EmitAt(v T, ts time.Time, offset int64) {
	if r.err != nil {
		return
	}
	op := r.op
	m := op.meta
	stamped := true
	switch {
	case op.assign != nil:
		m.Ts = op.assign(v).UnixMilli()
	case !ts.IsZero():
		m.Ts = ts.UnixMilli()
	default:
		m.Ts, stamped = runtime.NoTimestamp, false
	}
	if stamped && !runtime.EventTimeInRange(m.Ts) {
		// The record's fault, not the job's: it meets the error policy
		// and, not emitted, moves no watermark.
		m.Origin = runtime.Origin{Split: r.origin, Offset: offset}
		m.Op = op.idx
		r.emitted++
		op.c.in++
		r.idle = false
		r.err = op.handle(errEventTimeRange(m.Ts), v)
		return
	}
	if stamped && m.Ts > r.maxTs && op.clock == nil {
		r.maxTs = m.Ts
	}
	m.Origin = runtime.Origin{Split: r.origin, Offset: offset}
	m.Op = op.idx
	r.emitted++
	op.c.in++
	op.c.out++
	r.idle = false
	r.err = op.next.Push(v)
}

func (r *splitRun[T]) Reject(raw any, offset int64, err error) {
	if r.err != nil {
		return
	}
	op := r.op
	op.meta.Origin = runtime.Origin{Split: r.origin, Offset: offset}
	op.meta.Op = op.idx
	r.emitted++
	op.c.in++
	r.idle = false
	r.err = op.handle(err, raw)
}

// errEventTimeRange is the error of a record whose event time ts is
// outside [MinEventTime, MaxEventTime].
func errEventTimeRange(ts int64) error {
	what := ""
	if ts == runtime.NoTimestamp {
		what = " (the int64 minimum, which stands for no event time)"
	}
	return fmt.Errorf("event time %d ms%s is outside the range [%d, %d] ms (±2^62 ms, about ±146 million years around 1970) in which window bounds cannot overflow",
		ts, what, runtime.MinEventTime, runtime.MaxEventTime)
}

func (r *splitRun[T]) Watermark(t time.Time) { r.declared = max(r.declared, t.UnixMilli()) }

func (r *splitRun[T]) Idle() { r.idle = true }

// watermark is the split's own watermark: what the reader declared or,
// with an EventTime strategy or an AssignTime step chained to the source,
// what the event times seen so far allow, whichever is later.
func (r *splitRun[T]) watermark() int64 {
	wm := r.declared
	if r.maxTs == runtime.MinWatermark {
		return wm
	}
	switch {
	case r.op.clock != nil:
		wm = max(wm, r.maxTs-r.op.clock.bound-1)
	case r.op.assign != nil:
		wm = max(wm, r.maxTs-r.op.bound-1)
	}
	return wm
}

// sourceOp is the head of a source task's chain: it reads the subtask's
// splits, stamps event times and origins, and tracks each split's
// watermark and idleness.
type sourceOp[T any] struct {
	opBase
	src         Source[T]
	splits      []assignedSplit
	runs        []*splitRun[T]
	next        runtime.Pusher[T]
	assign      func(T) time.Time
	bound       int64
	idleTimeout time.Duration
	// pollInterval is how soon a split that returned Wait and cannot wake
	// the task is polled again.
	pollInterval time.Duration
	batchSize    int
	bounded      bool
	// polling is set when some unfinished split cannot wake the task.
	polling bool
	// snapped are the positions of the checkpoints taken and not yet
	// completed, for readers that are told when one completes.
	snapped   []snappedPositions
	listeners bool
	retry     retryPolicy
	// hub hands discovered splits to the subtasks of a source with a
	// split enumerator; subtask 0 runs the enumerator.
	hub     *splitHub
	subtask int
	enum    *enumeratorRun
	// clock is set when an AssignTime step chained to the source reads
	// event times per split: it then raises the maxTs of the split being
	// polled, and its bound derives the splits' watermarks.
	clock *splitClock
	// progress paces watermarks within a poll (WatermarkInterval).
	progress watermarkPacer
	// endedSent is the highest watermark of ended splits sent while no
	// split was active, so that it is sent once before the subtask idles.
	endedSent    int64
	endedSentSet bool
}

// snappedPositions are the positions of o.runs[:len(pos)] at checkpoint id.
type snappedPositions struct {
	id  int64
	pos [][]byte
}

func (o *sourceOp[T]) Open(ctx context.Context) error {
	if o.subtask == 0 {
		o.c.reporters.add(o.src, "")
	}
	now := time.Now()
	for _, s := range o.splits {
		if err := o.addSplit(ctx, s, now); err != nil {
			return err
		}
	}
	if o.hub != nil && o.subtask == 0 {
		return o.openEnumerator(ctx, now)
	}
	return nil
}

// addSplit starts reading a split assigned to the subtask.
func (o *sourceOp[T]) addSplit(ctx context.Context, s assignedSplit, now time.Time) error {
	{
		r := &splitRun[T]{
			op: o, split: s.split, origin: s.origin, position: s.position,
			maxTs: runtime.MinWatermark, declared: runtime.MinWatermark, lastActive: now,
		}
		if s.restored {
			// The split resumes with the watermark it had, so nothing
			// already on time becomes late and nothing late on time.
			r.declared = s.watermark
		}
		o.runs = append(o.runs, r)
		if s.ended {
			r.ended = true
			return nil
		}
		rd, err := o.src.OpenSplit(ctx, s.split, s.position)
		if err != nil {
			return fmt.Errorf("open split %q: %w", s.split.ID, err)
		}
		r.reader = rd
		o.c.reporters.add(rd, s.split.ID)
		if w, ok := rd.(WakingReader); ok {
			r.waking = true
			w.SetWake(r.wake)
		}
		if _, ok := rd.(CheckpointListener); ok {
			o.listeners = true
		}
	}
	return nil
}

// Snapshot implements runtime.Stateful: each split's position and
// watermark, ended splits included so that a restored job never reads them
// again.
func (o *sourceOp[T]) Snapshot(_ context.Context, id int64, _ bool) (runtime.OperatorState, error) {
	st := runtime.OperatorState{Splits: make([]runtime.SplitState, len(o.runs))}
	for i, r := range o.runs {
		pos := r.position
		if r.reader != nil {
			// A copy: the checkpoint is written after the reader has
			// read on, and a reader may reuse the slice it returned.
			pos = bytes.Clone(r.reader.Position())
		}
		st.Splits[i] = runtime.SplitState{Split: r.split.ID, Position: pos, Watermark: r.watermark(), Ended: r.ended}
	}
	if o.enum != nil {
		es, err := o.enum.snapshot()
		if err != nil {
			return runtime.OperatorState{}, err
		}
		st.Enumerator = es
	}
	if o.listeners {
		sp := snappedPositions{id: id, pos: make([][]byte, len(st.Splits))}
		for i, s := range st.Splits {
			sp.pos[i] = s.Position
		}
		o.snapped = append(o.snapped, sp)
	}
	return st, nil
}

// CheckpointComplete implements runtime.CheckpointListener: readers that
// listen learn the position checkpoint id holds for their split.
// Positions of earlier checkpoints that never completed are dropped.
func (o *sourceOp[T]) CheckpointComplete(ctx context.Context, id int64) error {
	n := 0
	for n < len(o.snapped) && o.snapped[n].id <= id {
		n++
	}
	if n == 0 || o.snapped[n-1].id != id {
		o.snapped = o.snapped[n:]
		return nil
	}
	sp := o.snapped[n-1]
	o.snapped = o.snapped[n:]
	for i, pos := range sp.pos {
		r := o.runs[i]
		l, ok := r.reader.(CheckpointListener)
		if !ok || r.ended {
			continue
		}
		what := fmt.Sprintf("split %q: checkpoint %d complete", r.split.ID, id)
		if err := o.retry.do(ctx, what, func(ctx context.Context) error { return l.CheckpointComplete(ctx, id, pos) }); err != nil {
			o.meta.Origin = runtime.Origin{}
			return o.fail(err)
		}
	}
	return nil
}

// Poll implements runtime.Source.
func (o *sourceOp[T]) Poll(ctx context.Context, now time.Time) (progressed, ended bool, err error) {
	if o.hub != nil {
		if err := o.discover(ctx, now); err != nil {
			o.meta.Origin = runtime.Origin{}
			return false, false, o.fail(err)
		}
		for _, s := range o.hub.take(o.subtask) {
			if err := o.addSplit(ctx, s, now); err != nil {
				o.meta.Origin = runtime.Origin{}
				return false, false, o.fail(err)
			}
		}
	}
	ended = o.bounded
	o.polling = false
	for _, r := range o.runs {
		if r.ended {
			continue
		}
		if r.waking {
			// Cleared before Poll, so that a wake-up during Poll leads to
			// another one.
			if woken := r.woken.Swap(false); r.waiting && !woken {
				ended = false
				continue
			}
		} else {
			o.polling = true
		}
		r.emitted = 0
		if o.clock != nil {
			o.clock.maxTs = &r.maxTs
		}
		st, err := o.pollSplit(r)
		r.waiting = st == Wait
		if r.err != nil {
			return false, false, r.err
		}
		if err != nil {
			o.meta.Origin = runtime.Origin{}
			return false, false, o.fail(fmt.Errorf("split %q: %w", r.split.ID, err))
		}
		if r.emitted > 0 {
			progressed = true
			r.lastActive = now
		}
		if st == End {
			r.ended = true
			r.position = bytes.Clone(r.reader.Position())
			o.c.reporters.remove(r.reader)
			if err := r.reader.Close(); err != nil {
				o.meta.Origin = runtime.Origin{}
				return false, false, o.fail(fmt.Errorf("split %q: close: %w", r.split.ID, err))
			}
			continue
		}
		ended = false
	}
	return progressed, ended, nil
}

// pollSplit polls r for up to batchSize records. It asks for them in
// chunks, so that between two a watermark can go out once
// WatermarkInterval has passed: a poll that takes long (a slow operator in
// the chain, a full queue downstream) still moves event time, and with an
// interval of zero every record does. It asks again as long as the reader
// fills each chunk and has not ended, whatever else it returned, so that a
// reader gives what one call for batchSize records would have given.
func (o *sourceOp[T]) pollSplit(r *splitRun[T]) (PollStatus, error) {
	chunk := o.progress.chunk
	if chunk <= 0 || chunk >= o.batchSize {
		return r.reader.Poll(r, o.batchSize)
	}
	for {
		before := r.emitted
		n := min(chunk, o.batchSize-before)
		st, err := r.reader.Poll(r, n)
		if err != nil || r.err != nil || st == End || r.emitted-before < n || r.emitted >= o.batchSize {
			return st, err
		}
		if now, due := o.progress.due(); due {
			// The split is active, whatever its idle timeout said
			// before the poll.
			r.lastActive = now
			if r.err = o.task.WatermarkProgress(now); r.err != nil {
				return st, nil
			}
		}
	}
}

// NextPoll implements runtime.Source: a split that cannot wake the task
// is polled every poll interval, and an active split is looked at again
// when its idle timeout runs out; splits that wake the task need nothing.
func (o *sourceOp[T]) NextPoll(now time.Time) time.Time {
	var next time.Time
	if o.polling {
		next = now.Add(o.pollInterval)
	}
	if o.enum != nil && (next.IsZero() || o.enum.next.Before(next)) {
		next = o.enum.next
	}
	if o.idleTimeout > 0 {
		for _, r := range o.runs {
			if r.ended || r.idle {
				continue
			}
			if at := r.lastActive.Add(o.idleTimeout); at.After(now) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next
}

// Watermark implements runtime.Source.
func (o *sourceOp[T]) Watermark(now time.Time) (int64, bool) {
	o.progress.sent(now)
	wm, active := runtime.MaxWatermark, false
	ended := runtime.MinWatermark
	for _, r := range o.runs {
		if r.ended {
			ended = max(ended, r.watermark())
			continue
		}
		if r.idle || (o.idleTimeout > 0 && now.Sub(r.lastActive) >= o.idleTimeout) {
			continue
		}
		active = true
		wm = min(wm, r.watermark())
	}
	if !active {
		// Ended splits hold nothing back, but the records they read last
		// still move the watermark once before the subtask goes idle: an
		// unbounded source whose splits have all ended (it may discover
		// more) must not leave the windows those records close unfired.
		if ended != runtime.MinWatermark && (!o.endedSentSet || ended > o.endedSent) {
			o.endedSent, o.endedSentSet = ended, true
			return ended, false
		}
		return runtime.MinWatermark, true
	}
	return wm, false
}

func (o *sourceOp[T]) Close() error {
	var first error
	if o.enum != nil {
		first = o.enum.e.Close()
		o.enum = nil
	}
	for _, r := range o.runs {
		if r.reader != nil && !r.ended {
			r.ended = true
			o.c.reporters.remove(r.reader)
			if err := r.reader.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}
