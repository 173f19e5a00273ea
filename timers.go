package weir

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// TimeDomain says which clock a timer follows.
type TimeDomain uint8

const (
	// EventTimeDomain timers fire when the watermark passes them.
	EventTimeDomain TimeDomain = iota
	// ProcessingTimeDomain timers fire on the wall clock.
	ProcessingTimeDomain
)

func (d TimeDomain) String() string {
	if d == EventTimeDomain {
		return "event time"
	}
	return "processing time"
}

func splitTimerKey[K comparable](tk state.TimerKey[K]) (K, int64) { return tk.Key, tk.Time }

func joinTimerKey[K comparable](k K, ts int64) state.TimerKey[K] {
	return state.TimerKey[K]{Key: k, Time: ts}
}

// timer is a queue entry. The state table is the truth; the queues are an
// index rebuilt on restore, and an entry whose table row is gone or has
// another sequence number is stale and skipped.
type timer[K comparable] struct {
	ts  int64
	seq uint64
	key K
	kg  int
}

// timerQueue orders the timers of one domain by (time, sequence number):
// a heap of the distinct times that have timers, each time with a list of
// its timers in registration order. Many timers share a time (windows end
// together) or come close together, so the heap stays small and a timer is
// pushed and popped without walking it; popping the timers of one time
// reads their list in order.
type timerQueue[K comparable] struct {
	heap []*timerList[K]         // by ts
	at   map[int64]*timerList[K] // the list of each time in heap
	last *timerList[K]           // the list pushed to last, or nil
	free []*timerList[K]         // emptied lists for reuse
	n    int                     // entries queued
}

// timerList is the timers of one time, in registration order; those before
// head have been popped.
type timerList[K comparable] struct {
	ts    int64
	items []timer[K]
	head  int
}

// maxFreeTimerLists bounds how many emptied lists a queue keeps for reuse.
const maxFreeTimerLists = 64

func newTimerQueue[K comparable]() timerQueue[K] {
	return timerQueue[K]{at: make(map[int64]*timerList[K])}
}

func (q *timerQueue[K]) len() int { return q.n }

// peek returns the time of the first timer; the queue must not be empty.
func (q *timerQueue[K]) peek() int64 { return q.heap[0].ts }

// push appends t to its time's list. Timers must be pushed in increasing
// sequence number within a time.
func (q *timerQueue[K]) push(t timer[K]) {
	l := q.last
	if l == nil || l.ts != t.ts {
		if l = q.at[t.ts]; l == nil {
			l = q.newList(t.ts)
			q.at[t.ts] = l
			q.heapPush(l)
		}
		q.last = l
	}
	l.items = append(l.items, t)
	q.n++
}

// pop removes and returns the first timer; the queue must not be empty.
func (q *timerQueue[K]) pop() timer[K] {
	l := q.heap[0]
	t := l.items[l.head]
	l.items[l.head] = timer[K]{}
	l.head++
	q.n--
	if l.head == len(l.items) {
		q.heapPop()
		delete(q.at, l.ts)
		if q.last == l {
			q.last = nil
		}
		if len(q.free) < maxFreeTimerLists {
			l.items, l.head = l.items[:0], 0
			q.free = append(q.free, l)
		}
	}
	return t
}

func (q *timerQueue[K]) newList(ts int64) *timerList[K] {
	if n := len(q.free); n > 0 {
		l := q.free[n-1]
		q.free[n-1] = nil
		q.free = q.free[:n-1]
		l.ts = ts
		return l
	}
	return &timerList[K]{ts: ts}
}

func (q *timerQueue[K]) heapPush(l *timerList[K]) {
	q.heap = append(q.heap, l)
	h := q.heap
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].ts <= h[i].ts {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *timerQueue[K]) heapPop() {
	h := q.heap
	last := len(h) - 1
	h[0] = h[last]
	h[last] = nil
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].ts < h[m].ts {
			m = l
		}
		if r < len(h) && h[r].ts < h[m].ts {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	q.heap = h
}

// timerService keeps the event-time and processing-time timers of one
// keyed operator subtask. Timers live in a state table, organized by key
// group like all keyed state, so they are snapshotted and rescaled with it.
// Timers with equal times fire in registration order.
//
// On the memory backend the firing queues are on the heap, one entry per
// pending timer, rebuilt from the table on restore. On a backend over a
// Store, disk keeps the table and the firing order in the Store
// (state.NewTimers), and the heap holds one entry per key group with
// timers.
type timerService[K comparable] struct {
	table  state.Value[state.TimerKey[K], uint8, uint64]
	queues [2]timerQueue[K]
	seq    uint64
	// removed tells whether a timer was ever deleted: until then every
	// queued timer has its row (registering an existing timer queues
	// nothing), so firing one need not look its row up first.
	removed bool
	// disk, when set, is the timers of a Store backend; table and queues
	// are unused then.
	disk state.Timers[K]
}

