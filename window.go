package weir

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// Window is a time window: the half-open interval [Start, End) in Unix
// milliseconds of event or processing time.
type Window struct {
	Start, End int64
}

// StartTime returns the window's start.
func (w Window) StartTime() time.Time { return time.UnixMilli(w.Start) }

// EndTime returns the window's end, which is not in the window.
func (w Window) EndTime() time.Time { return time.UnixMilli(w.End) }

// maxTimestamp is the last millisecond in the window: the window fires when
// time passes it.
func (w Window) maxTimestamp() int64 { return w.End - 1 }

func (w Window) String() string { return fmt.Sprintf("[%d,%d)", w.Start, w.End) }

// WindowAssigner says which windows a record belongs to.
type WindowAssigner struct {
	size, slide, gap int64 // milliseconds
	processingTime   bool
}

// TumblingEventTime assigns records to consecutive windows of size in event
// time, aligned to the epoch.
func TumblingEventTime(size time.Duration) WindowAssigner {
	return WindowAssigner{size: size.Milliseconds(), slide: size.Milliseconds()}
}

// SlidingEventTime assigns records to windows of size starting every slide
// in event time; a record is in size/slide windows.
func SlidingEventTime(size, slide time.Duration) WindowAssigner {
	return WindowAssigner{size: size.Milliseconds(), slide: slide.Milliseconds()}
}

// EventTimeSessions puts records of a key closer than gap in event time into
// one session window; sessions merge as records bridge them.
func EventTimeSessions(gap time.Duration) WindowAssigner {
	return WindowAssigner{gap: gap.Milliseconds()}
}

// TumblingProcessingTime is TumblingEventTime on the wall clock: windows
// close when the wall clock passes their end, whether or not data arrives.
func TumblingProcessingTime(size time.Duration) WindowAssigner {
	a := TumblingEventTime(size)
	a.processingTime = true
	return a
}

// SlidingProcessingTime is SlidingEventTime on the wall clock.
func SlidingProcessingTime(size, slide time.Duration) WindowAssigner {
	a := SlidingEventTime(size, slide)
	a.processingTime = true
	return a
}

// ProcessingTimeSessions is EventTimeSessions on the wall clock.
func ProcessingTimeSessions(gap time.Duration) WindowAssigner {
	a := EventTimeSessions(gap)
	a.processingTime = true
	return a
}

func (a WindowAssigner) validate() error {
	switch {
	case a.gap > 0:
		return nil
	case a.size <= 0 || a.slide <= 0:
		return fmt.Errorf("window: size %dms and slide %dms must be at least a millisecond", a.size, a.slide)
	case a.slide > a.size:
		return fmt.Errorf("window: slide %dms is longer than the size %dms", a.slide, a.size)
	}
	return nil
}

// assign appends the windows of a record at time ts to ws.
func (a WindowAssigner) assign(ws []Window, ts int64) []Window {
	if a.gap > 0 {
		return append(ws, Window{Start: ts, End: ts + a.gap})
	}
	last := ts - mod(ts, a.slide)
	for start := last; start > ts-a.size; start -= a.slide {
		ws = append(ws, Window{Start: start, End: start + a.size})
	}
	return ws
}

// mod is the remainder that is never negative, so that windows before the
// epoch align too.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// WindowOption configures a windowed stream.
type WindowOption[T any] interface{ applyWindow(*windowConfig[T]) }

type windowConfig[T any] struct {
	lateness int64
	late     *OutputTag[T]
}

type windowOptionFunc[T any] func(*windowConfig[T])

func (f windowOptionFunc[T]) applyWindow(c *windowConfig[T]) { f(c) }

// AllowedLateness keeps event-time windows for d after they fire: a record
// arriving in that time is added and the window fires again with the
// updated result.
func AllowedLateness[T any](d time.Duration) WindowOption[T] {
	return windowOptionFunc[T](func(c *windowConfig[T]) { c.lateness = d.Milliseconds() })
}

