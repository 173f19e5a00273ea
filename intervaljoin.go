package weir

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// IntervalJoin joins each record a of the first stream with every record b
// of the second that has the same key and whose event time lies in
// [time(a)+lower, time(a)+upper], emitting join(a, b) with the event time
// of whichever of the two arrived second. Both sides are buffered in keyed state until the
// watermark passes the last time they could still join, when timers evict
// them. Records without an event time fail the job.
func IntervalJoin[K comparable, A, B, R any](a KeyedStream[K, A], b KeyedStream[K, B], lower, upper time.Duration, join func(A, B) R) Stream[R] {
	if lower > upper {
		a.s.n.env.fail(errors.New("interval join: lower bound after upper bound"))
	}
	if err := errors.Join(stateTypeErr[A]("interval join: first input's record"), stateTypeErr[B]("interval join: second input's record")); err != nil {
		a.s.n.env.fail(err)
	}
	fn := &intervalJoin[K, A, B, R]{lower: lower.Milliseconds(), upper: upper.Milliseconds(), join: join}
	return CoProcess(Connect(a, b), KeyedCoProcessFunction[K, A, B, R](fn)).Name("interval-join")
}

// intervalJoin keeps, per key, the buffered records of both sides in one
// value (joinState) of a namespace-first table with a single namespace, so
// that a record costs one map lookup: it probes the other side's list and
// appends itself to its own. A list holds the records that can still join,
// in arrival order, which is time order unless records came out of order
// (then the list is marked unsorted until it is next copied, sorted).
// Records at its front whose eviction time — their time plus their side's
// slack — the watermark has passed are cut off as records are appended,
// and when a list's array is full it is copied without any such record, so
// a list stays about as long as what can still join. A probe of a sorted
// list finds its first record searching back from the end, where it
// usually is, and stops after its last; it skips what the watermark has
// passed and is not cut off yet. A key's
// cleanup timer, some time after its newest eviction time, drops what the
// watermark has passed since, and the key with its last record.
//
// A record that is already past its eviction time when it arrives stays
// visible until the watermark next advances: it goes to its side's late
// list with a timer at its eviction time, which is due and fires then.
//
// The watermark starts over after a restore, so each snapshot records it
// per key group (clocks, written into the watermarks table under a key of
// the group), and a restored subtask takes it as the key group's horizon:
// what was past its eviction time before the restore stays so.
type intervalJoin[K comparable, A, B, R any] struct {
	lower, upper int64
	join         func(A, B) R
	buf          state.Namespaced[K, unit, joinState[A, B]]
	watermarks   state.Value[K, unit, int64]
	kgStart      int
	clocks       []joinClock[K] // per key group offset
	ctx          *keyedCtx[K]   // the context the runtime passes, once it has
}

// joinState is a key's buffered records: each side's records that can
// still join and whether they are out of time order, and those that
// arrived after their eviction time; Cleanup is the time of the key's
// cleanup timer (noCleanup when it has none).
type joinState[A, B any] struct {
	L         []joinEntry[A]
	R         []joinEntry[B]
	LateL     []joinEntry[A]
	LateR     []joinEntry[B]
	UnsortedL bool // L is not in time order
	UnsortedR bool
	Cleanup   int64
}

// joinEntry is a buffered record with its event time.
type joinEntry[X any] struct {
	Ts int64
	V  X
}

// joinClock is what the join knows of a key group's time: the watermark of
// the snapshot it was restored from (MinWatermark if none), a key of the
// group seen lately, and the key its watermark is recorded under.
type joinClock[K comparable] struct {
	horizon      int64
	seen, marked K
	hasSeen      bool
	hasMarked    bool
}

// noCleanup is the Cleanup of a key without a cleanup timer.
const noCleanup = math.MinInt64

var errNoEventTime = errors.New("interval join: the record has no event time (set EventTime on its source)")

