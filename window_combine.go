package weir

import (
	"context"

	"github.com/weirstream/weir/internal/runtime"
)

// Local aggregation: an event-time Aggregate adds records into accumulators
// per key in front of the keyed exchange, in the upstream task, and sends
// those partial accumulators across instead of the records; the window
// operator merges them with the aggregate's Merge. A window's result is the
// same, and far fewer records cross the exchange when a key has several
// records per window in one upstream subtask. Aligned windows are added up
// per pane (a slide's worth of time, so a record costs one update however
// many sliding windows it is in; the window operator adds a pane to each of
// its windows), sessions per key as the partial session they form.
//
// What is held back is never late downstream: before the upstream task
// forwards a watermark w, the combiner emits every partial that a window
// firing at w could need — the panes that end at or before w, the sessions
// that start at or before w+1 (a session firing at w ends at or before
// w+1, and sessions that touch merge). Records that could be late
// downstream travel as they are — those of an aligned window that has ended
// at the upstream watermark, and those starting a session at or before it
// plus one (which may merge with a session that has fired) — so lateness,
// late counts and re-firings within the allowed lateness are decided
// downstream per record, as without combining. Everything held is emitted
// before a checkpoint barrier, so the combiner has no state, and when more
// than maxCombined partials are held.

// maxCombined bounds the partial accumulators a combiner subtask holds;
// reaching it emits all of them.
const maxCombined = 1 << 17

// Combining pays only when it folds records together. A combiner measures
// its first sampleRecords records of every skipPeriod: when the partials
// they made (emitted or still held) are more than maxCombineRatio of them,
// it sends the rest of the period's records on as they are.
const (
	sampleRecords   = 1 << 16
	skipPeriod      = 1 << 21
	maxCombineRatio = 0.5
)

// partial is what crosses the exchange of a locally aggregated window: the
// accumulator of N records of Key in the window W (aligned windows) or the
// session W they form, or, when N is 0, one record V as it is.
type partial[K comparable, T, ACC any] struct {
	Key K
	W   Window
	Acc ACC
	N   int64
	V   T
}

// record returns the record a partial carries as it is, for the error
// policy of the window operator (a record whose key holds NaN), or the
// partial.
func (p partial[K, T, ACC]) record() any {
	if p.N == 0 {
		return p.V
	}
	return p
}

// combinedSlot is a key's partial session.
type combinedSlot[K comparable, ACC any] struct {
	key K
	w   Window
	acc ACC
	n   int64
	ts  int64 // the latest event time added
}

// paneSlot is a key's partial accumulator in a pane.
type paneSlot[K comparable, ACC any] struct {
	key K
	acc ACC
	n   int64
}

// combinedWindow holds the partial accumulators of one pane of aligned
// windows: a slide's worth of time, which is in size/slide windows (a
// tumbling window is its own pane).
type combinedWindow[K comparable, ACC any] struct {
	w     Window
	index map[K]int32
	slots []paneSlot[K, ACC]
}

// combineOp is the combiner: a chained operator in front of the keyed
// exchange of a window.
type combineOp[K comparable, T, ACC any] struct {
	opBase
	key      func(T) K
	keys     keyInfo[K]
	assigner WindowAssigner
	create   func() ACC
	add      func(T, ACC) ACC
	next     runtime.Pusher[partial[K, T, ACC]]
	wm       int64
	held     int
	// seen counts the records of the current skip period, made the
	// partials emitted during its sample.
	seen, made int64
	skip       bool

	// Aligned windows, in order of their end, and emptied windows for
	// reuse.
	open  []*combinedWindow[K, ACC]
	spare []*combinedWindow[K, ACC]
	last  *combinedWindow[K, ACC] // the pane of the previous record, while open
	// Sessions: a key's partial session, and the sessions' starts in a
	// timer queue (an entry whose session has since started earlier or
	// gone is stale and skipped).
	index    map[K]int32
	sessions []combinedSlot[K, ACC]
	starts   timerQueue[K]
}

