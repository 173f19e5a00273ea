package statetest

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// The contract of state.NewTimers, checked against a model: a map of the
// pending timers and the sequence counter, fired in (time, sequence, key
// group) order.

// timerModel is what a domain's timers must be.
type timerModel struct {
	seq     uint64
	pending [2]map[timerKey]uint64
}

func newTimerModel() *timerModel {
	return &timerModel{pending: [2]map[timerKey]uint64{{}, {}}}
}

// order returns the timers of domain d in firing order.
func (m *timerModel) order(d uint8) []state.Timer[string] {
	var q []state.Timer[string]
	for tk, seq := range m.pending[d] {
		q = append(q, state.Timer[string]{Key: tk.key, Time: tk.ts, Seq: seq, KeyGroup: kgOf(tk.key)})
	}
	slices.SortFunc(q, func(a, b state.Timer[string]) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.KeyGroup, b.KeyGroup))
	})
	return q
}

// groups counts the (domain, key group) pairs that have timers.
func (m *timerModel) groups() int {
	n := 0
	for d := range m.pending {
		kgs := map[int]bool{}
		for tk := range m.pending[d] {
			kgs[kgOf(tk.key)] = true
		}
		n += len(kgs)
	}
	return n
}

// storeTimers returns the backend's Timers, or nil after checking that a
// backend without StoreTimers declines.
func (h *harness) storeTimers(b state.Backend) state.Timers[string] {
	h.t.Helper()
	st, ok, err := state.NewTimers(b, strC)
	h.must(err)
	if ok != h.caps.StoreTimers {
		h.t.Fatalf("NewTimers ok = %v; the backend declares StoreTimers %v", ok, h.caps.StoreTimers)
	}
	return st
}

// register registers on st and in m, checking that both agree.
func (m *timerModel) register(h *harness, st state.Timers[string], d uint8, k string, at int64) {
	h.t.Helper()
	set, err := st.Register(d, kgOf(k), k, at)
	h.must(err)
	_, had := m.pending[d][timerKey{k, at}]
	if set == had {
		h.t.Fatalf("Register(%d, %s@%d) = %v; the timer was set: %v", d, k, at, set, had)
	}
	if set {
		m.seq++
		m.pending[d][timerKey{k, at}] = m.seq
	}
}

// check compares st's Next, Queued and Len with m.
func (m *timerModel) check(h *harness, st state.Timers[string], what string) {
	h.t.Helper()
	for d := range uint8(2) {
		q := m.order(d)
		at, ok := st.Next(d)
		if ok != (len(q) > 0) || ok && at != q[0].Time {
			h.t.Fatalf("%s: Next(%d) = %d, %v; want the first of %v", what, d, at, ok, q[:min(len(q), 3)])
		}
	}
	if n, want := st.Queued(), m.groups(); n != want {
		h.t.Fatalf("%s: Queued = %d; want %d, one per key group and domain with timers", what, n, want)
	}
}

// popUpTo pops the timers of domain d due at upTo, checking each against
// m, and returns them.
func (m *timerModel) popUpTo(h *harness, st state.Timers[string], d uint8, upTo int64) []state.Timer[string] {
	h.t.Helper()
	var fired []state.Timer[string]
	for _, want := range m.order(d) {
		if want.Time > upTo {
			break
		}
		got, ok, err := st.Pop(d)
		h.must(err)
		if !ok || got != want {
			h.t.Fatalf("Pop(%d) = %+v, %v; want %+v", d, got, ok, want)
		}
		delete(m.pending[d], timerKey{want.Key, want.Time})
		fired = append(fired, got)
	}
	if at, ok := st.Next(d); ok && at <= upTo {
		h.t.Fatalf("after firing up to %d, Next(%d) = %d", upTo, d, at)
	}
	return fired
}