func (j *intervalJoin[K, A, B, R]) Open(c KeyedOpenContext[K]) error {
	oc := c.open()
	sc, err := codec.For[joinState[A, B]]()
	if err != nil {
		return fmt.Errorf("interval join: %w", err)
	}
	if j.buf, err = state.NewNamespaced(oc.backend, state.TableDesc[K, unit, joinState[A, B]]{
		Name: "buffer", Key: oc.keys.codec, Namespace: codec.Unit(), Value: sc,
	}); err != nil {
		return err
	}
	if j.watermarks, err = state.NewValue(oc.backend, state.TableDesc[K, unit, int64]{
		Name: "watermark", Key: oc.keys.codec, Namespace: codec.Unit(), Value: codec.Int64(),
	}); err != nil {
		return err
	}
	// The tables of the join's earlier layout (map state by event time) stay
	// declared, empty, so that restoring state written by it fails, naming
	// the table, rather than dropping what it had buffered.
	for _, name := range []string{"left", "right"} {
		if _, err := state.NewValue(oc.backend, state.TableDesc[K, unit, unit]{
			Name: name, Key: oc.keys.codec, Namespace: codec.Unit(), Value: codec.Unit(),
		}); err != nil {
			return fmt.Errorf("interval join: %w", err)
		}
	}
	cfg := oc.backend.Config()
	j.kgStart = cfg.KeyGroups.Start
	j.clocks = make([]joinClock[K], cfg.KeyGroups.Len())
	for i := range j.clocks {
		j.clocks[i].horizon = runtime.MinWatermark
	}
	var buf []byte
	for k := range j.watermarks.Keys(unit{}) {
		var kg int
		buf, kg = oc.keys.group(buf, k, cfg.MaxParallelism)
		wm, _, err := j.watermarks.Get(kg, k, unit{})
		if err != nil {
			return err
		}
		c := &j.clocks[kg-j.kgStart]
		c.horizon = wm
		c.seen, c.marked, c.hasSeen, c.hasMarked = k, k, true, true
	}
	oc.backend.OnSnapshot(j.recordWatermark)
	return nil
}

// recordWatermark writes the watermark into the snapshot about to be taken,
// once per key group that has a key to write it under.
func (j *intervalJoin[K, A, B, R]) recordWatermark() error {
	if j.ctx == nil || j.ctx.wm == runtime.MinWatermark {
		return nil // no watermark since the start: what was restored holds
	}
	for i := range j.clocks {
		c := &j.clocks[i]
		if !c.hasSeen {
			continue
		}
		kg := j.kgStart + i
		if c.hasMarked && c.marked != c.seen {
			if err := j.watermarks.Delete(kg, c.marked, unit{}); err != nil {
				return err
			}
		}
		if err := j.watermarks.Put(kg, c.seen, unit{}, max(j.ctx.wm, c.horizon)); err != nil {
			return err
		}
		c.marked, c.hasMarked = c.seen, true
	}
	return nil
}

// now returns the time eviction follows for the current key: the
// watermark, or the key group's horizon if that is later.
func (j *intervalJoin[K, A, B, R]) now(k *keyedCtx[K]) int64 {
	j.ctx = k
	return max(k.wm, j.clocks[k.kg-j.kgStart].horizon)
}

// slacks returns how long after its event time the watermark must be for a
// left and a right record to join nothing more.
func (j *intervalJoin[K, A, B, R]) slacks() (left, right int64) {
	return max(j.upper, 0), -min(j.lower, 0)
}

// cleanupDelay is how long after a key's newest eviction time its cleanup
// timer fires: the join interval's length, and at least 100 ms, so that an
// active key's timer fires now and then rather than with every record.
func (j *intervalJoin[K, A, B, R]) cleanupDelay() int64 {
	return max(j.upper-j.lower+1, 100)
}

// state returns the current key's buffered records, for reading and
// writing in place until the next call on the table, and notes the key as
// one of its key group's.
func (j *intervalJoin[K, A, B, R]) state(k *keyedCtx[K]) (*joinState[A, B], error) {
	p, created, _, err := j.buf.Slot(k.kg, k.key, unit{})
	if err != nil {
		return nil, err
	}
	if created {
		p.Cleanup = noCleanup
	}
	c := &j.clocks[k.kg-j.kgStart]
	c.seen, c.hasSeen = k.key, true
	return p, nil
}

