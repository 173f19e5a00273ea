package statetest

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// The engine's timers, as the suite checks them: a split-key value table
// "_timers" keyed by (key, time) — the key's encoding, then the time big
// endian with its sign bit flipped so that a key's timers sort by time —
// with the time domain as namespace and the registration sequence number
// as value. Registering an existing timer changes nothing; firing pops
// timers in (time, sequence) order from queues rebuilt from the table
// after a restore, and deletes each row it fires.

type timerKey struct {
	key string
	ts  int64
}

type timerKeyCodec struct{}

func (timerKeyCodec) Append(dst []byte, v timerKey) []byte {
	dst = strC.Append(dst, v.key)
	return binary.BigEndian.AppendUint64(dst, uint64(v.ts)^(1<<63))
}

func (timerKeyCodec) Decode(src []byte) (timerKey, int, error) {
	k, n, err := strC.Decode(src)
	if err != nil {
		return timerKey{}, 0, err
	}
	if len(src)-n < 8 {
		return timerKey{}, 0, &codec.DecodeError{Type: "timer", Offset: n, Err: codec.ErrShort}
	}
	return timerKey{k, int64(binary.BigEndian.Uint64(src[n:]) ^ (1 << 63))}, n + 8, nil
}

// timer is a queued timer.
type timer struct {
	key string
	ts  int64
	seq uint64
}

func (t timer) String() string { return fmt.Sprintf("%s@%d#%d", t.key, t.ts, t.seq) }

// timers is one subtask's timer table and its sequence counter.
type timers struct {
	h   *harness
	t   state.Value[timerKey, uint8, uint64]
	seq uint64
}

func (h *harness) timers(b state.Backend) *timers {
	h.t.Helper()
	t, err := state.NewSplitValue(b, state.TableDesc[timerKey, uint8, uint64]{
		Name: "_timers", Key: timerKeyCodec{}, Namespace: codec.Uint8(), Value: codec.Uint64(),
	}, func(tk timerKey) (string, int64) { return tk.key, tk.ts }, func(k string, ts int64) timerKey { return timerKey{k, ts} })
	if err != nil {
		h.t.Fatalf("timer table: %v", err)
	}
	ts := &timers{h: h, t: t}
	for d := range uint8(2) {
		for _, tm := range ts.queue(d) {
			ts.seq = max(ts.seq, tm.seq)
		}
	}
	return ts
}

// register sets a timer unless it is set, and reports whether it was new.
func (ts *timers) register(d uint8, key string, at int64) bool {
	tk := timerKey{key, at}
	_, ok, err := ts.t.Get(kgOf(key), tk, d)
	ts.h.must(err)
	if ok {
		return false
	}
	ts.seq++
	ts.h.must(ts.t.Put(kgOf(key), tk, d, ts.seq))
	return true
}

// queue rebuilds the firing order of domain d from the table, as the
// engine does after a restore.
func (ts *timers) queue(d uint8) []timer {
	var q []timer
	for tk := range ts.t.Keys(d) {
		seq, ok, err := ts.t.Get(kgOf(tk.key), tk, d)
		ts.h.must(err)
		if !ok {
			ts.h.t.Fatalf("Keys yielded timer %v, which Get does not find", tk)
		}
		q = append(q, timer{tk.key, tk.ts, seq})
	}
	slices.SortFunc(q, func(a, b timer) int {
		return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.seq, b.seq))
	})
	return q
}

// fire fires the timers of domain d due at upTo in queue order, deleting
// their rows, and returns them.
func (ts *timers) fire(d uint8, upTo int64) []timer {
	var fired []timer
	for _, tm := range ts.queue(d) {
		if tm.ts > upTo {
			break
		}
		ts.h.must(ts.t.Delete(kgOf(tm.key), timerKey{tm.key, tm.ts}, d))
		fired = append(fired, tm)
	}
	return fired
}

// registerMany sets timers on keys in r: several per key, several keys per
// time, both domains, with repeats that must change nothing. It returns
// the timers of each domain in registration order.
func (ts *timers) registerMany(r state.KeyGroupRange, n int) [2][]timer {
	var set [2][]timer
	ks := keysIn(r, n)
	for round := range 3 {
		for i, k := range ks {
			for d := range uint8(2) {
				at := int64(100*(i%5) - 200 + 7*round + int(d))
				if ts.register(d, k, at) {
					set[d] = append(set[d], timer{k, at, ts.seq})
				}
				if ts.register(d, k, at) {
					ts.h.t.Fatalf("timer %s@%d registered twice", k, at)
				}
			}
		}
	}
	return set
}

// wantFiredInOrder checks that fired is in (time, sequence) order within
// each old subtask (from tells which) and in time order overall.
func (h *harness) wantFiredInOrder(fired []timer, from func(timer) int) {
	h.t.Helper()
	last := map[int]timer{}
	for i, tm := range fired {
		if i > 0 && tm.ts < fired[i-1].ts {
			h.t.Fatalf("timer %v fired after %v", tm, fired[i-1])
		}
		o := from(tm)
		if p, ok := last[o]; ok && p.ts == tm.ts && p.seq > tm.seq {
			h.t.Fatalf("timers of one time fired out of registration order: %v after %v", tm, p)
		}
		last[o] = tm
	}
}

