package weir

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// EndOfTime is the watermark of an input that has ended: every event-time
// timer is due.
var EndOfTime = time.UnixMilli(math.MaxInt64)

// MinEventTime and MaxEventTime bound the event times records may carry:
// ±2^62 ms, about ±146 million years around 1970, so that no window bound
// overflows. A source meets a record whose event time is outside them (or
// whose time cannot be told from "none", the int64 minimum) with its error
// policy, naming the record's origin and time; the record moves no
// watermark.
var (
	MinEventTime = time.UnixMilli(runtime.MinEventTime)
	MaxEventTime = time.UnixMilli(runtime.MaxEventTime)
)

// Context is what every processing function can ask about the record (or
// timer) at hand.
type Context interface {
	// Timestamp returns the event time of the record being processed, or of
	// the timer firing; false when the record has none.
	Timestamp() (time.Time, bool)
	// Watermark returns the operator's current event-time watermark; the
	// zero Time before the first watermark and EndOfTime after the last.
	Watermark() time.Time
	// ProcessingTime returns the wall clock.
	ProcessingTime() time.Time

	sideOutput(tag string) any
}

// Timers registers and deletes the current key's timers. Registering a
// timer that exists (same key, time and domain) does nothing.
type Timers interface {
	RegisterEventTime(t time.Time) error
	DeleteEventTime(t time.Time) error
	RegisterProcessingTime(t time.Time) error
	DeleteProcessingTime(t time.Time) error
}

// KeyedContext is the Context of a keyed function: the current key, and
// timers scoped to it.
type KeyedContext[K comparable] interface {
	Context
	Key() K
	Timers() Timers
	scope() *keyedCtx[K]
}

// TimerContext is the KeyedContext of a firing timer.
type TimerContext[K comparable] interface {
	KeyedContext[K]
	// Domain says which clock the firing timer follows.
	Domain() TimeDomain
	// Time is the time the firing timer was registered for, in its domain.
	Time() time.Time
}

// OpenContext describes the operator subtask being opened.
type OpenContext interface {
	OperatorName() string
	OperatorID() string
	Subtask() int
	Parallelism() int
}

// KeyedOpenContext is the OpenContext of a keyed function; keyed state is
// declared with it (Value, List, MapOf).
type KeyedOpenContext[K comparable] interface {
	OpenContext
	// KeyType names K, the type of the stream's keys. When a state is
	// declared with a context of another key type, as with the type
	// arguments of Value written key first, the compiler names both key
	// types through this method.
	KeyType() KeyType[K]

	open() *keyedOpenCtx[K]
}

// KeyType stands for the key type K of a keyed stream. A compile error
// about mismatched key types names it, for example for
// weir.Value[string, int](oc, "n") with oc a KeyedOpenContext[string]
// (Value's type arguments are the value's type, then the key's):
//
//	have KeyType() weir.KeyType[string]
//	want KeyType() weir.KeyType[int]
type KeyType[K comparable] struct{}

// String returns the name of K, such as "string".
func (KeyType[K]) String() string { return reflect.TypeFor[K]().String() }

// KeyedProcessFunction processes the records of a keyed stream one by one,
// with keyed state and timers. Optional capabilities are found by type
// assertion: KeyedOpener (declare state), KeyedTimerHandler (timers fire)
// and Closer.
//
// Assert that your type implements it where the type is declared, so that
// the compiler names the method it lacks or gets wrong, with the type
// arguments spelled out (docs/errors.md):
//
//	var _ weir.KeyedProcessFunction[string, View, Alert] = (*detector)(nil)
type KeyedProcessFunction[K comparable, T, R any] interface {
	Process(c KeyedContext[K], v T, out Out[R]) error
}

// KeyedOpener is implemented by keyed functions that declare state or
// prepare before the first record.
//
// It is found by type assertion, so an Open with another signature (one
// taking the KeyedOpenContext of another key type, say) is no compile
// error: it is never called. Assert the capability where the function is
// declared to have the compiler check it:
//
//	var _ weir.KeyedOpener[string] = (*detector)(nil)
type KeyedOpener[K comparable] interface {
	Open(c KeyedOpenContext[K]) error
}

// KeyedTimerHandler is implemented by keyed functions that use timers. It
// is found by type assertion, as KeyedOpener is; assert it likewise:
//
//	var _ weir.KeyedTimerHandler[string, Alert] = (*detector)(nil)
type KeyedTimerHandler[K comparable, R any] interface {
	OnTimer(c TimerContext[K], out Out[R]) error
}