func newTimerService[K comparable](b state.Backend, keys keyInfo[K]) (*timerService[K], error) {
	disk, ok, err := state.NewTimers(b, keys.codec)
	if err != nil {
		return nil, fmt.Errorf("timers: %w", err)
	}
	if ok {
		return &timerService[K]{disk: disk}, nil
	}
	// Keyed by the timer's key first, so that a key's timers cost one hash
	// of the key.
	t, err := state.NewSplitValue(b, state.TimerDesc(keys.codec), splitTimerKey[K], joinTimerKey[K])
	if err != nil {
		return nil, fmt.Errorf("timers: %w", err)
	}
	ts := &timerService[K]{table: t, queues: [2]timerQueue[K]{newTimerQueue[K](), newTimerQueue[K]()}}
	// Rebuild the queues from restored timers, in (time, sequence) order.
	maxP := b.Config().MaxParallelism
	var buf []byte
	for d := range ts.queues {
		var restored []timer[K]
		for tk := range t.Keys(uint8(d)) {
			var kg int
			buf, kg = keys.group(buf, tk.Key, maxP)
			seq, _, err := t.Get(kg, tk, uint8(d))
			if err != nil {
				return nil, fmt.Errorf("timers: %w", err)
			}
			restored = append(restored, timer[K]{ts: tk.Time, seq: seq, key: tk.Key, kg: kg})
			ts.seq = max(ts.seq, seq)
		}
		slices.SortFunc(restored, func(a, b timer[K]) int {
			if c := cmp.Compare(a.ts, b.ts); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		for _, tm := range restored {
			ts.queues[d].push(tm)
		}
	}
	return ts, nil
}

func (s *timerService[K]) register(d TimeDomain, kg int, key K, ts int64) error {
	if s.disk != nil {
		_, err := s.disk.Register(uint8(d), kg, key, ts)
		return err
	}
	tk := state.TimerKey[K]{Key: key, Time: ts}
	if _, ok, err := s.table.Get(kg, tk, uint8(d)); err != nil || ok {
		return err
	}
	s.seq++
	if err := s.table.Put(kg, tk, uint8(d), s.seq); err != nil {
		return err
	}
	s.queues[d].push(timer[K]{ts: ts, seq: s.seq, key: key, kg: kg})
	return nil
}

func (s *timerService[K]) remove(d TimeDomain, kg int, key K, ts int64) error {
	if s.disk != nil {
		return s.disk.Delete(uint8(d), kg, key, ts)
	}
	s.removed = true
	return s.table.Delete(kg, state.TimerKey[K]{Key: key, Time: ts}, uint8(d))
}

// next returns the earliest timer of the domain, or MaxWatermark.
func (s *timerService[K]) next(d TimeDomain) int64 {
	if s.disk != nil {
		if ts, ok := s.disk.Next(uint8(d)); ok {
			return ts
		}
		return runtime.MaxWatermark
	}
	if s.queues[d].len() == 0 {
		return runtime.MaxWatermark
	}
	return s.queues[d].peek()
}

// len returns the number of pending timers, reading the table.
func (s *timerService[K]) len() int {
	if s.disk != nil {
		return s.disk.Len()
	}
	return s.table.Len()
}

// queued returns the number of entries the firing order holds in memory.
func (s *timerService[K]) queued() int {
	if s.disk != nil {
		return s.disk.Queued()
	}
	return s.queues[0].len() + s.queues[1].len()
}

// cancelCheckEvery is how many timers fire between two looks at the job's
// cancellation: a look is a channel poll, rare enough to cost nothing per
// timer, often enough that a cancel interrupts a long firing within
// microseconds.
const cancelCheckEvery = 256

// fire pops every live timer of the domain due at upTo, in time order, and
// calls f for each; f may register more timers, which fire in the same call
// when they are due. Timers that keep setting the next one (or a watermark
// that jumps far) can make this loop long, so it returns
// runtime.ErrCanceled once done is closed.
func (s *timerService[K]) fire(d TimeDomain, upTo int64, done <-chan struct{}, f func(timer[K]) error) error {
	if s.disk != nil {
		return s.fireDisk(d, upTo, done, f)
	}
	q := &s.queues[d]
	for n := 1; q.len() > 0 && q.peek() <= upTo; n++ {
		if n%cancelCheckEvery == 0 {
			select {
			case <-done:
				return runtime.ErrCanceled
			default:
			}
		}
		t := q.pop()
		tk := state.TimerKey[K]{Key: t.key, Time: t.ts}
		if s.removed {
			// The timer may have been deleted, or deleted and set again
			// (a new sequence number).
			seq, ok, err := s.table.Get(t.kg, tk, uint8(d))
			if err != nil {
				return err
			}
			if !ok || seq != t.seq {
				continue
			}
		}
		if err := s.table.Delete(t.kg, tk, uint8(d)); err != nil {
			return err
		}
		if err := f(t); err != nil {
			return err
		}
	}
	return nil
}

// fireDisk is fire on a Store backend: the index there is exact (a deleted
// timer leaves no entry), so every timer popped fires.
func (s *timerService[K]) fireDisk(d TimeDomain, upTo int64, done <-chan struct{}, f func(timer[K]) error) error {
	for n := 1; ; n++ {
		if ts, ok := s.disk.Next(uint8(d)); !ok || ts > upTo {
			return nil
		}
		if n%cancelCheckEvery == 0 {
			select {
			case <-done:
				return runtime.ErrCanceled
			default:
			}
		}
		t, _, err := s.disk.Pop(uint8(d))
		if err != nil {
			return err
		}
		if err := f(timer[K]{ts: t.Time, seq: t.Seq, key: t.Key, kg: t.KeyGroup}); err != nil {
			return err
		}
	}
}