func (o *combineOp[K, T, ACC]) Open(context.Context) error {
	o.wm = runtime.MinWatermark
	o.index = map[K]int32{}
	o.starts = newTimerQueue[K]()
	return nil
}

// Push adds a record to its partial accumulator, or sends it on as it is
// when it has no event time, could be late downstream or combining does not
// pay (skipping).
func (o *combineOp[K, T, ACC]) Push(v T) error {
	o.enter()
	o.c.in++
	k := o.key(v)
	ts := o.meta.Ts
	// No event time, or one the window's arithmetic would overflow on: the
	// window operator names the error for the record. A key holding NaN is
	// never found in the maps: the record goes on as it is, to be refused
	// downstream like any other.
	if !runtime.EventTimeInRange(ts) || o.keys.nan(k) {
		return o.pass(k, v)
	}
	if o.assigner.gap > 0 {
		// A session starting at or before wm+1 may touch one that has
		// fired, or fires at wm: a late record merging with it downstream
		// must find it there.
		if o.passed(ts-1) || o.skipping() {
			return o.pass(k, v)
		}
		if o.held >= maxCombined {
			if err := o.emitAllKeepingMeta(); err != nil {
				return err
			}
		}
		return o.addSession(k, v, ts)
	}
	// The record's pane; its earliest window ends with the pane.
	start := ts - mod(ts, o.assigner.slide)
	w := Window{Start: start, End: start + o.assigner.slide}
	if o.passed(w.maxTimestamp()) || o.skipping() {
		return o.pass(k, v)
	}
	if o.held >= maxCombined {
		if err := o.emitAllKeepingMeta(); err != nil {
			return err
		}
	}
	cw := o.last
	if cw == nil || cw.w != w {
		cw = o.pane(w)
		o.last = cw
	}
	i, ok := cw.index[k]
	if !ok {
		i = int32(len(cw.slots))
		cw.index[k] = i
		cw.slots = append(cw.slots, paneSlot[K, ACC]{key: k, acc: o.create()})
		o.held++
	}
	s := &cw.slots[i]
	s.acc = o.add(v, s.acc)
	s.n++
	return nil
}

// pass sends a record on as it is.
func (o *combineOp[K, T, ACC]) pass(k K, v T) error {
	o.c.out++
	return o.next.Push(partial[K, T, ACC]{Key: k, V: v})
}

// passed reports whether the upstream watermark has reached t.
func (o *combineOp[K, T, ACC]) passed(t int64) bool {
	return o.wm != runtime.MinWatermark && t <= o.wm
}

// emitAllKeepingMeta emits everything held (when the combiner holds
// maxCombined partials), leaving the event time and origin of the record
// being processed in place.
func (o *combineOp[K, T, ACC]) emitAllKeepingMeta() error {
	meta := *o.meta
	err := o.emitUpTo(runtime.MaxWatermark)
	*o.meta = meta
	return err
}

// skipping counts a record towards the skip period and reports whether it
// goes on as it is because combining does not pay.
func (o *combineOp[K, T, ACC]) skipping() bool {
	o.seen++
	switch o.seen {
	case sampleRecords:
		o.skip = float64(o.made+int64(o.held)) > maxCombineRatio*sampleRecords
	case skipPeriod:
		o.seen, o.made, o.skip = 0, 0, false
	}
	return o.skip
}

// pane returns the partial accumulators of the pane w, opening them in
// order of their end.
func (o *combineOp[K, T, ACC]) pane(w Window) *combinedWindow[K, ACC] {
	i := len(o.open)
	for i > 0 && o.open[i-1].w.End >= w.End {
		if o.open[i-1].w == w {
			return o.open[i-1]
		}
		i--
	}
	var cw *combinedWindow[K, ACC]
	if n := len(o.spare); n > 0 {
		cw, o.spare = o.spare[n-1], o.spare[:n-1]
	} else {
		cw = &combinedWindow[K, ACC]{index: map[K]int32{}}
	}
	cw.w = w
	o.open = append(o.open, nil)
	copy(o.open[i+1:], o.open[i:])
	o.open[i] = cw
	return cw
}