// BarrierHandler is implemented by keyed functions that act at checkpoint
// boundaries. OnBarrier runs on the task goroutine when the barrier of
// checkpoint id reaches the operator: after every record before the
// barrier and before any record after it, just before the operator's
// state is snapshotted. Every subtask of the operator gets the same ids
// in the same order, so a change made at a given id (a new version of
// the function's code, say) divides the stream at the same point in
// every subtask, and the checkpoint holds state made by the old version
// only. It is not called in a job without checkpoints. An error declines
// the checkpoint. It is found by type assertion, as KeyedOpener is:
//
//	var _ weir.BarrierHandler = (*detector)(nil)
type BarrierHandler interface {
	OnBarrier(checkpointID int64) error
}

// Closer is implemented by functions that release resources when their
// operator closes.
type Closer interface {
	Close() error
}

// ProcessFunc adapts a plain function to KeyedProcessFunction.
type ProcessFunc[K comparable, T, R any] func(c KeyedContext[K], v T, out Out[R]) error

// Process implements KeyedProcessFunction.
func (f ProcessFunc[K, T, R]) Process(c KeyedContext[K], v T, out Out[R]) error { return f(c, v, out) }

// ErrNotKeyed reports keyed state or timers used with a context that is not
// the one the runtime handed to a keyed function.
var ErrNotKeyed = errors.New("weir: keyed state used outside its keyed function")

// Process runs fn on every record of a keyed stream. Each parallel subtask
// gets its own shallow copy of fn when fn is a pointer to a struct, so the
// state handles it declares in Open are its own; fields set before the job
// runs are shared and must only be read. Pass fn by pointer when its Open,
// OnTimer or Close has a pointer receiver: passed by value, they would
// never be called, and Validate reports it. Validate also checks the types
// of the state handles among fn's fields (see Value).
//
// F, fn's own type, is a type parameter rather than fn a
// KeyedProcessFunction so that a compile error names the method fn lacks
// or gets wrong (docs/errors.md).
func Process[K comparable, T, R any, F KeyedProcessFunction[K, T, R]](ks KeyedStream[K, T], fn F) Stream[R] {
	return process[K, T, R](ks, fn)
}

func process[K comparable, T, R any](ks KeyedStream[K, T], fn KeyedProcessFunction[K, T, R]) Stream[R] {
	s := ks.s
	n := s.n.env.addNode("process", newEdge[T](s.n, "", hashed, hashRoute(ks.key, ks.keys)))
	n.keyed = true
	n.fanout = fanoutOf[R]
	n.check = func() error { return checkKeyedFunc[K, R](fn) }
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		fn := cloneFunc(fn)
		op := &keyedProcessOp[K, T, R]{fn: fn, key: ks.key}
		op.keyedCore = newKeyedCore[K, R](b, ks.keys, fn, op)
		return op, op, nil
	}
	return Stream[R]{n: n}
}

// keyedCtx is the context handed to keyed user code; one per operator
// subtask, updated for every record.
type keyedCtx[K comparable] struct {
	op     interface{ timerService() *timerService[K] }
	key    K
	kg     int
	ts     int64
	wm     int64
	domain TimeDomain
	timer  int64 // the firing timer's time
	sides  map[string]any
	counts *counters // the operator's, for windows that count late records
	bstate any       // a broadcast-process operator's *BroadcastState[S]
}

func (c *keyedCtx[K]) Key() K              { return c.key }
func (c *keyedCtx[K]) Timers() Timers      { return c }
func (c *keyedCtx[K]) Domain() TimeDomain  { return c.domain }
func (c *keyedCtx[K]) Time() time.Time     { return time.UnixMilli(c.timer) }
func (c *keyedCtx[K]) scope() *keyedCtx[K] { return c }
func (c *keyedCtx[K]) broadcastState() any { return c.bstate }
func (c *keyedCtx[K]) sideOutput(tag string) any {
	return c.sides[tag]
}

func (c *keyedCtx[K]) Timestamp() (time.Time, bool) {
	if c.ts == runtime.NoTimestamp {
		return time.Time{}, false
	}
	return time.UnixMilli(c.ts), true
}

func (c *keyedCtx[K]) Watermark() time.Time { return watermarkTime(c.wm) }

func (c *keyedCtx[K]) ProcessingTime() time.Time { return time.Now() }

func (c *keyedCtx[K]) RegisterEventTime(t time.Time) error {
	return c.op.timerService().register(EventTimeDomain, c.kg, c.key, t.UnixMilli())
}

func (c *keyedCtx[K]) DeleteEventTime(t time.Time) error {
	return c.op.timerService().remove(EventTimeDomain, c.kg, c.key, t.UnixMilli())
}

func (c *keyedCtx[K]) RegisterProcessingTime(t time.Time) error {
	return c.op.timerService().register(ProcessingTimeDomain, c.kg, c.key, t.UnixMilli())
}

