package weir

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// The tests in this file check the window operators and the interval join
// against reference implementations of the same semantics written the
// plain way, on map state and one timer per key and window (or record),
// which is how they were first built. Both are driven by hand (opHarness),
// without the runtime, through the same random records and watermarks —
// out of order, some late — with checkpoints restored at other
// parallelisms on the way, and must emit the same results.

// equivMaxPar is small so that keys share key groups.
const equivMaxPar = 4

// harnessSubtask is one subtask of an opHarness: its backend, timers and
// context, as keyedCore has them.
type harnessSubtask struct {
	kgs     state.KeyGroupRange
	backend state.Backend
	timers  *timerService[string]
	ctx     keyedCtx[string]
	counts  counters
	fn      any
}

func (s *harnessSubtask) timerService() *timerService[string] { return s.timers }

// opHarness runs a keyed function with string keys at some parallelism:
// records go to the subtask owning their key group, watermarks to all, and
// restart snapshots every subtask and restores the state at another
// parallelism.
type opHarness struct {
	t     *testing.T
	open  func(state.Config) (state.Backend, error)
	newFn func() any
	sides map[string]any
	subs  []*harnessSubtask
	out   []string
}

// strOut appends what a function emits to the harness's output.
type strOut struct{ h *opHarness }

func (o strOut) Emit(v string) { o.h.out = append(o.h.out, v) }

// pusherFunc is a runtime.Pusher calling a function.
type pusherFunc[T any] func(T) error

func (f pusherFunc[T]) Push(v T) error { return f(v) }

// newOpHarness starts p subtasks of the functions newFn returns, keeping
// their state in backend; records sent to the side output named late are
// formatted with late.
func newOpHarness(t *testing.T, backend Backend, p int, newFn func() any, late func(equivRec) string) *opHarness {
	h := &opHarness{t: t, open: backend.open, newFn: newFn}
	lateOut := &out[equivRec]{meta: &runtime.Meta{}, next: pusherFunc[equivRec](func(r equivRec) error {
		h.out = append(h.out, late(r))
		return nil
	})}
	h.sides = map[string]any{"late": lateOut}
	h.start(p, nil)
	return h
}

// start opens p subtasks, restored from snaps when there are any.
func (h *opHarness) start(p int, snaps [][]byte) {
	h.subs = nil
	for i := range p {
		s := &harnessSubtask{kgs: keygroup.RangeFor(equivMaxPar, p, i), fn: h.newFn()}
		b, err := h.open(state.Config{OperatorID: "op", KeyGroups: s.kgs, MaxParallelism: equivMaxPar, Subtask: i, Parallelism: p})
		if err != nil {
			h.t.Fatal(err)
		}
		if snaps != nil {
			var rs []state.SnapshotFile
			for j, sn := range snaps {
				rs = append(rs, state.BytesSnapshot(fmt.Sprintf("snapshot %d", j), sn))
			}
			if err := b.Restore(rs); err != nil {
				h.t.Fatal(err)
			}
		}
		s.backend = b
		keys := keyInfo[string]{codec: codec.String()}
		if s.timers, err = newTimerService(b, keys); err != nil {
			h.t.Fatal(err)
		}
		s.ctx = keyedCtx[string]{op: s, wm: runtime.MinWatermark, counts: &s.counts, sides: h.sides}
		oc := &keyedOpenCtx[string]{name: "op", id: "op", subtask: i, parallelism: p, backend: b, keys: keys}
		if err := s.fn.(KeyedOpener[string]).Open(oc); err != nil || oc.err != nil {
			h.t.Fatal(err, oc.err)
		}
		h.subs = append(h.subs, s)
	}
}

