package weir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// ErrAsyncTimeout is the error of an AsyncMap request whose attempt ran
// past its AsyncTimeout.
var ErrAsyncTimeout = errors.New("async request timed out")

// AsyncOption configures AsyncMap.
type AsyncOption interface{ applyAsync(*asyncConfig) }

type asyncOptionFunc func(*asyncConfig)

func (f asyncOptionFunc) applyAsync(c *asyncConfig) { f(c) }

// asyncConfig is how an AsyncMap operator runs its requests.
type asyncConfig struct {
	capacity  int
	timeout   time.Duration
	retries   int
	backoff   time.Duration
	retryIf   func(error) bool // nil: every error that is not Permanent
	unordered bool
	drain     time.Duration
}

func defaultAsyncConfig() asyncConfig {
	return asyncConfig{capacity: 100, timeout: 10 * time.Second}
}

func (c asyncConfig) validate() error {
	var errs []error
	if c.capacity <= 0 {
		errs = append(errs, fmt.Errorf("AsyncCapacity: %d must be positive", c.capacity))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("AsyncTimeout: %v must be positive", c.timeout))
	}
	if c.drain < 0 {
		errs = append(errs, fmt.Errorf("AsyncDrain: %v must not be negative", c.drain))
	}
	if c.retries < 0 || c.backoff < 0 {
		errs = append(errs, fmt.Errorf("AsyncRetries: %d retries and backoff %v must not be negative", c.retries, c.backoff))
	}
	return errors.Join(errs...)
}

// AsyncCapacity sets the most records a subtask holds (default 100):
// requests in flight, and completed ones whose results wait for an earlier
// record's in input order. A record arriving when that many are held waits
// for room: that is the operator's backpressure, and its memory bound.
func AsyncCapacity(n int) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.capacity = n })
}

// AsyncTimeout sets how long one attempt may take (default 10s): the
// context the function gets is canceled after d, and an attempt whose
// function returns an error after that has timed out.
func AsyncTimeout(d time.Duration) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.timeout = d })
}

// AsyncRetries makes a failed or timed-out attempt be retried up to n times
// after the first, waiting backoff before the first retry and twice as long
// before each next one (default: no retries). Which errors are retried is
// AsyncRetryIf's to say: by default every error but one marked Permanent.
// A record that still fails after more than one attempt meets the error
// policy with the last attempt's error, wrapped to read "after N attempts:
// …" (so in a dead letter's error too).
func AsyncRetries(n int, backoff time.Duration) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.retries, c.backoff = n, backoff })
}

// AsyncRetryIf makes AsyncMap retry only the errors for which retryable
// returns true (a timeout, a connection refused, a 503), up to the
// AsyncRetries limit. Any other error, such as a 404 that the next attempt
// would get again, meets the operator's error policy at once, without the
// retries or their backoff. A timed-out attempt's error is ErrAsyncTimeout
// (errors.Is). An error marked Permanent is never retried, whatever
// retryable says. retryable runs on the request's goroutine, several at
// once, so it must be safe for concurrent use.
//
// Without AsyncRetryIf every error is retried except those marked
// Permanent: wrapping the errors that retrying cannot fix with Permanent in
// the function is the other way to say the same.
func AsyncRetryIf(retryable func(err error) bool) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.retryIf = retryable })
}

// retryable reports whether the error of an attempt is worth another.
func (c asyncConfig) retryable(err error) bool {
	if IsPermanent(err) {
		return false
	}
	return c.retryIf == nil || c.retryIf(err)
}

// AsyncDrain makes a job that stops with a savepoint (StopOn) let the
// requests in flight finish, with their retries, for up to d before it
// ends, instead of canceling them at once: for requests whose effect is
// outside the job (a post to an endpoint), so that a stop does not cut
// them off. Their records are in the savepoint all the same and are sent
// again after a restore. A job that is canceled or fails cancels its
// requests at once; at the end of a bounded input every request finishes
// anyway.
func AsyncDrain(d time.Duration) AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.drain = d })
}

// AsyncUnordered emits results as they complete instead of in input order.
// Watermarks still never overtake a record: results of the records before
// a watermark are emitted before it, in either mode. The operator does not
// wait at a watermark: it keeps taking records and holds the watermark
// back, passing it on once every earlier record's result is out.
func AsyncUnordered() AsyncOption {
	return asyncOptionFunc(func(c *asyncConfig) { c.unordered = true })
}