// addSession adds a record at ts to the key's partial session, first
// emitting the held one when the record's window [ts, ts+gap) does not
// touch it.
func (o *combineOp[K, T, ACC]) addSession(k K, v T, ts int64) error {
	w := Window{Start: ts, End: ts + o.assigner.gap}
	i, ok := o.index[k]
	if ok {
		s := &o.sessions[i]
		if w.Start <= s.w.End && s.w.Start <= w.End {
			if w.Start < s.w.Start {
				o.starts.push(timer[K]{ts: w.Start, key: k})
			}
			s.w = Window{Start: min(s.w.Start, w.Start), End: max(s.w.End, w.End)}
			s.acc = o.add(v, s.acc)
			s.n++
			s.ts = max(s.ts, ts)
			return nil
		}
		meta := *o.meta
		err := o.emitSession(s)
		*o.meta = meta
		if err != nil {
			return err
		}
		*s = combinedSlot[K, ACC]{key: k, w: w, acc: o.add(v, o.create()), n: 1, ts: ts}
		o.starts.push(timer[K]{ts: ts, key: k})
		return nil
	}
	o.index[k] = int32(len(o.sessions))
	o.sessions = append(o.sessions, combinedSlot[K, ACC]{key: k, w: w, acc: o.add(v, o.create()), n: 1, ts: ts})
	o.starts.push(timer[K]{ts: ts, key: k})
	o.held++
	return nil
}

// emitSessionsUpTo sends the partial sessions that start at or before
// wm+1, earliest first.
func (o *combineOp[K, T, ACC]) emitSessionsUpTo(wm int64) error {
	for o.starts.len() > 0 && o.starts.peek() <= wm+1 {
		e := o.starts.pop()
		i, ok := o.index[e.key]
		if !ok || o.sessions[i].w.Start != e.ts {
			continue // stale
		}
		if err := o.emitSession(&o.sessions[i]); err != nil {
			return err
		}
		// The last session takes the emitted one's place.
		last := len(o.sessions) - 1
		if int(i) != last {
			o.sessions[i] = o.sessions[last]
			o.index[o.sessions[i].key] = i
		}
		clear(o.sessions[last:])
		o.sessions = o.sessions[:last]
		delete(o.index, e.key)
		o.held--
	}
	return nil
}

// emit sends one partial accumulator with the event time ts.
func (o *combineOp[K, T, ACC]) emit(p partial[K, T, ACC], ts int64) error {
	o.meta.Ts, o.meta.Origin = ts, runtime.Origin{}
	o.c.out++
	if o.seen < sampleRecords {
		o.made++
	}
	return o.next.Push(p)
}

// emitSession sends a partial session, with its latest event time.
func (o *combineOp[K, T, ACC]) emitSession(s *combinedSlot[K, ACC]) error {
	return o.emit(partial[K, T, ACC]{Key: s.key, W: s.w, Acc: s.acc, N: s.n}, s.ts)
}

// emitWindow sends the partial accumulators of a pane and keeps its
// storage for reuse.
func (o *combineOp[K, T, ACC]) emitWindow(cw *combinedWindow[K, ACC]) error {
	if o.last == cw {
		o.last = nil
	}
	for i := range cw.slots {
		s := &cw.slots[i]
		if err := o.emit(partial[K, T, ACC]{Key: s.key, W: cw.w, Acc: s.acc, N: s.n}, cw.w.maxTimestamp()); err != nil {
			return err
		}
	}
	o.held -= len(cw.slots)
	clear(cw.slots)
	cw.slots = cw.slots[:0]
	clear(cw.index)
	o.spare = append(o.spare, cw)
	return nil
}