// restart takes a snapshot of every subtask and restores them all at
// parallelism p; the watermark starts over, as after a restore.
func (h *opHarness) restart(p int) {
	var snaps [][]byte
	for _, s := range h.subs {
		snap, err := s.backend.Snapshot()
		if err != nil {
			h.t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := snap.WriteTo(&buf); err != nil {
			h.t.Fatal(err)
		}
		snaps = append(snaps, buf.Bytes())
		s.backend.Close()
	}
	h.start(p, snaps)
}

// record processes one record of key k at event time ts with process.
func (h *opHarness) record(k string, ts int64, process func(fn any, c *keyedCtx[string]) error) {
	kg := keygroup.Of(codec.String().Append(nil, k), equivMaxPar)
	for _, s := range h.subs {
		if !s.kgs.Contains(kg) {
			continue
		}
		s.ctx.key, s.ctx.kg, s.ctx.ts, s.ctx.domain = k, kg, ts, EventTimeDomain
		if err := process(s.fn, &s.ctx); err != nil {
			h.t.Fatal(err)
		}
		return
	}
	h.t.Fatalf("no subtask owns key group %d", kg)
}

// watermark advances every subtask to wm, firing the timers it passes.
func (h *opHarness) watermark(wm int64) {
	for _, s := range h.subs {
		s.ctx.wm = wm
		err := s.timers.fire(EventTimeDomain, wm, nil, func(t timer[string]) error {
			s.ctx.key, s.ctx.kg, s.ctx.ts, s.ctx.domain, s.ctx.timer = t.key, t.kg, t.ts, EventTimeDomain, t.ts
			return s.fn.(KeyedTimerHandler[string, string]).OnTimer(&s.ctx, strOut{h})
		})
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

// stateLen counts the entries left in every subtask's state: stateOf
// returns a function's own; timers are added.
func (h *opHarness) stateLen(stateOf func(fn any) int) int {
	n := 0
	for _, s := range h.subs {
		n += stateOf(s.fn) + s.timers.len()
	}
	return n
}

// closeAll closes every subtask's backend.
func (h *opHarness) closeAll() {
	for _, s := range h.subs {
		s.backend.Close()
	}
}

// equivRec is a record of the random scripts: its key, value and time.
type equivRec struct {
	K  string
	V  int64
	Ts int64
}

// equivItem is a record (rec) or a watermark (wm), or a restart at
// another parallelism (restart > 0).
type equivItem struct {
	rec     equivRec
	wm      int64
	isWM    bool
	restart int
	side    int // join: 0 left, 1 right
}

// randomScript returns n items: records of a few keys around a time that
// moves on, with jitter so that some come out of order and some after the
// watermark passed them, watermarks lagging the time, and a few restarts.
func randomScript(r *rand.Rand, n int, jitter, lag int64) []equivItem {
	keys := []string{"a", "b", "c", "d", "e", "f", "g"}
	var items []equivItem
	base, wm := int64(1000), int64(runtime.MinWatermark)
	for range n {
		switch x := r.IntN(100); {
		case x < 12:
			if next := base - r.Int64N(lag+1); next > wm {
				wm = next
				items = append(items, equivItem{wm: wm, isWM: true})
			}
		case x < 14:
			items = append(items, equivItem{restart: 1 + r.IntN(3)})
		default:
			base += r.Int64N(8)
			ts := base + r.Int64N(2*jitter+1) - jitter
			items = append(items, equivItem{rec: equivRec{K: keys[r.IntN(len(keys))], V: 1 + r.Int64N(100), Ts: ts}, side: r.IntN(2)})
		}
	}
	return append(items, equivItem{wm: runtime.MaxWatermark, isWM: true})
}

// refWindow is the reference window function: every window of a key in map
// state, a timer at each window's end and at the end of its lateness, and
// each timer looking at all of the key's windows.
type refWindow struct {
	a        WindowAssigner
	lateness int64
	late     OutputTag[equivRec]
	wins     MapState[string, Window, int64]
}

func (f *refWindow) Open(c KeyedOpenContext[string]) error {
	f.wins = MapOf[Window, int64](c, "ref-windows")
	return nil
}

func refNow(c KeyedContext[string]) int64 {
	if wm := c.Watermark(); !wm.IsZero() {
		return wm.UnixMilli()
	}
	return runtime.MinWatermark
}

func (f *refWindow) Process(c KeyedContext[string], r equivRec, out Out[string]) error {
	now := refNow(c)
	started := now != runtime.MinWatermark
	placed := false
	for _, w := range f.a.assign(nil, r.Ts) {
		if started && w.maxTimestamp()+f.lateness <= now {
			continue
		}
		placed = true
		if f.a.gap > 0 {
			w = f.merge(c, w)
		}
		acc, _, _ := f.wins.Get(c, w)
		acc += r.V
		if err := f.wins.Put(c, w, acc); err != nil {
			return err
		}
		if f.lateness > 0 {
			// Also for a window that fires at once below, so that it goes
			// when its lateness is over.
			if err := c.Timers().RegisterEventTime(time.UnixMilli(w.maxTimestamp() + f.lateness)); err != nil {
				return err
			}
		}
		if started && w.maxTimestamp() <= now {
			out.Emit(fmt.Sprintf("%s %v %d", c.Key(), w, acc))
			continue
		}
		if err := c.Timers().RegisterEventTime(time.UnixMilli(w.maxTimestamp())); err != nil {
			return err
		}
	}
	if !placed {
		Output(c, f.late, r)
	}
	return nil
}

// merge merges w with the sessions it overlaps or touches.
func (f *refWindow) merge(c KeyedContext[string], w Window) Window {
	merged, sum, found := w, int64(0), false
	for again := true; again; {
		again = false
		for o, a := range f.wins.All(c) {
			if o.Start <= merged.End && merged.Start <= o.End {
				merged = Window{Start: min(merged.Start, o.Start), End: max(merged.End, o.End)}
				sum += a
				found = true
				f.wins.Delete(c, o)
				again = true
				break // the map changed: list it again
			}
		}
	}
	if found {
		f.wins.Put(c, merged, sum)
	}
	return merged
}

func (f *refWindow) OnTimer(c TimerContext[string], out Out[string]) error {
	ts := c.Time().UnixMilli()
	var gone []Window
	for w, acc := range f.wins.All(c) {
		if w.maxTimestamp() == ts {
			out.Emit(fmt.Sprintf("%s %v %d", c.Key(), w, acc))
		}
		if w.maxTimestamp() <= ts && w.maxTimestamp()+f.lateness <= ts {
			gone = append(gone, w)
		}
	}
	for _, w := range gone {
		f.wins.Delete(c, w)
	}
	return nil
}

// sumAcc sums records' values.
type sumAcc struct{}

func (sumAcc) CreateAccumulator() int64        { return 0 }
func (sumAcc) Add(r equivRec, acc int64) int64 { return acc + r.V }
func (sumAcc) Result(acc int64) int64          { return acc }
func (sumAcc) Merge(a, b int64) int64          { return a + b }

// newWindowFn returns the window operator's function as Aggregate builds
// it, emitting results as the reference does.
func newWindowFn(a WindowAssigner, lateness int64, late OutputTag[equivRec]) *windowFn[string, equivRec, int64, string] {
	return &windowFn[string, equivRec, int64, string]{
		assigner: a, cfg: windowConfig[equivRec]{lateness: lateness, late: &late},
		create: sumAcc{}.CreateAccumulator, add: sumAcc{}.Add, merge: sumAcc{}.Merge,
		fire: func(k string, w Window, acc int64, out Out[string]) error {
			out.Emit(fmt.Sprintf("%s %v %d", k, w, acc))
			return nil
		},
	}
}

// windowState counts the entries a window function keeps.
func windowState(fn any) int {
	switch f := fn.(type) {
	case *refWindow:
		return f.wins.t.Len()
	case *windowFn[string, equivRec, int64, string]:
		if f.aligned != nil {
			return f.aligned.Len()
		}
		return f.latest.Len() + f.windows.t.Len()
	}
	panic(fmt.Sprintf("%T", fn))
}

func lateLine(r equivRec) string { return fmt.Sprintf("late %s %d @%d", r.K, r.V, r.Ts) }

// runWindowScript plays items through a window function at parallelism 2
// (and others after restarts) and returns what it emitted, late records
// included, sorted. Nothing may be left in state at the end.
func runWindowScript(t *testing.T, items []equivItem, newFn func() any) []string {
	return runWindowScriptOn(t, MemoryBackend, items, newFn)
}

// runWindowScriptOn is runWindowScript with the state in backend.
func runWindowScriptOn(t *testing.T, backend Backend, items []equivItem, newFn func() any) []string {
	return runScript(t, backend, items, newFn, windowState, func(fn any, c *keyedCtx[string], it equivItem, out strOut) error {
		return fn.(KeyedProcessFunction[string, equivRec, string]).Process(c, it.rec, out)
	})
}

// runScript plays items through the function newFn makes at parallelism 2
// (and others after restarts), handing each record to deliver, and returns
// what it emitted, sorted. Nothing may be left in state (as stateLen
// counts it) at the end.
func runScript(t *testing.T, backend Backend, items []equivItem, newFn func() any, stateLen func(any) int,
	deliver func(fn any, c *keyedCtx[string], it equivItem, out strOut) error) []string {
	h := newOpHarness(t, backend, 2, newFn, lateLine)
	defer h.closeAll()
	for _, it := range items {
		switch {
		case it.isWM:
			h.watermark(it.wm)
		case it.restart > 0:
			h.restart(it.restart)
		default:
			h.record(it.rec.K, it.rec.Ts, func(fn any, c *keyedCtx[string]) error {
				return deliver(fn, c, it, strOut{h})
			})
		}
	}
	if n := h.stateLen(stateLen); n != 0 {
		t.Errorf("%d state entries left after the end of input", n)
	}
	slices.Sort(h.out)
	return h.out
}

func TestWindowsMatchReference(t *testing.T) {
	assigners := map[string]WindowAssigner{
		"tumbling":    TumblingEventTime(100 * time.Millisecond),
		"sliding":     SlidingEventTime(100*time.Millisecond, 25*time.Millisecond),
		"sliding-2":   SlidingEventTime(90*time.Millisecond, 45*time.Millisecond),
		"sliding-10":  SlidingEventTime(100*time.Millisecond, 10*time.Millisecond),
		"sliding-7":   SlidingEventTime(70*time.Millisecond, 10*time.Millisecond),
		"sessions":    EventTimeSessions(30 * time.Millisecond),
		"sessions-15": EventTimeSessions(15 * time.Millisecond),
	}
	late := NewOutputTag[equivRec]("late")
	for name, a := range assigners {
		for _, lateness := range []int64{0, 40} {
			for seed := range uint64(25) {
				t.Run(fmt.Sprintf("%s/lateness=%d/seed=%d", name, lateness, seed), func(t *testing.T) {
					// Odd seeds: records in time order.
					items := randomScript(rand.New(rand.NewPCG(seed, 7)), 400, 30*int64(1-seed%2), 40)
					want := runWindowScript(t, items, func() any { return &refWindow{a: a, lateness: lateness, late: late} })
					got := runWindowScript(t, items, func() any { return newWindowFn(a, lateness, late) })
					if !slices.Equal(got, want) {
						t.Fatalf("window results differ from the reference:\n%s", diffLines(got, want))
					}
					if len(want) == 0 {
						t.Fatal("no results")
					}
				})
			}
		}
	}
}

// The window operators keep their state and timers on the bytes backend
// as on the memory backend: through the same scripts, restored at other
// parallelisms on the way, they emit what the reference emits.
func TestWindowsOnBytesBackendMatchReference(t *testing.T) {
	assigners := map[string]WindowAssigner{
		"tumbling":   TumblingEventTime(100 * time.Millisecond),
		"sliding":    SlidingEventTime(100*time.Millisecond, 25*time.Millisecond),
		"sliding-10": SlidingEventTime(100*time.Millisecond, 10*time.Millisecond),
		"sessions":   EventTimeSessions(30 * time.Millisecond),
	}
	late := NewOutputTag[equivRec]("late")
	for name, a := range assigners {
		for _, lateness := range []int64{0, 40} {
			for seed := range uint64(4) {
				t.Run(fmt.Sprintf("%s/lateness=%d/seed=%d", name, lateness, seed), func(t *testing.T) {
					items := randomScript(rand.New(rand.NewPCG(seed, 7)), 400, 30*int64(1-seed%2), 40)
					want := runWindowScript(t, items, func() any { return &refWindow{a: a, lateness: lateness, late: late} })
					got := runWindowScriptOn(t, BytesBackend, items, func() any { return newWindowFn(a, lateness, late) })
					if !slices.Equal(got, want) {
						t.Fatalf("window results on the bytes backend differ from the reference:\n%s", diffLines(got, want))
					}
				})
			}
		}
	}
}

// diffLines lists the lines only one of got and want has (both sorted).
func diffLines(got, want []string) string {
	var b strings.Builder
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			fmt.Fprintf(&b, "  + %s\n", got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			fmt.Fprintf(&b, "  - %s\n", want[j])
			j++
		default:
			i++
			j++
		}
	}
	return b.String()
}

// refJoin is the reference interval join: each side in map state by event
// time, every probe looking at all of the other side's times, and a timer
// per record evicting it.
type refJoin struct {
	lower, upper int64
	left, right  MapState[string, int64, []equivRec]
}

func (j *refJoin) Open(c KeyedOpenContext[string]) error {
	j.left = MapOf[int64, []equivRec](c, "ref-left")
	j.right = MapOf[int64, []equivRec](c, "ref-right")
	return nil
}

func joinLine(a, b equivRec) string { return fmt.Sprintf("%s %d@%d-%d@%d", a.K, a.V, a.Ts, b.V, b.Ts) }

func (j *refJoin) Process1(c KeyedContext[string], a equivRec, out Out[string]) error {
	for tb, bs := range j.right.All(c) {
		if tb >= a.Ts+j.lower && tb <= a.Ts+j.upper {
			for _, b := range bs {
				out.Emit(joinLine(a, b))
			}
		}
	}
	return refBuffer(c, j.left, a, a.Ts+max(j.upper, 0))
}

func (j *refJoin) Process2(c KeyedContext[string], b equivRec, out Out[string]) error {
	for ta, as := range j.left.All(c) {
		if b.Ts >= ta+j.lower && b.Ts <= ta+j.upper {
			for _, a := range as {
				out.Emit(joinLine(a, b))
			}
		}
	}
	return refBuffer(c, j.right, b, b.Ts-min(j.lower, 0))
}

func refBuffer(c KeyedContext[string], side MapState[string, int64, []equivRec], r equivRec, until int64) error {
	rs, _, _ := side.Get(c, r.Ts)
	if err := side.Put(c, r.Ts, append(slices.Clip(rs), r)); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(until))
}

func (j *refJoin) OnTimer(c TimerContext[string], _ Out[string]) error {
	wm := c.Time().UnixMilli()
	for _, s := range []struct {
		side  MapState[string, int64, []equivRec]
		slack int64
	}{{j.left, max(j.upper, 0)}, {j.right, -min(j.lower, 0)}} {
		var old []int64
		for ts := range s.side.All(c) {
			if ts+s.slack <= wm {
				old = append(old, ts)
			}
		}
		for _, ts := range old {
			s.side.Delete(c, ts)
		}
	}
	return nil
}

// joinStateLen counts the entries a join function keeps.
func joinStateLen(fn any) int {
	switch j := fn.(type) {
	case *refJoin:
		return j.left.t.Len() + j.right.t.Len()
	case *intervalJoin[string, equivRec, equivRec, string]:
		return j.buf.Len() // the watermark markers stay
	}
	panic(fmt.Sprintf("%T", fn))
}

// runJoinScript plays items through a join function, records of side 0 to
// its first input and of side 1 to its second, and returns the pairs it
// emitted, sorted. Nothing may be left in state at the end.
func runJoinScript(t *testing.T, items []equivItem, newFn func() any) []string {
	return runScript(t, MemoryBackend, items, newFn, joinStateLen, func(fn any, c *keyedCtx[string], it equivItem, out strOut) error {
		j := fn.(KeyedCoProcessFunction[string, equivRec, equivRec, string])
		if it.side == 0 {
			return j.Process1(c, it.rec, out)
		}
		return j.Process2(c, it.rec, out)
	})
}

func TestIntervalJoinMatchesReference(t *testing.T) {
	for _, b := range []struct{ lower, upper int64 }{{-20, 20}, {-5, 30}, {0, 0}, {10, 40}, {-40, -10}, {-3, 3}} {
		for seed := range uint64(25) {
			t.Run(fmt.Sprintf("[%d,%d]/seed=%d", b.lower, b.upper, seed), func(t *testing.T) {
				// Odd seeds: records in time order, so the lists stay sorted.
				items := randomScript(rand.New(rand.NewPCG(seed, 11)), 400, 30*int64(1-seed%2), 40)
				want := runJoinScript(t, items, func() any { return &refJoin{lower: b.lower, upper: b.upper} })
				got := runJoinScript(t, items, func() any {
					return &intervalJoin[string, equivRec, equivRec, string]{lower: b.lower, upper: b.upper, join: joinLine}
				})
				if !slices.Equal(got, want) {
					t.Fatalf("join results differ from the reference:\n%s", diffLines(got, want))
				}
				if len(want) == 0 && b.lower != 0 {
					t.Fatal("no results")
				}
			})
		}
	}
}

// pacedSource emits its records one per poll, sleeping before each as long
// as it says: a processing-time script (run it in a synctest bubble).
type pacedSource struct{ items []pacedItem }

// pacedItem is a record and how long to sleep before emitting it; a record
// with an empty key only sleeps.
type pacedItem struct {
	sleep time.Duration
	rec   equivRec
}

func (s *pacedSource) Splits(context.Context) ([]Split, error) { return []Split{{ID: "0"}}, nil }
func (s *pacedSource) Bounded() bool                           { return true }
func (s *pacedSource) OpenSplit(context.Context, Split, []byte) (SplitReader[equivRec], error) {
	return &pacedReader{s: s}, nil
}

type pacedReader struct {
	s    *pacedSource
	next int
}

func (r *pacedReader) Poll(out SourceOutput[equivRec], _ int) (PollStatus, error) {
	if r.next == len(r.s.items) {
		return End, nil
	}
	it := r.s.items[r.next]
	time.Sleep(it.sleep)
	if it.rec.K != "" {
		out.Emit(it.rec, int64(r.next))
	}
	r.next++
	return More, nil
}

func (r *pacedReader) Position() []byte { return []byte{byte(r.next)} }
func (r *pacedReader) Close() error     { return nil }

// Processing-time sessions and sliding windows follow the wall clock: a
// session grows while records come within the gap and fires a gap after
// the last; a sliding window sums what arrived while it was open.
func TestProcessingTimeSessionsAndSliding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms := time.Millisecond
		items := []pacedItem{
			{0, equivRec{K: "k", V: 1}},
			{50 * ms, equivRec{K: "k", V: 2}},
			{50 * ms, equivRec{K: "k", V: 4}},
			{300 * ms, equivRec{K: "k", V: 8}}, // the first session fired meanwhile
			{300 * ms, equivRec{}},             // the second fires before the end
		}
		run := func(a WindowAssigner, withLength bool) []string {
			env := New()
			src := From(env, &pacedSource{items: items})
			sums := Aggregate(Windowed(KeyBy(src, func(r equivRec) string { return r.K }), a), sumAcc{})
			got := Collect(Map(sums, func(r WindowResult[string, int64]) string {
				if !withLength {
					return fmt.Sprintf("%s %d", r.Key, r.Value)
				}
				return fmt.Sprintf("%s %dms %d", r.Key, r.Window.End-r.Window.Start, r.Value)
			}))
			if err := env.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			return got.Values()
		}
		// A session's length depends on when the exchange hands records
		// over (in batches, flushed when the source returns from a poll),
		// so only its contents are checked.
		if got, want := run(ProcessingTimeSessions(100*ms), false), []string{"k 7", "k 8"}; !slices.Equal(got, want) {
			t.Errorf("sessions: got %q, want %q", got, want)
		}
		// Windows of 200 ms every 100 ms: each record is in two (the sums
		// add up to twice 15), each window fires once its end has passed.
		want := []string{"k 200ms 3", "k 200ms 7", "k 200ms 4", "k 200ms 8", "k 200ms 8"}
		if got := run(SlidingProcessingTime(200*ms, 100*ms), true); !slices.Equal(got, want) {
			t.Errorf("sliding: got %q, want %q", got, want)
		}
	})
}