// LateData sends records too late for every window they belong to (after
// the allowed lateness) to the side output tag, where SideOutput on the
// window's result reads them. Without it they are counted and dropped.
func LateData[T any](tag OutputTag[T]) WindowOption[T] {
	return windowOptionFunc[T](func(c *windowConfig[T]) { c.late = &tag })
}

// WindowedStream is a keyed stream cut into windows, ready for Aggregate or
// ProcessWindow.
type WindowedStream[K comparable, T any] struct {
	ks       KeyedStream[K, T]
	assigner WindowAssigner
	cfg      windowConfig[T]
}

// Windowed cuts a keyed stream into the windows assigner gives.
func Windowed[K comparable, T any](ks KeyedStream[K, T], assigner WindowAssigner, opts ...WindowOption[T]) WindowedStream[K, T] {
	ws := WindowedStream[K, T]{ks: ks, assigner: assigner}
	for _, o := range opts {
		o.applyWindow(&ws.cfg)
	}
	if err := assigner.validate(); err != nil {
		ks.s.n.env.fail(err)
	}
	if ws.cfg.lateness < 0 {
		ks.s.n.env.fail(fmt.Errorf("window: allowed lateness %dms must not be negative", ws.cfg.lateness))
	}
	return ws
}

// AggregateFunction folds a window's records into an accumulator as they
// arrive, so a window's state is one accumulator however many records it
// has. Merge combines the accumulators of session windows that merge.
type AggregateFunction[T, ACC, R any] interface {
	CreateAccumulator() ACC
	Add(v T, acc ACC) ACC
	Result(acc ACC) R
	Merge(a, b ACC) ACC
}

// WindowResult is what a window emits: its key, the window and the result.
type WindowResult[K comparable, R any] struct {
	Key    K
	Window Window
	Value  R
}

// Aggregate aggregates each window incrementally and emits its result when
// the window fires (event time: when the watermark passes its end;
// processing time: when the wall clock does), with the window's last
// millisecond as event time.
func Aggregate[K comparable, T, ACC, R any](ws WindowedStream[K, T], agg AggregateFunction[T, ACC, R]) Stream[WindowResult[K, R]] {
	fn := &windowFn[K, T, ACC, WindowResult[K, R]]{
		assigner: ws.assigner, cfg: ws.cfg,
		create: agg.CreateAccumulator, add: agg.Add, merge: agg.Merge,
		fire: func(k K, w Window, acc ACC, out Out[WindowResult[K, R]]) error {
			out.Emit(WindowResult[K, R]{Key: k, Window: w, Value: agg.Result(acc)})
			return nil
		},
	}
	return Process(ws.ks, KeyedProcessFunction[K, T, WindowResult[K, R]](fn)).Name("window")
}

// ProcessWindowFunc processes a window's records all at once when it fires.
type ProcessWindowFunc[K comparable, T, R any] func(key K, w Window, records []T, out Out[R]) error

// ProcessWindow keeps each window's records in state and calls fn with all
// of them when the window fires.
func ProcessWindow[K comparable, T, R any](ws WindowedStream[K, T], fn ProcessWindowFunc[K, T, R]) Stream[R] {
	wf := &windowFn[K, T, []T, R]{
		assigner: ws.assigner, cfg: ws.cfg,
		create: func() []T { return nil },
		// Appending never changes what a snapshot holds: it sees only its
		// own length of the slice.
		add:   func(v T, acc []T) []T { return append(acc, v) },
		merge: func(a, b []T) []T { return append(append([]T(nil), a...), b...) },
		fire:  fn,
	}
	return Process(ws.ks, KeyedProcessFunction[K, T, R](wf)).Name("window")
}