func (j *intervalJoin[K, A, B, R]) Process1(c KeyedContext[K], v A, out Out[R]) error {
	k := c.scope()
	ta := k.ts
	if ta == runtime.NoTimestamp {
		return errNoEventTime
	}
	ls, rs := j.slacks()
	now := j.now(k)
	st, err := j.state(k)
	if err != nil {
		return err
	}
	lo, hi := ta+j.lower, ta+j.upper
	probe(st.R, st.UnsortedR, lo, hi, rs, now, func(b B) { out.Emit(j.join(v, b)) })
	for _, e := range st.LateR {
		if e.Ts >= lo && e.Ts <= hi {
			out.Emit(j.join(v, e.V))
		}
	}
	e := joinEntry[A]{Ts: ta, V: v}
	if now != runtime.MinWatermark && ta+ls <= now {
		st.LateL = append(st.LateL, e)
		return j.lateTimer(k, ta+ls)
	}
	st.L = appendLive(st.L, &st.UnsortedL, e, ls, now)
	return j.cleanupTimer(k, st, ta+ls)
}

func (j *intervalJoin[K, A, B, R]) Process2(c KeyedContext[K], v B, out Out[R]) error {
	k := c.scope()
	tb := k.ts
	if tb == runtime.NoTimestamp {
		return errNoEventTime
	}
	ls, rs := j.slacks()
	now := j.now(k)
	st, err := j.state(k)
	if err != nil {
		return err
	}
	lo, hi := tb-j.upper, tb-j.lower
	probe(st.L, st.UnsortedL, lo, hi, ls, now, func(a A) { out.Emit(j.join(a, v)) })
	for _, e := range st.LateL {
		if e.Ts >= lo && e.Ts <= hi {
			out.Emit(j.join(e.V, v))
		}
	}
	e := joinEntry[B]{Ts: tb, V: v}
	if now != runtime.MinWatermark && tb+rs <= now {
		st.LateR = append(st.LateR, e)
		return j.lateTimer(k, tb+rs)
	}
	st.R = appendLive(st.R, &st.UnsortedR, e, rs, now)
	return j.cleanupTimer(k, st, tb+rs)
}

// lateTimer sets the timer that drops a record buffered after its eviction
// time evict; being due, it fires when the watermark next advances.
func (j *intervalJoin[K, A, B, R]) lateTimer(k *keyedCtx[K], evict int64) error {
	return k.op.timerService().register(EventTimeDomain, k.kg, k.key, evict)
}

// cleanupTimer sets the key's cleanup timer, after evict, the eviction time
// of the record just buffered, unless it has one.
func (j *intervalJoin[K, A, B, R]) cleanupTimer(k *keyedCtx[K], st *joinState[A, B], evict int64) error {
	if st.Cleanup != noCleanup {
		return nil
	}
	st.Cleanup = evict + j.cleanupDelay()
	return k.op.timerService().register(EventTimeDomain, k.kg, k.key, st.Cleanup)
}

// probe calls emit with every record of a side's list whose time lies in
// [lo, hi] and that can still join at now (its time plus slack is after
// now). In a sorted list those are a run, found from the end.
func probe[X any](es []joinEntry[X], unsorted bool, lo, hi, slack, now int64, emit func(X)) {
	if now != runtime.MinWatermark {
		lo = max(lo, now-slack+1)
	}
	if unsorted {
		for _, e := range es {
			if e.Ts >= lo && e.Ts <= hi {
				emit(e.V)
			}
		}
		return
	}
	// The first record at or after lo. Records usually come in time order,
	// so it is near the end: step back from there, doubling the step, then
	// search the last step.
	j, step := len(es), 1 // every record from j on is at or after lo
	i := j - step
	for i >= 0 && es[i].Ts >= lo {
		j, step = i, step*2
		i = j - step
	}
	for i = max(i+1, 0); i < j; {
		m := int(uint(i+j) >> 1)
		if es[m].Ts < lo {
			i = m + 1
		} else {
			j = m
		}
	}
	for ; i < len(es) && es[i].Ts <= hi; i++ {
		emit(es[i].V)
	}
}