// testStoreTimersOrder: registering (a timer set once), deleting (also a
// key group's first timer, and re-registering at another time), and
// popping, mixed at random, keep Next and Pop in (time, sequence) order
// across key groups, with one in-memory entry per key group and domain.
func testStoreTimersOrder(h *harness) {
	b := h.backend(0, 1)
	st := h.storeTimers(b)
	if st == nil {
		return
	}
	m := newTimerModel()
	rng := rand.New(rand.NewPCG(7, 11))
	keys := keysIn(all, 60)
	var fired int64 = -60 // how far each domain has fired
	for i := range 4000 {
		d := uint8(rng.IntN(2))
		k := keys[rng.IntN(len(keys))]
		switch r := rng.IntN(20); {
		case r < 12:
			// Times before what has fired come too: they fire next.
			m.register(h, st, d, k, fired+int64(rng.IntN(80))-10)
		case r < 16:
			var victim timerKey
			if q := m.order(d); len(q) > 0 && r < 14 {
				// The first timer of the domain, or of a random one's
				// key group.
				t := q[0]
				if r == 13 {
					t = q[rng.IntN(len(q))]
				}
				victim = timerKey{t.Key, t.Time}
			} else {
				victim = timerKey{k, fired + int64(rng.IntN(80))}
			}
			h.must(st.Delete(d, kgOf(victim.key), victim.key, victim.ts))
			delete(m.pending[d], victim)
			if r == 15 {
				m.register(h, st, d, victim.key, victim.ts+int64(rng.IntN(20))+1)
			}
		default:
			fired += int64(rng.IntN(10))
			m.popUpTo(h, st, d, fired)
		}
		m.check(h, st, fmt.Sprintf("step %d", i))
	}
	if n, want := st.Len(), len(m.pending[0])+len(m.pending[1]); n != want || want == 0 {
		h.t.Fatalf("Len = %d; want %d (and some)", n, want)
	}
	for d := range uint8(2) {
		m.popUpTo(h, st, d, 1<<62)
	}
	m.check(h, st, "all fired")
	if _, ok, err := st.Pop(0); ok || err != nil {
		h.t.Fatalf("Pop with no timers = %v, %v", ok, err)
	}
	if n := st.Len(); n != 0 {
		h.t.Fatalf("Len after firing all = %d", n)
	}
}