// asyncMapKind is the kind of AsyncMap's nodes, which keep the records in
// flight in a state backend.
const asyncMapKind = "async-map"

// AsyncMap calls fn for every record without waiting for it: up to
// AsyncCapacity calls per subtask are in flight at once, so a stream can be
// enriched from a database or service at the throughput of many concurrent
// requests rather than one round trip per record. Results are emitted in
// input order (or as they complete, with AsyncUnordered), each with the
// event time of its input.
//
// fn runs on goroutines of its own, several at once: it must be safe for
// concurrent use, and it must return when ctx is done — ctx carries the
// attempt's timeout and is canceled when the job stops, and the operator
// waits for every call to return before it closes. An error after the last
// retry — or at once, for an error that AsyncRetryIf or Permanent says is not
// worth retrying — meets the operator's error policy with the input record;
// a panic fails the job.
//
// With checkpoints, the inputs of requests still in flight at a barrier are
// part of the checkpoint and are sent again after a restore, so no record is
// lost; fn may thus be called more than once for a record (at-least-once
// calls), and the input type needs a codec (see package codec).
func AsyncMap[T, R any](s Stream[T], fn func(ctx context.Context, v T) (R, error), opts ...AsyncOption) Stream[R] {
	cfg := defaultAsyncConfig()
	for _, o := range opts {
		o.applyAsync(&cfg)
	}
	n := oneInput(s, asyncMapKind)
	if err := cfg.validate(); err != nil {
		s.n.env.fail(fmt.Errorf("async map after %q: %w", s.n.displayName(), err))
	}
	n.fanout = fanoutOf[R]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		c, err := codec.For[T]()
		if err != nil && (b.checkpoints || b.restore != nil) {
			return nil, nil, fmt.Errorf("checkpointing the records in flight: input type: %w", err)
		}
		op := &asyncOp[T, R]{
			opBase:  newOpBase(b),
			fn:      fn,
			cfg:     cfg,
			next:    b.main.(runtime.Pusher[R]),
			codec:   asyncEntryCodec[T]{c},
			restore: b.restore,
			job:     b.job,
			stateCfg: state.Config{
				OperatorID:     b.id,
				KeyGroups:      b.keyGroups,
				MaxParallelism: b.cfg.maxParallelism,
				Subtask:        b.subtask,
				Parallelism:    b.parallelism,
			},
			done: make(chan *asyncEntry[T, R], cfg.capacity),
		}
		op.drainFn = op.drain
		op.openState = b.cfg.backend.open
		return op, op, nil
	}
	return Stream[R]{n: n}
}

// asyncEntry is one record whose request has not been emitted yet. The
// goroutine running the request writes out, err and panicked, and hands
// the entry back over the done channel; everything else belongs to the
// task goroutine.
type asyncEntry[T, R any] struct {
	in       T
	seq      uint64 // the entry's place in input order
	ts       int64
	origin   runtime.Origin
	out      R
	err      error
	panicked bool
	started  bool
	finished bool // the request has completed and the task has seen it
}

// asyncOp runs AsyncMap for one subtask.
//
// Requests run on goroutines the operator owns (wg); each hands its entry
// back on done, whose capacity is the most requests in flight, so it never
// blocks, and wakes the task by posting drain to the task's mailbox — at
// most one post pending at a time (posted). Results are emitted only on the
// task goroutine: in Push, in drain, and at the final watermark and end
// of input. queue holds every entry not emitted yet, in input order; that
// is what a checkpoint records. A watermark does not wait for the requests
// before it: it is noted in marks with the number of entries queued before
// it and released (held) once all of those are emitted (see
// runtime.WatermarkHolder).
type asyncOp[T, R any] struct {
	opBase
	fn       func(context.Context, T) (R, error)
	cfg      asyncConfig
	next     runtime.Pusher[R]
	codec    asyncEntryCodec[T]
	restore  *opRestore
	stateCfg state.Config
	backend  state.Backend
	list     state.OperatorList[asyncSaved[T]]
	// openState opens the state backend the job chose.
	openState func(state.Config) (state.Backend, error)

	// life is the lifetime of the operator's requests: Push has no
	// context, and the requests outlive any one call, so the operator
	// derives it from the job's context (job) and cancels it in Close; a
	// job that stops or fails cancels the requests in flight at once.
	job    context.Context
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	done      chan *asyncEntry[T, R]
	posted    atomic.Bool
	drainFn   func(context.Context) error
	queue     []*asyncEntry[T, R]
	inflight  int    // started and not yet seen completed
	unstarted int    // restored entries not started yet
	queued    uint64 // entries queued so far: the next entry's seq
	marks     []asyncMark
	held      int64 // the latest watermark released
}