// testTimersRegister: timers are set once, removed, rebuilt into their
// firing order, fired up to a time in order, and the rest stay.
func testTimersRegister(h *harness) {
	b := h.backend(0, 1)
	ts := h.timers(b)
	set := ts.registerMany(all, 20)
	gone := set[0][3]
	h.must(ts.t.Delete(kgOf(gone.key), timerKey{gone.key, gone.ts}, 0))
	for d := range uint8(2) {
		want := slices.Clone(set[d])
		if d == 0 {
			want = slices.DeleteFunc(want, func(t timer) bool { return t == gone })
		}
		slices.SortFunc(want, func(a, b timer) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.seq, b.seq)) })
		h.wantEqual(fmt.Sprintf("queue of domain %d", d), ts.queue(d), want)
	}
	if n := ts.t.Len(); n != len(set[0])+len(set[1])-1 {
		h.t.Fatalf("Len = %d; want %d", n, len(set[0])+len(set[1])-1)
	}
	fired := ts.fire(0, 0)
	h.wantFiredInOrder(fired, func(timer) int { return 0 })
	for _, tm := range ts.queue(0) {
		if tm.ts <= 0 {
			h.t.Fatalf("timer %v due at 0 did not fire", tm)
		}
	}
	if len(fired) == 0 || len(ts.queue(0))+len(fired) != len(set[0])-1 {
		h.t.Fatalf("fired %d, left %d, of %d timers", len(fired), len(ts.queue(0)), len(set[0])-1)
	}
}

// testTimersRescale: timers set at parallelism 2 are snapshotted, restored
// at parallelism 3 (each subtask gets those of its key groups), partly
// fired, snapshotted again and restored at parallelism 1, where the rest
// fire in order.
func testTimersRescale(h *harness) {
	var set [2][]timer
	var snaps [][]byte
	origin := map[string]int{}
	for i := range 2 {
		b := h.backend(i, 2)
		ts := h.timers(b)
		s := ts.registerMany(keygroup.RangeFor(maxPar, 2, i), 15)
		for d := range s {
			for _, tm := range s[d] {
				origin[tm.key] = i
			}
			set[d] = append(set[d], s[d]...)
		}
		snaps = append(snaps, h.snapshot(b))
	}
	from := func(tm timer) int { return origin[tm.key] }
	var firedEarly [2][]timer
	var mid [][]byte
	for i := range 3 {
		r := keygroup.RangeFor(maxPar, 3, i)
		b := h.restored(i, 3, snaps...)
		ts := h.timers(b)
		for d := range uint8(2) {
			var want []timer
			for _, tm := range set[d] {
				if r.Contains(kgOf(tm.key)) {
					want = append(want, tm)
				}
			}
			q := ts.queue(d)
			got := slices.Clone(q)
			slices.SortFunc(got, func(a, b timer) int { return cmp.Compare(a.String(), b.String()) })
			slices.SortFunc(want, func(a, b timer) int { return cmp.Compare(a.String(), b.String()) })
			h.wantEqual(fmt.Sprintf("subtask %d of 3, domain %d", i, d), got, want)
			h.wantFiredInOrder(q, from)
			firedEarly[d] = append(firedEarly[d], ts.fire(d, -100)...)
		}
		// Registered after the restore: the sequence goes on past the
		// restored timers.
		k := keysIn(r, 1)[0]
		if ts.register(0, k, 1<<40) {
			set[0] = append(set[0], timer{k, 1 << 40, ts.seq})
			if _, ok := origin[k]; !ok {
				origin[k] = 10 + i
			}
		}
		mid = append(mid, h.snapshot(b))
	}
	b := h.restored(0, 1, mid...)
	ts := h.timers(b)
	for d := range uint8(2) {
		fired := ts.fire(d, 1<<62)
		h.wantFiredInOrder(fired, from)
		if len(fired)+len(firedEarly[d]) != len(set[d]) {
			h.t.Fatalf("domain %d: %d timers fired before the second restore and %d after; %d were set", d, len(firedEarly[d]), len(fired), len(set[d]))
		}
		seen := map[string]bool{}
		for _, tm := range append(firedEarly[d], fired...) {
			id := fmt.Sprintf("%s@%d", tm.key, tm.ts)
			if seen[id] {
				h.t.Fatalf("domain %d: timer %s fired twice", d, id)
			}
			seen[id] = true
		}
	}
	if n := ts.t.Len(); n != 0 {
		h.t.Fatalf("%d timers left after firing all", n)
	}
}

// testTimersSharedFormat: timers move between the backend under test and
// the memory backend in both directions.
func testTimersSharedFormat(h *harness) {
	for _, dir := range []struct {
		name     string
		from, to func(i, p int) state.Backend
	}{
		{"memory to backend", h.memory, h.backend},
		{"backend to memory", h.backend, h.memory},
	} {
		b := dir.from(0, 1)
		ts := h.timers(b)
		set := ts.registerMany(all, 12)
		snap := h.snapshot(b)
		for i := range 2 {
			r := dir.to(i, 2)
			h.must(r.Restore(readers([][]byte{snap})))
			rt := h.timers(r)
			for d := range uint8(2) {
				var want []timer
				for _, tm := range set[d] {
					if keygroup.RangeFor(maxPar, 2, i).Contains(kgOf(tm.key)) {
						want = append(want, tm)
					}
				}
				slices.SortFunc(want, func(a, b timer) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.seq, b.seq)) })
				h.wantEqual(fmt.Sprintf("%s, subtask %d, domain %d", dir.name, i, d), rt.queue(d), want)
			}
		}
	}
}