// testStoreTimersRestore: the index is derived on restore, whichever
// backend wrote the snapshot: store timers snapshotted at parallelism 1
// restore at parallelism 2 into the backend (popping in order, sequence
// numbers going on past the restored ones) and into the memory backend's
// table; the memory backend's timers restore into the backend; timers of
// two subtasks, whose sequence numbers overlap, merge at parallelism 1 in
// (time, sequence, key group) order.
func testStoreTimersRestore(h *harness) {
	if st := h.storeTimers(h.backend(0, 1)); st == nil {
		return
	}
	register := func(st state.Timers[string], m *timerModel, r state.KeyGroupRange, n int) {
		for round := range 3 {
			for i, k := range keysIn(r, n) {
				for d := range uint8(2) {
					m.register(h, st, d, k, int64(100*(i%5)-200+7*round+int(d)))
				}
			}
		}
	}
	// wantRestored pops all of st's timers, which must be m's in r.
	wantRestored := func(what string, st state.Timers[string], m *timerModel, r state.KeyGroupRange) {
		h.t.Helper()
		// The sequence goes on from the highest restored one.
		sub := newTimerModel()
		for d := range m.pending {
			for tk, seq := range m.pending[d] {
				if r.Contains(kgOf(tk.key)) {
					sub.pending[d][tk] = seq
					sub.seq = max(sub.seq, seq)
				}
			}
		}
		sub.check(h, st, what)
		if n, want := st.Len(), len(sub.pending[0])+len(sub.pending[1]); n != want {
			h.t.Fatalf("%s: Len = %d; want %d", what, n, want)
		}
		// A timer registered now comes after the restored ones of its time.
		k := keysIn(r, 1)[0]
		sub.register(h, st, 0, k, 1<<40)
		for d := range uint8(2) {
			sub.popUpTo(h, st, d, 1<<62)
		}
	}

	b := h.backend(0, 1)
	st := h.storeTimers(b)
	m := newTimerModel()
	register(st, m, all, 25)
	m.popUpTo(h, st, 0, -150)
	h.must(st.Delete(1, kgOf(keysIn(all, 1)[0]), keysIn(all, 1)[0], -199))
	delete(m.pending[1], timerKey{keysIn(all, 1)[0], -199})
	snap := h.snapshot(b)
	for i := range 2 {
		r := keygroup.RangeFor(maxPar, 2, i)
		wantRestored(fmt.Sprintf("backend to backend, subtask %d of 2", i), h.storeTimers(h.restored(i, 2, snap)), m, r)

		mem := h.memory(i, 2)
		h.must(mem.Restore(readers([][]byte{snap})))
		mt := h.timers(mem)
		for d := range uint8(2) {
			var want []timer
			for _, t := range m.order(d) {
				if r.Contains(t.KeyGroup) {
					want = append(want, timer{t.Key, t.Time, t.Seq})
				}
			}
			h.wantEqual(fmt.Sprintf("backend to memory, subtask %d, domain %d", i, d), mt.queue(d), want)
		}
	}

	// From the memory backend's table, written as the engine writes it.
	mem := h.memory(0, 1)
	mt := h.timers(mem)
	mm := newTimerModel()
	set := mt.registerMany(all, 20)
	for d := range set {
		for _, t := range set[d] {
			mm.pending[d][timerKey{t.key, t.ts}] = t.seq
		}
	}
	snap = h.snapshot(mem)
	for i := range 2 {
		wantRestored(fmt.Sprintf("memory to backend, subtask %d of 2", i), h.storeTimers(h.restored(i, 2, snap)), mm, keygroup.RangeFor(maxPar, 2, i))
	}

	// Two subtasks' timers merged.
	var snaps [][]byte
	merged := newTimerModel()
	for i := range 2 {
		b := h.backend(i, 2)
		st := h.storeTimers(b)
		m := newTimerModel()
		register(st, m, keygroup.RangeFor(maxPar, 2, i), 15)
		for d := range m.pending {
			maps.Copy(merged.pending[d], m.pending[d])
		}
		snaps = append(snaps, h.snapshot(b))
	}
	wantRestored("two subtasks merged", h.storeTimers(h.restored(0, 1, snaps...)), merged, all)
}

// testStoreTimersBounded: many pending timers in few key groups hold one
// in-memory entry per key group and domain, and fire in order.
func testStoreTimersBounded(h *harness) {
	b := h.backend(0, 1)
	st := h.storeTimers(b)
	if st == nil {
		return
	}
	a, c, other := sameGroup()
	keys := []string{a, c, other}
	const n = 20000
	for i := range n {
		k := keys[i%len(keys)]
		// Times go back and forth, so the index is not written in order.
		at := int64((i*7919)%n - n/2)
		if _, err := st.Register(uint8(i%2), kgOf(k), k, at); err != nil {
			h.t.Fatal(err)
		}
	}
	if q := st.Queued(); q != 4 {
		h.t.Fatalf("%d timers pending in 2 key groups and 2 domains: Queued = %d; want 4", n, q)
	}
	for d := range uint8(2) {
		last := int64(-1 << 63)
		popped := 0
		for range n {
			t, ok, err := st.Pop(d)
			h.must(err)
			if !ok {
				break
			}
			if t.Time < last {
				h.t.Fatalf("domain %d: timer %+v popped after time %d", d, t, last)
			}
			last = t.Time
			popped++
		}
		if popped != n/2 {
			h.t.Fatalf("domain %d: popped %d timers; want %d", d, popped, n/2)
		}
	}
	if q := st.Queued(); q != 0 {
		h.t.Fatalf("Queued = %d with no timers", q)
	}
}