// asyncMark is a watermark the operator has been given and not released:
// it goes on once the entries queued before it (seq below before) are
// emitted.
type asyncMark struct {
	wm     int64
	before uint64
}

func (o *asyncOp[T, R]) Open(context.Context) (err error) {
	o.life, o.cancel = context.WithCancel(o.job)
	o.held = runtime.MinWatermark
	b, err := o.openState(o.stateCfg)
	if err != nil {
		o.cancel()
		return err
	}
	o.backend = b
	// An operator whose Open fails is not closed: it releases its state
	// itself (a disk backend holds files and goroutines).
	defer func() {
		if err != nil {
			o.cancel()
			if cerr := b.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			o.backend = nil
		}
	}()
	if err := o.restore.into(b); err != nil {
		return err
	}
	if o.codec.value != nil {
		if o.list, err = state.NewOperatorList[asyncSaved[T]](b, "_async", state.Split, o.codec); err != nil {
			return err
		}
		saved, err := o.list.Get()
		if err != nil {
			return err
		}
		// The requests that were in flight at the checkpoint are sent
		// again, in their order; at most capacity of them at once.
		for _, s := range saved {
			o.enqueue(&asyncEntry[T, R]{in: s.In, ts: s.Ts, origin: s.Origin})
		}
		o.unstarted = len(saved)
		// They enter the operator again, from the checkpoint: counted so
		// that what this run emits balances what it took in.
		o.c.in += int64(len(saved))
		o.fill()
	}
	return nil
}

// Push starts a request for v, first waiting for room among the records
// held.
func (o *asyncOp[T, R]) Push(v T) error {
	o.enter()
	o.c.in++
	// Emitting changes the task's Meta; the operators before this one in
	// the chain expect it unchanged when Push returns.
	ts, origin := o.meta.Ts, o.meta.Origin
	defer func() { o.meta.Ts, o.meta.Origin = ts, origin }()
	for len(o.queue) >= o.cfg.capacity || o.unstarted > 0 {
		o.fill()
		if len(o.queue) < o.cfg.capacity && o.unstarted == 0 {
			break
		}
		if err := o.completed(<-o.done); err != nil {
			return err
		}
	}
	e := &asyncEntry[T, R]{in: v, ts: ts, origin: origin}
	o.enqueue(e)
	o.start(e)
	return nil
}

// enqueue appends e to the queue in input order.
func (o *asyncOp[T, R]) enqueue(e *asyncEntry[T, R]) {
	e.seq = o.queued
	o.queued++
	o.queue = append(o.queue, e)
}

// fill starts restored entries, in order, while there is room.
func (o *asyncOp[T, R]) fill() {
	for _, e := range o.queue {
		if o.unstarted == 0 || o.inflight >= o.cfg.capacity {
			return
		}
		if !e.started {
			o.unstarted--
			o.start(e)
		}
	}
}

func (o *asyncOp[T, R]) start(e *asyncEntry[T, R]) {
	e.started = true
	o.inflight++
	o.wg.Add(1)
	go o.call(o.life, e)
}

// call runs the request of e on its own goroutine, with the attempts and
// backoff the options allow, and hands e back to the task.
func (o *asyncOp[T, R]) call(ctx context.Context, e *asyncEntry[T, R]) {
	defer o.wg.Done()
	backoff := o.cfg.backoff
	for attempt := 0; ; attempt++ {
		e.out, e.err, e.panicked = o.attempt(ctx, e.in)
		if e.err == nil || e.panicked || attempt == o.cfg.retries || ctx.Err() != nil || !o.cfg.retryable(e.err) {
			if e.err != nil && attempt > 0 {
				e.err = fmt.Errorf("after %d attempts: %w", attempt+1, e.err)
			}
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff *= 2
	}
	o.done <- e
	o.wake()
}

func (o *asyncOp[T, R]) attempt(ctx context.Context, v T) (r R, err error, panicked bool) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err, panicked = fmt.Errorf("panic: %v", p), true
		}
	}()
	r, err = o.fn(ctx, v)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Not wrapped: an error that is a context's would read as the
		// job's cancellation rather than as this record's failure.
		err = fmt.Errorf("%w after %v: %v", ErrAsyncTimeout, o.cfg.timeout, err)
	}
	return r, err, false
}