// emitUpTo sends what a window firing at the watermark wm could need:
// panes ending at or before wm (a pane is in windows that end with it or
// later), sessions starting at or before wm+1. The rest stays.
func (o *combineOp[K, T, ACC]) emitUpTo(wm int64) error {
	n := 0
	for n < len(o.open) && o.open[n].w.maxTimestamp() <= wm {
		if err := o.emitWindow(o.open[n]); err != nil {
			return err
		}
		n++
	}
	o.open = append(o.open[:0], o.open[n:]...)
	if wm != runtime.MaxWatermark {
		return o.emitSessionsUpTo(wm)
	}
	for i := range o.sessions {
		if err := o.emitSession(&o.sessions[i]); err != nil {
			return err
		}
	}
	o.held -= len(o.sessions)
	clear(o.sessions)
	o.sessions = o.sessions[:0]
	clear(o.index)
	for o.starts.len() > 0 {
		o.starts.pop()
	}
	return nil
}

// OnWatermark sends what windows firing at wm could need before the
// watermark goes downstream.
func (o *combineOp[K, T, ACC]) OnWatermark(wm int64) error {
	o.enter()
	o.wm = wm
	return o.emitUpTo(wm)
}

// PrepareBarrier implements runtime.BarrierPreparer: everything held goes
// before the barrier.
func (o *combineOp[K, T, ACC]) PrepareBarrier() error {
	o.enter()
	return o.emitUpTo(runtime.MaxWatermark)
}

// EndInput sends everything still held.
func (o *combineOp[K, T, ACC]) EndInput() error {
	o.enter()
	return o.emitUpTo(runtime.MaxWatermark)
}

// combinedWindowFn is the window operator behind a combiner: it merges
// partial accumulators and processes records that came as they are.
type combinedWindowFn[K comparable, T, ACC, R any] struct {
	windowFn[K, T, ACC, R]
}

func (f *combinedWindowFn[K, T, ACC, R]) Process(c KeyedContext[K], p partial[K, T, ACC], out Out[R]) error {
	if p.N == 0 {
		return f.windowFn.Process(c, p.V, out)
	}
	k := c.scope()
	now := f.now(k)
	a := addend[T, ACC]{acc: p.Acc, partial: true}
	var placed bool
	var err error
	if f.aligned != nil {
		// A pane is in the windows its start is in.
		placed, err = f.addAligned(k, &a, p.W.Start, now, out)
	} else {
		placed, err = f.addSession(c, k, &a, p.W, now, out)
	}
	if err != nil || placed {
		return err
	}
	// Only after its upstream channel was idle can a partial be too late:
	// its records are counted late (there is no late-data output when
	// records are combined).
	k.counts.late += p.N
	return nil
}

// combinable reports whether an Aggregate over ws adds records up in
// front of its exchange: event-time windows without a late-data output
// (which needs the records themselves) and without WithoutLocalAggregation.
func combinable[K comparable, T any](ws WindowedStream[K, T]) bool {
	return !ws.assigner.processingTime && ws.cfg.late == nil && !ws.cfg.noLocal
}

// combined builds Aggregate with local aggregation: the combiner chained
// to the keyed stream's input, with its parallelism, then the exchange by
// key and the window operator merging what arrives.
func combined[K comparable, T, ACC, AR, R any](ws WindowedStream[K, T], agg AggregateFunction[T, ACC, AR], fn windowFn[K, T, ACC, R]) Stream[R] {
	s := ws.ks.s
	n := oneInput(s, "window-combine")
	n.inheritParallelism = true
	n.fanout = fanoutOf[partial[K, T, ACC]]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &combineOp[K, T, ACC]{
			opBase: newOpBase(b), key: ws.ks.key, keys: ws.ks.keys, assigner: ws.assigner,
			create: agg.CreateAccumulator, add: agg.Add,
			next: b.main.(runtime.Pusher[partial[K, T, ACC]]),
		}
		return op, op, nil
	}
	ks := KeyedStream[K, partial[K, T, ACC]]{
		s: Stream[partial[K, T, ACC]]{n: n}, keys: ws.ks.keys,
		key: func(p partial[K, T, ACC]) K { return p.Key },
	}
	return process(ks, KeyedProcessFunction[K, partial[K, T, ACC], R](&combinedWindowFn[K, T, ACC, R]{fn}))
}