// windowFn is the window operator, written as a keyed process function so
// that its state — one accumulator per key and window, in map state — and
// its timers are checkpointed, restored and rescaled like any keyed state.
type windowFn[K comparable, T, ACC, R any] struct {
	assigner WindowAssigner
	cfg      windowConfig[T]
	create   func() ACC
	add      func(T, ACC) ACC
	merge    func(ACC, ACC) ACC
	fire     func(K, Window, ACC, Out[R]) error

	// Aligned windows (tumbling, sliding) live in a table keyed by (key,
	// window): one map operation per access, and the window a timer fires
	// follows from the timer's time. Sessions, whose windows merge, live in
	// map state so a key's sessions can be listed.
	aligned state.Value[K, Window, ACC]
	windows MapState[K, Window, ACC]
	scratch []Window
	gone    []Window
}

func (f *windowFn[K, T, ACC, R]) Open(c KeyedOpenContext[K]) error {
	if f.assigner.gap > 0 {
		f.windows = MapOf[Window, ACC](c, "windows")
		return nil
	}
	oc := c.open()
	wc, err := codec.For[Window]()
	if err != nil {
		return err
	}
	ac, err := codec.For[ACC]()
	if err != nil {
		return fmt.Errorf("window accumulator: %w", err)
	}
	f.aligned, err = state.NewValue(oc.backend, state.TableDesc[K, Window, ACC]{
		Name: "windows", Key: oc.keys.codec, Namespace: wc, Value: ac,
	})
	return err
}

func (f *windowFn[K, T, ACC, R]) get(c KeyedContext[K], w Window) (ACC, bool, error) {
	if f.aligned == nil {
		return f.windows.Get(c, w)
	}
	k := c.scope()
	return f.aligned.Get(k.kg, k.key, w)
}

func (f *windowFn[K, T, ACC, R]) put(c KeyedContext[K], w Window, acc ACC) error {
	if f.aligned == nil {
		return f.windows.Put(c, w, acc)
	}
	k := c.scope()
	return f.aligned.Put(k.kg, k.key, w, acc)
}

func (f *windowFn[K, T, ACC, R]) del(c KeyedContext[K], w Window) error {
	if f.aligned == nil {
		return f.windows.Delete(c, w)
	}
	k := c.scope()
	return f.aligned.Delete(k.kg, k.key, w)
}

// now returns the time the windows follow: the watermark, or the wall
// clock.
func (f *windowFn[K, T, ACC, R]) now(c KeyedContext[K]) int64 {
	if f.assigner.processingTime {
		return c.ProcessingTime().UnixMilli()
	}
	wm := c.Watermark()
	if wm.IsZero() {
		return runtime.MinWatermark
	}
	return wm.UnixMilli()
}

func (f *windowFn[K, T, ACC, R]) register(c KeyedContext[K], ts int64) error {
	if f.assigner.processingTime {
		return c.Timers().RegisterProcessingTime(time.UnixMilli(ts))
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(ts))
}

func (f *windowFn[K, T, ACC, R]) Process(c KeyedContext[K], v T, out Out[R]) error {
	now := f.now(c)
	var ts int64
	if f.assigner.processingTime {
		ts = now
	} else {
		t, ok := c.Timestamp()
		if !ok {
			return fmt.Errorf("event-time window: the record has no event time (set EventTime on its source)")
		}
		ts = t.UnixMilli()
	}
	f.scratch = f.assigner.assign(f.scratch[:0], ts)
	placed := false
	for _, w := range f.scratch {
		if w.maxTimestamp()+f.cfg.lateness <= now && now != runtime.MinWatermark {
			continue // too late for this window
		}
		placed = true
		if f.assigner.gap > 0 {
			var err error
			if w, err = f.mergeSessions(c, w); err != nil {
				return err
			}
		}
		acc, ok, err := f.get(c, w)
		if err != nil {
			return err
		}
		if !ok {
			acc = f.create()
		}
		acc = f.add(v, acc)
		if err := f.put(c, w, acc); err != nil {
			return err
		}
		if w.maxTimestamp() <= now && now != runtime.MinWatermark {
			// Late but within the allowed lateness: fire again with the
			// update.
			if err := f.fire(c.Key(), w, acc, out); err != nil {
				return err
			}
			continue
		}
		if ok && f.assigner.gap == 0 {
			continue // its timers were registered with its first record
		}
		if err := f.register(c, w.maxTimestamp()); err != nil {
			return err
		}
		if f.cfg.lateness > 0 && !f.assigner.processingTime {
			if err := f.register(c, w.maxTimestamp()+f.cfg.lateness); err != nil {
				return err
			}
		}
	}
	if !placed {
		c.scope().counts.late++
		if f.cfg.late != nil {
			Output(c, *f.cfg.late, v)
		}
	}
	return nil
}