func (c *keyedCtx[K]) DeleteProcessingTime(t time.Time) error {
	return c.op.timerService().remove(ProcessingTimeDomain, c.kg, c.key, t.UnixMilli())
}

func watermarkTime(wm int64) time.Time {
	switch wm {
	case runtime.MinWatermark:
		return time.Time{}
	case runtime.MaxWatermark:
		return EndOfTime
	}
	return time.UnixMilli(wm)
}

// Output emits v to the side output tag from a processing function.
// Records emitted to a tag nobody reads are dropped.
func Output[X any](c Context, tag OutputTag[X], v X) {
	if p, ok := c.sideOutput(tag.id).(*out[X]); ok {
		p.Emit(v)
	}
}

// keyedOpenCtx is the KeyedOpenContext handed to Open; mistakes made while
// declaring state are kept and fail the operator when Open returns.
type keyedOpenCtx[K comparable] struct {
	name, id             string
	subtask, parallelism int
	backend              state.Backend
	keys                 keyInfo[K]
	err                  error
}

func (c *keyedOpenCtx[K]) OperatorName() string   { return c.name }
func (c *keyedOpenCtx[K]) OperatorID() string     { return c.id }
func (c *keyedOpenCtx[K]) Subtask() int           { return c.subtask }
func (c *keyedOpenCtx[K]) Parallelism() int       { return c.parallelism }
func (c *keyedOpenCtx[K]) KeyType() KeyType[K]    { return KeyType[K]{} }
func (c *keyedOpenCtx[K]) open() *keyedOpenCtx[K] { return c }
func (c *keyedOpenCtx[K]) fail(err error)         { c.err = errors.Join(c.err, err) }

// keyedCore is what every keyed operator has: the subtask's state backend
// and timers, the context that carries the current key, and the output. The
// operators embedding it (process, co-process) only route records to the
// user function.
type keyedCore[K comparable, R any] struct {
	opBase
	user        any // the user function, for its optional interfaces
	timerFn     KeyedTimerHandler[K, R]
	keys        keyInfo[K]
	keyGroups   state.KeyGroupRange
	stateCfg    state.Config
	openState   func(state.Config) (state.Backend, error)
	subtask     int
	parallelism int

	restore *opRestore
	backend state.Backend
	timers  *timerService[K]
	// done is closed when the job stops: timer firing checks it.
	done <-chan struct{}
	ctx  keyedCtx[K]
	out  out[R]
}

func newKeyedCore[K comparable, R any](b *opBuild, keys keyInfo[K], user any, op interface{ timerService() *timerService[K] }) keyedCore[K, R] {
	c := keyedCore[K, R]{
		opBase:    newOpBase(b),
		user:      user,
		keys:      keys,
		keyGroups: b.keyGroups,
		stateCfg: state.Config{
			OperatorID:     b.id,
			KeyGroups:      b.keyGroups,
			MaxParallelism: b.cfg.maxParallelism,
			Subtask:        b.subtask,
			Parallelism:    b.parallelism,
		},
		openState:   b.cfg.backend.open,
		subtask:     b.subtask,
		parallelism: b.parallelism,
		restore:     b.restore,
		done:        b.job.Done(),
	}
	c.timerFn, _ = user.(KeyedTimerHandler[K, R])
	c.ctx = keyedCtx[K]{sides: b.sides, op: op, counts: c.c}
	c.out = out[R]{next: b.main.(runtime.Pusher[R]), meta: b.meta, idx: b.idx, count: &c.c.out}
	return c
}

// Snapshot implements runtime.Stateful: a copy-on-write snapshot of the
// keyed state and timers.
func (o *keyedCore[K, R]) Snapshot(_ context.Context, id int64, savepoint bool) (runtime.OperatorState, error) {
	if h, ok := o.user.(BarrierHandler); ok {
		if err := h.OnBarrier(id); err != nil {
			return runtime.OperatorState{}, err
		}
	}
	snap, err := state.SnapshotFor(o.backend, savepoint)
	return runtime.OperatorState{State: snap}, err
}

func (o *keyedCore[K, R]) timerService() *timerService[K] { return o.timers }

func (o *keyedCore[K, R]) Open(context.Context) (err error) {
	b, err := o.openState(o.stateCfg)
	if err != nil {
		return err
	}
	o.backend = b
	// An operator whose Open fails is not closed: it releases its state
	// itself (a disk backend holds files and goroutines).
	defer func() {
		if err != nil {
			if cerr := b.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			o.backend = nil
		}
	}()
	if err := o.restore.into(b); err != nil {
		return err
	}
	if o.timers, err = newTimerService(b, o.keys); err != nil {
		return err
	}
	o.ctx.wm = runtime.MinWatermark
	if op, ok := o.user.(KeyedOpener[K]); ok {
		oc := &keyedOpenCtx[K]{name: o.name, id: o.id, subtask: o.subtask, parallelism: o.parallelism, backend: b, keys: o.keys}
		if err := op.Open(oc); err != nil {
			return err
		}
		if oc.err != nil {
			// A state declared wrong fails every run alike.
			return permanent(oc.err)
		}
	}
	return nil
}