// appendLive appends e to a side's list after cutting off the records at
// its front that cannot join any more at now, and notes in unsorted when e
// is out of time order. A full list is copied — sorted, without any record
// that cannot join — with room to grow: so the list never writes below its
// length, which a snapshot may share, and stays about as long as what can
// still join.
func appendLive[X any](es []joinEntry[X], unsorted *bool, e joinEntry[X], slack, now int64) []joinEntry[X] {
	i := 0
	for i < len(es) && es[i].Ts+slack <= now {
		i++
	}
	es = es[i:]
	if len(es) == cap(es) && len(es) > 0 {
		es = live(es, unsorted, slack, now, 1)
	}
	if len(es) > 0 && e.Ts < es[len(es)-1].Ts {
		*unsorted = true
	}
	return append(es, e)
}

// live returns a new list, in time order, of the records of es that can
// still join at now, with room for extra more, and clears unsorted.
func live[X any](es []joinEntry[X], unsorted *bool, slack, now int64, extra int) []joinEntry[X] {
	n := 0
	for _, e := range es {
		if e.Ts+slack > now {
			n++
		}
	}
	out := make([]joinEntry[X], 0, 2*n+extra)
	for _, e := range es {
		if e.Ts+slack > now {
			out = append(out, e)
		}
	}
	if *unsorted {
		slices.SortStableFunc(out, func(a, b joinEntry[X]) int { return cmp.Compare(a.Ts, b.Ts) })
		*unsorted = false
	}
	return out
}

// compact returns es without the records that cannot join at now, in time
// order. A list in time order has those at its front and is cut there, as
// appendLive cuts it, without copying what is left: an active key's list
// is copied when it fills, and a quiet key's list empties.
func compact[X any](es []joinEntry[X], unsorted *bool, slack, now int64) []joinEntry[X] {
	if !*unsorted {
		i := 0
		for i < len(es) && es[i].Ts+slack <= now {
			i++
		}
		if i == len(es) {
			return nil
		}
		return es[i:]
	}
	if out := live(es, unsorted, slack, now, 0); len(out) > 0 {
		return out
	}
	return nil
}

// dropLate returns the late list es without the records whose eviction
// time (time plus slack) is at most ts: each has a timer at that time.
func dropLate[X any](es []joinEntry[X], slack, ts int64) []joinEntry[X] {
	var out []joinEntry[X]
	for _, e := range es {
		if e.Ts+slack > ts {
			out = append(out, e)
		}
	}
	return out
}

// OnTimer evicts what can no longer join: the late records whose eviction
// time the timer marks and, at the key's cleanup timer, the records the
// watermark has passed (a left record once it passes its time plus upper,
// a right one once it passes its time minus lower), setting the next
// cleanup timer while the key has records, and dropping the key when it
// has none.
func (j *intervalJoin[K, A, B, R]) OnTimer(c TimerContext[K], _ Out[R]) error {
	k := c.scope()
	ts := k.timer
	st, ok, err := j.buf.Get(k.kg, k.key, unit{})
	if err != nil || !ok {
		return err
	}
	ls, rs := j.slacks()
	now := j.now(k)
	if len(st.LateL) > 0 {
		st.LateL = dropLate(st.LateL, ls, ts)
	}
	if len(st.LateR) > 0 {
		st.LateR = dropLate(st.LateR, rs, ts)
	}
	if ts == st.Cleanup {
		st.L, st.R = compact(st.L, &st.UnsortedL, ls, now), compact(st.R, &st.UnsortedR, rs, now)
		st.Cleanup = noCleanup
		newest := int64(math.MinInt64)
		for _, e := range st.L {
			newest = max(newest, e.Ts+ls)
		}
		for _, e := range st.R {
			newest = max(newest, e.Ts+rs)
		}
		if newest != math.MinInt64 {
			st.Cleanup = newest + j.cleanupDelay()
			if err := k.op.timerService().register(EventTimeDomain, k.kg, k.key, st.Cleanup); err != nil {
				return err
			}
		}
	}
	if len(st.L)+len(st.R)+len(st.LateL)+len(st.LateR) == 0 && st.Cleanup == noCleanup {
		return j.buf.Delete(k.kg, k.key, unit{})
	}
	return j.buf.Put(k.kg, k.key, unit{}, st)
}