// wake makes the task loop drain completions soon: a post to its mailbox
// unless one is pending already. When the mailbox is full the task wakes
// for what is in it, and NextProcessingTime sees the completions.
func (o *asyncOp[T, R]) wake() {
	if !o.posted.CompareAndSwap(false, true) {
		return
	}
	select {
	case o.task.Mailbox <- o.drainFn:
	default:
		o.posted.Store(false)
	}
}

// drain runs on the task goroutine (from its mailbox): it takes the
// completed requests and emits what is ready.
func (o *asyncOp[T, R]) drain(context.Context) error {
	o.posted.Store(false)
	o.enter()
	for {
		select {
		case e := <-o.done:
			if err := o.completed(e); err != nil {
				return err
			}
		default:
			o.fill()
			return nil
		}
	}
}

// completed takes in a completed request and emits what it made ready.
func (o *asyncOp[T, R]) completed(e *asyncEntry[T, R]) error {
	e.finished = true
	o.inflight--
	return o.emitReady()
}

// emitReady emits the finished entries that may go: from the head of the
// queue in order, or all of them unordered.
func (o *asyncOp[T, R]) emitReady() error {
	if o.cfg.unordered {
		for i := 0; i < len(o.queue); {
			e := o.queue[i]
			if !e.finished {
				i++
				continue
			}
			o.queue = slices.Delete(o.queue, i, i+1)
			if err := o.emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	for len(o.queue) > 0 && o.queue[0].finished {
		e := o.queue[0]
		o.queue[0] = nil
		o.queue = o.queue[1:]
		if err := o.emit(e); err != nil {
			return err
		}
	}
	return nil
}

// emit sends e's result downstream with its input's event time and origin,
// or hands its error to the error policy with the input record.
func (o *asyncOp[T, R]) emit(e *asyncEntry[T, R]) error {
	o.meta.Ts, o.meta.Origin = e.ts, e.origin
	o.enter()
	switch {
	case e.panicked:
		return o.fail(e.err)
	case e.err != nil && o.job.Err() != nil:
		// The job is stopping: the request failed because it was
		// canceled, which says nothing of the record.
		return o.job.Err()
	case e.err != nil:
		return o.handle(e.err, e.in)
	}
	o.c.out++
	err := o.next.Push(e.out)
	o.enter()
	return err
}

// flushAll waits for every request and emits every result.
func (o *asyncOp[T, R]) flushAll() error {
	o.enter()
	if err := o.emitReady(); err != nil {
		return err
	}
	for len(o.queue) > 0 {
		o.fill()
		if err := o.completed(<-o.done); err != nil {
			return err
		}
	}
	return nil
}

// OnWatermark notes the watermark, to be released once the results of the
// records before it are out; the final watermark waits for all of them.
func (o *asyncOp[T, R]) OnWatermark(wm int64) error {
	if n := len(o.marks); n > 0 && o.marks[n-1].before == o.queued {
		o.marks[n-1].wm = wm // no record between the two
	} else {
		o.marks = append(o.marks, asyncMark{wm: wm, before: o.queued})
	}
	if wm == runtime.MaxWatermark {
		return o.flushAll()
	}
	return nil
}

// HeldWatermark implements runtime.WatermarkHolder: the latest watermark
// every record before which has had its result emitted.
func (o *asyncOp[T, R]) HeldWatermark() int64 {
	pending := o.queued // the seq of the earliest entry not emitted
	if len(o.queue) > 0 {
		pending = o.queue[0].seq
	}
	i := 0
	for i < len(o.marks) && o.marks[i].before <= pending {
		o.held = o.marks[i].wm
		i++
	}
	if i > 0 {
		o.marks = append(o.marks[:0], o.marks[i:]...)
	}
	return o.held
}

// Holding implements runtime.WatermarkHolder: whether records wait for
// their results.
func (o *asyncOp[T, R]) Holding() bool { return len(o.queue) > 0 }

// EndInput emits every remaining result.
func (o *asyncOp[T, R]) EndInput() error { return o.flushAll() }

// NextProcessingTime implements runtime.ProcessingTimer: completions that
// wait to be drained are due at once. It is the fallback for a wake-up the
// full mailbox could not take.
func (o *asyncOp[T, R]) NextProcessingTime() int64 {
	if len(o.done) > 0 {
		return 0
	}
	return runtime.MaxWatermark
}

// OnProcessingTime implements runtime.ProcessingTimer.
func (o *asyncOp[T, R]) OnProcessingTime(int64) error { return o.drain(context.Background()) }

// Snapshot implements runtime.Stateful: the inputs of every entry not
// emitted yet go into the checkpoint, in order; what was emitted is
// downstream of the barrier already.
func (o *asyncOp[T, R]) Snapshot(_ context.Context, _ int64, savepoint bool) (runtime.OperatorState, error) {
	if o.list == nil {
		return runtime.OperatorState{}, errors.New("the input type has no codec")
	}
	saved := make([]asyncSaved[T], len(o.queue))
	for i, e := range o.queue {
		saved[i] = asyncSaved[T]{In: e.in, Ts: e.ts, Origin: e.origin}
	}
	if err := o.list.Update(saved); err != nil {
		return runtime.OperatorState{}, err
	}
	snap, err := state.SnapshotFor(o.backend, savepoint)
	return runtime.OperatorState{State: snap}, err
}

// Close cancels the requests in flight and waits for them; with
// AsyncDrain, after a stop with a savepoint (the job's context is not
// done), it first waits for them for up to the drain time.
func (o *asyncOp[T, R]) Close() error {
	if o.cancel != nil {
		if o.cfg.drain > 0 && o.job.Err() == nil {
			o.drainInFlight()
		}
		o.cancel()
	}
	o.wg.Wait()
	if o.backend != nil {
		return o.backend.Close()
	}
	return nil
}

// drainInFlight waits for the requests in flight to complete, for at
// most the drain time. Their results are not emitted: the job has ended,
// and its savepoint holds their records.
func (o *asyncOp[T, R]) drainInFlight() {
	t := time.NewTimer(o.cfg.drain)
	defer t.Stop()
	for o.inflight > 0 {
		select {
		case <-o.done:
			o.inflight--
		case <-t.C:
			return
		}
	}
}

// asyncSaved is an entry in a checkpoint: the input with its event time and
// origin.
type asyncSaved[T any] struct {
	In     T
	Ts     int64
	Origin runtime.Origin
}

// asyncEntryCodec encodes a saved entry: event time, origin split and
// offset, then the input.
type asyncEntryCodec[T any] struct{ value codec.Codec[T] }

func (c asyncEntryCodec[T]) Append(dst []byte, s asyncSaved[T]) []byte {
	dst = codec.Int64().Append(dst, s.Ts)
	dst = codec.Int32().Append(dst, s.Origin.Split)
	dst = codec.Int64().Append(dst, s.Origin.Offset)
	return c.value.Append(dst, s.In)
}

func (c asyncEntryCodec[T]) Decode(src []byte) (asyncSaved[T], int, error) {
	var s asyncSaved[T]
	n := 0
	var err error
	var m int
	if s.Ts, m, err = codec.Int64().Decode(src); err != nil {
		return s, 0, err
	}
	n += m
	if s.Origin.Split, m, err = codec.Int32().Decode(src[n:]); err != nil {
		return s, 0, err
	}
	n += m
	if s.Origin.Offset, m, err = codec.Int64().Decode(src[n:]); err != nil {
		return s, 0, err
	}
	n += m
	if s.In, m, err = c.value.Decode(src[n:]); err != nil {
		return s, 0, err
	}
	return s, n + m, nil
}

var (
	_ runtime.Stateful        = (*asyncOp[int, int])(nil)
	_ runtime.ProcessingTimer = (*asyncOp[int, int])(nil)
	_ runtime.Publisher       = (*asyncOp[int, int])(nil)
	_ runtime.WatermarkHolder = (*asyncOp[int, int])(nil)
)