// begin sets the context for a record with key k; the keyed exchange in
// front of the operator hashed the key already.
func (o *keyedCore[K, R]) begin(k K) error {
	o.enter()
	kg := int(o.meta.KG)
	if !o.keyGroups.Contains(kg) {
		return o.fail(fmt.Errorf("record with key group %d reached the subtask owning %s", kg, o.keyGroups))
	}
	o.ctx.key, o.ctx.kg, o.ctx.ts, o.ctx.domain = k, kg, o.meta.Ts, EventTimeDomain
	o.c.in++
	return nil
}

// nanKey handles a record v whose key k holds NaN: it has no state, so the
// record is an error of the operator, under its error policy.
func (o *keyedCore[K, R]) nanKey(k K, v any) error {
	o.enter()
	o.c.in++
	if p, ok := v.(interface{ record() any }); ok {
		v = p.record()
	}
	return o.handle(errNaNKey{key: k}, v)
}

// end finishes a call of user code: a downstream failure is passed on as
// it is. The code's own error for a record goes to failed.
func (o *keyedCore[K, R]) end() error {
	if err := o.out.take(); err != nil {
		return err
	}
	return o.sideErr()
}

// failed finishes a call of user code that returned err for the record v,
// which goes to the error policy. It is apart from end so that v is boxed
// only when something failed.
func (o *keyedCore[K, R]) failed(err error, v any) error {
	if derr := o.end(); derr != nil {
		return derr
	}
	return o.handle(err, v)
}

func (o *keyedCore[K, R]) OnWatermark(wm int64) error {
	o.ctx.wm = wm
	if o.timers.next(EventTimeDomain) > wm {
		return nil
	}
	return o.timers.fire(EventTimeDomain, wm, o.done, func(t timer[K]) error { return o.onTimer(EventTimeDomain, t) })
}

func (o *keyedCore[K, R]) NextProcessingTime() int64 {
	return o.timers.next(ProcessingTimeDomain)
}

func (o *keyedCore[K, R]) OnProcessingTime(now int64) error {
	return o.timers.fire(ProcessingTimeDomain, now, o.done, func(t timer[K]) error { return o.onTimer(ProcessingTimeDomain, t) })
}

func (o *keyedCore[K, R]) onTimer(d TimeDomain, t timer[K]) error {
	if o.timerFn == nil {
		return nil
	}
	o.enter()
	o.meta.Ts, o.meta.Origin = t.ts, runtime.Origin{}
	if d == ProcessingTimeDomain {
		o.meta.Ts = runtime.NoTimestamp
	}
	o.ctx.key, o.ctx.kg, o.ctx.ts, o.ctx.domain, o.ctx.timer = t.key, t.kg, o.meta.Ts, d, t.ts
	if err := o.timerFn.OnTimer(&o.ctx, &o.out); err != nil {
		return o.task.TimerError(o.idx, err)
	}
	if err := o.out.take(); err != nil {
		return err
	}
	return o.sideErr()
}

func (o *keyedCore[K, R]) Housekeep() {
	if o.backend != nil {
		o.backend.ExpireSome(1000)
	}
}

func (o *keyedCore[K, R]) Close() error {
	var errs []error
	if c, ok := o.user.(Closer); ok {
		errs = append(errs, c.Close())
	}
	if o.backend != nil {
		errs = append(errs, o.backend.Close())
	}
	return errors.Join(errs...)
}

// sideErr returns a downstream failure kept by a side output.
func (o *keyedCore[K, R]) sideErr() error {
	if len(o.ctx.sides) == 0 {
		return nil
	}
	for _, p := range o.ctx.sides {
		if s, ok := p.(interface{ take() error }); ok {
			if err := s.take(); err != nil {
				return err
			}
		}
	}
	return nil
}

// keyedProcessOp runs a KeyedProcessFunction.
type keyedProcessOp[K comparable, T, R any] struct {
	keyedCore[K, R]
	fn  KeyedProcessFunction[K, T, R]
	key func(T) K
}

func (o *keyedProcessOp[K, T, R]) Push(v T) error {
	k := o.key(v)
	if o.keys.nan(k) {
		return o.nanKey(k, v)
	}
	if err := o.begin(k); err != nil {
		return err
	}
	if err := o.fn.Process(&o.ctx, v, &o.out); err != nil {
		return o.failed(err, v)
	}
	return o.end()
}