// mergeSessions merges w with the key's sessions it overlaps or touches and
// returns the merged window, whose accumulator holds theirs.
func (f *windowFn[K, T, ACC, R]) mergeSessions(c KeyedContext[K], w Window) (Window, error) {
	merged := w
	var acc ACC
	found := false
	f.gone = f.gone[:0]
	for other, a := range f.windows.All(c) {
		if other.Start <= merged.End && merged.Start <= other.End {
			merged = Window{Start: min(merged.Start, other.Start), End: max(merged.End, other.End)}
			if found {
				acc = f.merge(acc, a)
			} else {
				acc, found = a, true
			}
			f.gone = append(f.gone, other)
		}
	}
	if !found {
		return w, nil
	}
	// A session that merged earlier sessions can now bridge more of them.
	for again := true; again; {
		again = false
		for other, a := range f.windows.All(c) {
			if containsWindow(f.gone, other) {
				continue
			}
			if other.Start <= merged.End && merged.Start <= other.End {
				merged = Window{Start: min(merged.Start, other.Start), End: max(merged.End, other.End)}
				acc = f.merge(acc, a)
				f.gone = append(f.gone, other)
				again = true
			}
		}
	}
	for _, g := range f.gone {
		if err := f.windows.Delete(c, g); err != nil {
			return w, err
		}
	}
	return merged, f.windows.Put(c, merged, acc)
}

// onAlignedTimer handles an event-time timer of tumbling or sliding
// windows: the timer at ts marks the end of the window [ts+1-size, ts+1)
// and, with allowed lateness L, the end of the lateness of the window that
// ends at ts+1-L.
func (f *windowFn[K, T, ACC, R]) onAlignedTimer(c TimerContext[K], ts int64, out Out[R]) error {
	size, late := f.assigner.size, f.cfg.lateness
	if f.assigner.processingTime {
		late = 0 // lateness is an event-time notion
	}
	w := Window{Start: ts + 1 - size, End: ts + 1}
	acc, ok, err := f.get(c, w)
	if err != nil {
		return err
	}
	if ok {
		if err := f.fire(c.Key(), w, acc, out); err != nil {
			return err
		}
		if late == 0 {
			return f.del(c, w)
		}
	}
	if late > 0 {
		expired := Window{Start: ts + 1 - late - size, End: ts + 1 - late}
		return f.del(c, expired)
	}
	return nil
}

func containsWindow(ws []Window, w Window) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// OnTimer fires the windows whose end the timer marks and drops those whose
// allowed lateness is over.
func (f *windowFn[K, T, ACC, R]) OnTimer(c TimerContext[K], out Out[R]) error {
	ts := c.Time().UnixMilli()
	if f.aligned != nil {
		return f.onAlignedTimer(c, ts, out)
	}
	f.gone = f.gone[:0]
	for w, acc := range f.windows.All(c) {
		if w.maxTimestamp() > ts {
			continue
		}
		if w.maxTimestamp() == ts || (c.Domain() == ProcessingTimeDomain) {
			if err := f.fire(c.Key(), w, acc, out); err != nil {
				return err
			}
		}
		if w.maxTimestamp()+f.cfg.lateness <= ts || c.Domain() == ProcessingTimeDomain {
			f.gone = append(f.gone, w)
		}
	}
	for _, w := range f.gone {
		if err := f.windows.Delete(c, w); err != nil {
			return err
		}
	}
	return nil
}
