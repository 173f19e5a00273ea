package weir

import (
	"errors"
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
	noLocal  bool
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

// WithoutLocalAggregation turns off Aggregate's local aggregation for
// the window. Without it, an event-time Aggregate with no LateData output
// adds records into partial accumulators in front of the keyed exchange —
// per key and pane (a slide's worth of time) or per partial session — and
// merges those with Merge behind it, so Merge must give what adding the
// records one by one gives. Results and late counts are the same either
// way, and so is the window's state: a savepoint taken with it restores
// without it and the other way round, when the window has an ID (the
// derived one depends on the operators before it).
func WithoutLocalAggregation[T any]() WindowOption[T] {
	return windowOptionFunc[T](func(c *windowConfig[T]) { c.noLocal = true })
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
// has: CreateAccumulator starts one, Add adds a record to it, and Result
// gives the window's result when it fires (a global window that fires
// without purging goes on adding to the same accumulator).
//
// Merge combines two accumulators and must give what adding their records
// one by one to one accumulator gives. Only Aggregate calls it: when
// session windows merge (event or processing time), and, for event-time
// windows of every kind, to add the partial accumulators that local
// aggregation sends across the keyed exchange (unless LateData or
// WithoutLocalAggregation turns it off). Aggregate over processing-time
// tumbling or sliding windows, CountWindow and GlobalWindow never call
// Merge.
//
// Add and Merge return the new accumulator. When ACC is a plain value (a
// number, or a struct or array of them) they get a copy, may change it and
// return it. When ACC refers to memory (a pointer, slice or map, or a
// struct holding one), neither they nor Result may change what it refers
// to: they return a new accumulator instead (appending to a slice counts
// as changing it). The engine keeps accumulators as they are, without
// copying: a checkpoint being written may still read the one Add was
// given (with the memory state backend), and with local aggregation one
// partial accumulator may become the start of several sliding windows.
//
// Assert that your type implements it where the type is declared, so that
// the compiler names the method it lacks or gets wrong, with the type
// arguments spelled out (docs/errors.md):
//
//	var _ weir.AggregateFunction[Bid, AvgAcc, float64] = avgPrice{}
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
// millisecond as event time. Event-time windows aggregate locally first:
// each upstream subtask adds its records up per key and pane or session
// and sends the partial accumulators across the exchange (see
// WithoutLocalAggregation).
//
// F, agg's own type, is a type parameter rather than agg an
// AggregateFunction so that a compile error names the method agg lacks or
// gets wrong (docs/errors.md).
func Aggregate[K comparable, T, ACC, R any, F AggregateFunction[T, ACC, R]](ws WindowedStream[K, T], agg F) Stream[WindowResult[K, R]] {
	return aggregate[K, T, ACC, R](ws, agg)
}

func aggregate[K comparable, T, ACC, R any](ws WindowedStream[K, T], agg AggregateFunction[T, ACC, R]) Stream[WindowResult[K, R]] {
	fn := windowFn[K, T, ACC, WindowResult[K, R]]{
		assigner: ws.assigner, cfg: ws.cfg,
		create: agg.CreateAccumulator, add: agg.Add, merge: agg.Merge,
		fire: func(k K, w Window, acc ACC, out Out[WindowResult[K, R]]) error {
			out.Emit(WindowResult[K, R]{Key: k, Window: w, Value: agg.Result(acc)})
			return nil
		},
	}
	if err := stateTypeErr[ACC]("window accumulator"); err != nil {
		ws.ks.s.n.env.fail(err)
	}
	if combinable(ws) {
		return combined(ws, agg, fn).Name("window")
	}
	return process(ws.ks, KeyedProcessFunction[K, T, WindowResult[K, R]](&fn)).Name("window")
}

// ProcessWindowFunc processes a window's records all at once when it fires.
type ProcessWindowFunc[K comparable, T, R any] func(key K, w Window, records []T, out Out[R]) error

// ProcessWindow keeps each window's records in state and calls fn with all
// of them when the window fires.
func ProcessWindow[K comparable, T, R any](ws WindowedStream[K, T], fn ProcessWindowFunc[K, T, R]) Stream[R] {
	if err := stateTypeErr[T]("window record"); err != nil {
		ws.ks.s.n.env.fail(err)
	}
	wf := &windowFn[K, T, []T, R]{
		assigner: ws.assigner, cfg: ws.cfg,
		create: func() []T { return nil },
		// Appending never changes what a snapshot holds: it sees only its
		// own length of the slice.
		add:   func(v T, acc []T) []T { return append(acc, v) },
		merge: func(a, b []T) []T { return append(append([]T(nil), a...), b...) },
		fire:  fn,
	}
	return process(ws.ks, KeyedProcessFunction[K, T, R](wf)).Name("window")
}

// windowFn is the window operator, written as a keyed process function so
// that its state — one accumulator per key and window — and its timers are
// checkpointed, restored and rescaled like any keyed state.
type windowFn[K comparable, T, ACC, R any] struct {
	assigner WindowAssigner
	cfg      windowConfig[T]
	create   func() ACC
	add      func(T, ACC) ACC
	merge    func(ACC, ACC) ACC
	fire     func(K, Window, ACC, Out[R]) error

	// Aligned windows (tumbling, sliding) live in a Namespaced table: per
	// key group, one namespace per window holding the accumulators of its
	// keys — kept namespace first for tumbling windows, key first when a
	// record is in a few sliding windows. The first record of a window in a
	// key group registers the window's timers (under its own key), and a
	// timer fires or drops the window for every key of the group at once:
	// it emits the keys whose accumulator changed since it was last emitted
	// (pending), so that another key's timer at the same time finds nothing
	// to do.
	aligned state.Namespaced[K, Window, windowSlot[ACC]]

	// Sessions: a key's latest session (the one that ends last) is one
	// value, which a record inside or just after it extends with one read
	// and one write; the key's other sessions, which all end before the
	// latest starts, are in map state and are only read when a record
	// falls outside the latest session.
	latest   state.Value[K, unit, session[ACC]]
	windows  MapState[K, Window, ACC]
	sessions []sessionAt[ACC] // scratch for merging
	gone     []Window
}

// windowSlot is a key's accumulator in a tumbling or sliding window, and
// whether it changed since the window last emitted it.
type windowSlot[ACC any] struct {
	Acc     ACC
	Pending bool
}

// session is the state of a key's latest session: its window and
// accumulator, and how many other sessions the key has in map state, so
// that the map is read only when it holds something.
type session[ACC any] struct {
	W     Window
	Acc   ACC
	Older int
}

// sessionAt is a session of the key while a record is merged in: where it
// is kept (the latest-session value or map state) and whether the record
// merged it.
type sessionAt[ACC any] struct {
	w      Window
	acc    ACC
	latest bool
	merged bool
}

func (f *windowFn[K, T, ACC, R]) Open(c KeyedOpenContext[K]) error {
	oc := c.open()
	if err := stateTypeErr[ACC]("window accumulator"); err != nil {
		return err
	}
	if f.assigner.gap > 0 {
		f.windows = MapOf[Window, ACC](c, "windows")
		sc, err := codec.For[session[ACC]]()
		if err != nil {
			return fmt.Errorf("window accumulator: %w", err)
		}
		f.latest, err = state.NewValue(oc.backend, state.TableDesc[K, unit, session[ACC]]{
			Name: "session", Key: oc.keys.codec, Namespace: codec.Unit(), Value: sc,
		})
		return err
	}
	wc, err := codec.For[Window]()
	if err != nil {
		return err
	}
	sc, err := codec.For[windowSlot[ACC]]()
	if err != nil {
		return fmt.Errorf("window accumulator: %w", err)
	}
	desc := state.TableDesc[K, Window, windowSlot[ACC]]{Name: "windows", Key: oc.keys.codec, Namespace: wc, Value: sc}
	if n := f.assigner.size / f.assigner.slide; n > 1 && n <= maxKeyFirstWindows {
		// A record is in several sliding windows: keep a key's windows
		// together, one lookup for all of them.
		f.aligned, err = state.NewKeyFirst(oc.backend, desc)
	} else {
		f.aligned, err = state.NewNamespaced(oc.backend, desc)
	}
	return err
}

// maxKeyFirstWindows is the most windows a record may belong to for the
// windows to be kept key first: a key's windows are found by looking
// through them, which beyond a few costs more than a lookup per window.
const maxKeyFirstWindows = 8

// now returns the time the windows follow: the watermark (MinWatermark
// before the first), or the wall clock.
func (f *windowFn[K, T, ACC, R]) now(k *keyedCtx[K]) int64 {
	if f.assigner.processingTime {
		return k.ProcessingTime().UnixMilli()
	}
	return k.wm
}

// register sets a timer for the current key at ts in the windows' domain.
func (f *windowFn[K, T, ACC, R]) register(k *keyedCtx[K], ts int64) error {
	d := EventTimeDomain
	if f.assigner.processingTime {
		d = ProcessingTimeDomain
	}
	return k.op.timerService().register(d, k.kg, k.key, ts)
}

func (f *windowFn[K, T, ACC, R]) Process(c KeyedContext[K], v T, out Out[R]) error {
	k := c.scope()
	now := f.now(k)
	ts := now
	if !f.assigner.processingTime {
		if err := windowTime(k.ts); err != nil {
			return err
		}
		ts = k.ts
	}
	var placed bool
	var err error
	a := addend[T, ACC]{v: v}
	if f.aligned != nil {
		placed, err = f.addAligned(k, &a, ts, now, out)
	} else {
		placed, err = f.addSession(c, k, &a, Window{Start: ts, End: ts + f.assigner.gap}, now, out)
	}
	if err != nil || placed {
		return err
	}
	k.counts.late++
	if f.cfg.late != nil {
		Output(c, *f.cfg.late, v)
	}
	return nil
}

// windowTime says what is wrong with ts as the event time of a record for
// an event-time window, or returns nil. Sources keep the event times they
// stamp in range; an operator before the window can still emit a record
// without one (from a processing-time timer) or out of range (from a timer
// it set out of range), and the window would overflow on it.
func windowTime(ts int64) error {
	switch {
	case ts == runtime.NoTimestamp:
		return errors.New("event-time window: the record has no event time: its source has no EventTime strategy and its reader gave it none, or an operator before the window emitted it from a processing-time timer")
	case !runtime.EventTimeInRange(ts):
		return fmt.Errorf("event-time window: the record's event time %d ms is outside the range windows support, [%d, %d] ms", ts, runtime.MinEventTime, runtime.MaxEventTime)
	}
	return nil
}

// addend is what goes into a window: a record, or the accumulator of
// records combined before the exchange.
type addend[T, ACC any] struct {
	v       T
	acc     ACC
	partial bool
}

// into adds a to acc; created says acc is new and holds nothing yet.
func (f *windowFn[K, T, ACC, R]) into(a *addend[T, ACC], acc ACC, created bool) ACC {
	switch {
	case !a.partial && created:
		return f.add(a.v, f.create())
	case !a.partial:
		return f.add(a.v, acc)
	case created:
		return a.acc
	}
	return f.merge(acc, a.acc)
}

// addAligned adds a — a record at ts, or a pane starting at ts — to every
// tumbling or sliding window it belongs to whose allowed lateness has not
// passed at now, and reports whether there was one.
func (f *windowFn[K, T, ACC, R]) addAligned(k *keyedCtx[K], a *addend[T, ACC], ts, now int64, out Out[R]) (bool, error) {
	size, slide := f.assigner.size, f.assigner.slide
	placed := false
	for start := ts - mod(ts, slide); start > ts-size; start -= slide {
		in, err := f.addWindow(k, Window{Start: start, End: start + size}, a, now, out)
		if err != nil {
			return placed, err
		}
		placed = placed || in
	}
	return placed, nil
}

// addWindow adds a to the window w of the current key unless its allowed
// lateness has passed at now, and reports whether it did.
func (f *windowFn[K, T, ACC, R]) addWindow(k *keyedCtx[K], w Window, a *addend[T, ACC], now int64, out Out[R]) (bool, error) {
	late := f.cfg.lateness
	started := now != runtime.MinWatermark
	end := w.maxTimestamp()
	if started && end+late <= now {
		return false, nil // too late for this window
	}
	p, created, fresh, err := f.aligned.Slot(k.kg, k.key, w)
	if err != nil {
		return true, err
	}
	p.Acc = f.into(a, p.Acc, created)
	if started && end <= now {
		// Late but within the allowed lateness: fire again with the
		// update.
		p.Pending = false
		acc := p.Acc
		if fresh {
			// The window is new in this key group, so nothing drops it
			// yet: a timer at the end of the lateness does (event
			// time); a processing-time window goes at once.
			if f.assigner.processingTime {
				if err := f.aligned.Drop(k.kg, w); err != nil {
					return true, err
				}
			} else if err := f.register(k, end+late); err != nil {
				return true, err
			}
		}
		return true, f.fire(k.key, w, acc, out)
	}
	p.Pending = true
	switch {
	case fresh:
		// The first record of the window in the key group registers the
		// timers that fire and drop it for all of the group's keys.
		if err := f.register(k, end); err != nil {
			return true, err
		}
		if late > 0 && !f.assigner.processingTime {
			return true, f.register(k, end+late)
		}
	case !started:
		// Before the first watermark (after a restore) the window may have
		// fired already: a timer of the key's own emits the update when
		// the watermark comes.
		return true, f.register(k, end)
	}
	return true, nil
}

// onAlignedTimer handles a timer of tumbling or sliding windows in the
// current key's key group: the timer at ts marks the end of the window
// [ts+1-size, ts+1) and, with allowed lateness L, the end of the lateness of
// the window that ends at ts+1-L. Each is done for all keys of the key group
// at once; another key's timer at the same time finds nothing left to do.
func (f *windowFn[K, T, ACC, R]) onAlignedTimer(k *keyedCtx[K], ts int64, out Out[R]) error {
	size, late := f.assigner.size, f.cfg.lateness
	if f.assigner.processingTime {
		late = 0 // lateness is an event-time notion
	}
	kg := k.kg
	w := Window{Start: ts + 1 - size, End: ts + 1}
	if f.aligned.Has(kg, w) {
		if late == 0 {
			err := f.aligned.Drain(kg, w, func(key K, s windowSlot[ACC]) error {
				if !s.Pending {
					return nil
				}
				return f.fire(key, w, s.Acc, out)
			})
			if err != nil {
				return err
			}
		} else {
			// Kept for the lateness: what the timer emits is no longer
			// pending.
			err := f.aligned.Update(kg, w, func(key K, s *windowSlot[ACC]) error {
				if !s.Pending {
					return nil
				}
				s.Pending = false
				return f.fire(key, w, s.Acc, out)
			})
			if err != nil {
				return err
			}
		}
	}
	if late > 0 {
		return f.aligned.Drop(kg, Window{Start: ts + 1 - late - size, End: ts + 1 - late})
	}
	return nil
}

// addSession adds a to the key's sessions, merging those its window w
// overlaps or touches, and reports whether it was in time for its window.
// A record at ts has the window [ts, ts+gap); records combined before the
// exchange have the session they formed there.
func (f *windowFn[K, T, ACC, R]) addSession(c KeyedContext[K], k *keyedCtx[K], a *addend[T, ACC], w Window, now int64, out Out[R]) (bool, error) {
	started := now != runtime.MinWatermark
	if started && w.maxTimestamp()+f.cfg.lateness <= now {
		return false, nil // too late
	}
	o, ok, err := f.latest.Get(k.kg, k.key, unit{})
	if err != nil {
		return true, err
	}
	var s session[ACC]
	needTimer := true
	if ok && w.Start >= o.W.Start && w.Start <= o.W.End {
		// The record extends the latest session and, as every other session
		// ends before that one starts, touches no other.
		s = session[ACC]{W: Window{Start: o.W.Start, End: max(o.W.End, w.End)}, Acc: f.into(a, o.Acc, false), Older: o.Older}
		// A session whose end time has not come has a timer at or before
		// its end, which moves on when it fires early; one whose end has
		// come fired, and the grown session needs a timer again.
		// Before the first watermark (after a restore) it may have fired
		// too.
		needTimer = !started || o.W.maxTimestamp() <= now
		if err := f.latest.Put(k.kg, k.key, unit{}, s); err != nil {
			return true, err
		}
	} else if s, err = f.mergeSessions(c, k, w, a, o, ok); err != nil {
		return true, err
	}
	end := s.W.maxTimestamp()
	if started && end <= now {
		// Late but within the allowed lateness: fire again with the
		// update; the state goes when the lateness is over.
		if f.cfg.lateness > 0 && !f.assigner.processingTime {
			if err := f.register(k, end+f.cfg.lateness); err != nil {
				return true, err
			}
		}
		return true, f.fire(k.key, s.W, s.Acc, out)
	}
	if needTimer {
		return true, f.register(k, end)
	}
	return true, nil
}

// mergeSessions adds a with window w to the key's sessions when it does
// not simply extend the latest one (o, when hasLatest): w and every session
// it overlaps or touches become one, their accumulators merged, and the
// session that ends last becomes the latest. It returns a's session.
func (f *windowFn[K, T, ACC, R]) mergeSessions(c KeyedContext[K], k *keyedCtx[K], w Window, a *addend[T, ACC], o session[ACC], hasLatest bool) (session[ACC], error) {
	ss := f.sessions[:0]
	if hasLatest {
		ss = append(ss, sessionAt[ACC]{w: o.W, acc: o.Acc, latest: true})
	}
	if !hasLatest || o.Older > 0 {
		for win, acc := range f.windows.All(c) {
			ss = append(ss, sessionAt[ACC]{w: win, acc: acc})
		}
	}
	defer func() {
		clear(ss) // drop the references to accumulators
		f.sessions = ss[:0]
	}()
	merged := w
	var acc ACC
	found := false
	// A session that merged others can now reach more of them.
	for again := true; again; {
		again = false
		for i := range ss {
			s := &ss[i]
			if s.merged || s.w.Start > merged.End || merged.Start > s.w.End {
				continue
			}
			merged = Window{Start: min(merged.Start, s.w.Start), End: max(merged.End, s.w.End)}
			if found {
				acc = f.merge(acc, s.acc)
			} else {
				acc, found = s.acc, true
			}
			s.merged, again = true, true
		}
	}
	res := session[ACC]{W: merged, Acc: f.into(a, acc, !found)}
	// The session that ends last is the latest: the merged one, or one it
	// did not reach (sessions never overlap, so ends differ).
	last, older := -1, 0
	for i := range ss {
		s := &ss[i]
		if s.merged {
			continue
		}
		older++ // the sessions the record did not reach, and the merged one, less the latest
		if s.w.End > merged.End && (last < 0 || s.w.End > ss[last].w.End) {
			last = i
		}
	}
	res.Older = older
	for i := range ss {
		s := &ss[i]
		var err error
		switch {
		case s.merged && !s.latest, !s.merged && !s.latest && i == last:
			err = f.windows.Delete(c, s.w) // merged away, or becomes the latest
		case !s.merged && s.latest && i != last:
			err = f.windows.Put(c, s.w, s.acc) // no longer the latest
		}
		if err != nil {
			return res, err
		}
	}
	if last < 0 {
		return res, f.latest.Put(k.kg, k.key, unit{}, res)
	}
	if err := f.windows.Put(c, res.W, res.Acc); err != nil {
		return res, err
	}
	l := ss[last]
	return res, f.latest.Put(k.kg, k.key, unit{}, session[ACC]{W: l.w, Acc: l.acc, Older: older})
}

// onSessionTimer handles a timer of the key's sessions at ts: it fires the
// sessions that end at ts, sets a timer at the end of those that have
// grown past ts since their timer was set, and drops those whose allowed
// lateness is over.
func (f *windowFn[K, T, ACC, R]) onSessionTimer(c TimerContext[K], k *keyedCtx[K], ts int64, out Out[R]) error {
	pt := c.Domain() == ProcessingTimeDomain
	o, ok, err := f.latest.Get(k.kg, k.key, unit{})
	if err != nil {
		return err
	}
	dropLatest := false
	if ok {
		if dropLatest, err = f.sessionDue(k, o.W, o.Acc, ts, pt, out); err != nil {
			return err
		}
	}
	if !ok || o.Older > 0 {
		f.gone = f.gone[:0]
		for w, acc := range f.windows.All(c) {
			drop, err := f.sessionDue(k, w, acc, ts, pt, out)
			if err != nil {
				return err
			}
			if drop {
				f.gone = append(f.gone, w)
			}
		}
		for _, w := range f.gone {
			if err := f.windows.Delete(c, w); err != nil {
				return err
			}
		}
		if ok && !dropLatest && len(f.gone) > 0 {
			o.Older = max(o.Older-len(f.gone), 0)
			if err := f.latest.Put(k.kg, k.key, unit{}, o); err != nil {
				return err
			}
		}
	}
	if dropLatest {
		// The older sessions ended before it, so their lateness is over
		// too; were one left, the next record would find it in map state.
		return f.latest.Delete(k.kg, k.key, unit{})
	}
	return nil
}

// sessionDue handles one session at a timer at ts and reports whether its
// state can go.
func (f *windowFn[K, T, ACC, R]) sessionDue(k *keyedCtx[K], w Window, acc ACC, ts int64, pt bool, out Out[R]) (bool, error) {
	end := w.maxTimestamp()
	switch {
	case end > ts:
		// Grown since its timer was set: the timer moves to its end.
		return false, f.register(k, end)
	case pt:
		return true, f.fire(k.key, w, acc, out)
	case end == ts:
		if err := f.fire(k.key, w, acc, out); err != nil {
			return false, err
		}
		if f.cfg.lateness > 0 {
			return false, f.register(k, end+f.cfg.lateness)
		}
		return true, nil
	}
	return end+f.cfg.lateness <= ts, nil
}

// OnTimer fires the windows whose end the timer marks and drops those whose
// allowed lateness is over.
func (f *windowFn[K, T, ACC, R]) OnTimer(c TimerContext[K], out Out[R]) error {
	k := c.scope()
	if f.aligned != nil {
		return f.onAlignedTimer(k, k.timer, out)
	}
	return f.onSessionTimer(c, k, k.timer, out)
}
