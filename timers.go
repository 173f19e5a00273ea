package weir

import (
	"encoding/binary"
	"fmt"

	"github.com/weirstream/weir/codec"
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

// timerKey is a timer's identity: at most one timer per key, time and
// domain.
type timerKey[K comparable] struct {
	key K
	ts  int64
}

type timerKeyCodec[K comparable] struct{ key codec.Codec[K] }

func (c timerKeyCodec[K]) Append(dst []byte, v timerKey[K]) []byte {
	dst = c.key.Append(dst, v.key)
	return binary.BigEndian.AppendUint64(dst, uint64(v.ts)^(1<<63))
}

func (c timerKeyCodec[K]) Decode(src []byte) (timerKey[K], int, error) {
	k, n, err := c.key.Decode(src)
	if err != nil {
		return timerKey[K]{}, 0, err
	}
	if len(src)-n < 8 {
		return timerKey[K]{}, 0, &codec.DecodeError{Type: "timer", Offset: n, Err: codec.ErrShort}
	}
	ts := int64(binary.BigEndian.Uint64(src[n:]) ^ (1 << 63))
	return timerKey[K]{key: k, ts: ts}, n + 8, nil
}

// timer is a heap entry. The state table is the truth; the heaps are an
// index rebuilt on restore, and an entry whose table row is gone or has
// another sequence number is stale and skipped.
type timer[K comparable] struct {
	ts  int64
	seq uint64
	key K
	kg  int
}

type timerHeap[K comparable] []timer[K]

func (h timerHeap[K]) less(i, j int) bool {
	if h[i].ts != h[j].ts {
		return h[i].ts < h[j].ts
	}
	return h[i].seq < h[j].seq
}

func (h *timerHeap[K]) push(t timer[K]) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *timerHeap[K]) pop() timer[K] {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = timer[K]{}
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// timerService keeps the event-time and processing-time timers of one
// keyed operator subtask. Timers live in a state table, organized by key
// group like all keyed state, so they are snapshotted and rescaled with it.
// Timers with equal times fire in registration order.
type timerService[K comparable] struct {
	table state.Value[timerKey[K], uint8, uint64]
	heaps [2]timerHeap[K]
	seq   uint64
}

const timerTable = "_timers"

func newTimerService[K comparable](b state.Backend, keys keyInfo[K]) (*timerService[K], error) {
	t, err := state.NewValue(b, state.TableDesc[timerKey[K], uint8, uint64]{
		Name:      timerTable,
		Key:       timerKeyCodec[K]{key: keys.codec},
		Namespace: codec.Uint8(),
		Value:     codec.Uint64(),
	})
	if err != nil {
		return nil, fmt.Errorf("timers: %w", err)
	}
	ts := &timerService[K]{table: t}
	// Rebuild the heaps from restored timers.
	maxP := b.Config().MaxParallelism
	var buf []byte
	for d := range ts.heaps {
		for tk := range t.Keys(uint8(d)) {
			var kg int
			buf, kg = keys.group(buf, tk.key, maxP)
			seq, _, err := t.Get(kg, tk, uint8(d))
			if err != nil {
				return nil, fmt.Errorf("timers: %w", err)
			}
			ts.heaps[d].push(timer[K]{ts: tk.ts, seq: seq, key: tk.key, kg: kg})
			ts.seq = max(ts.seq, seq)
		}
	}
	return ts, nil
}

func (s *timerService[K]) register(d TimeDomain, kg int, key K, ts int64) error {
	tk := timerKey[K]{key: key, ts: ts}
	if _, ok, err := s.table.Get(kg, tk, uint8(d)); err != nil || ok {
		return err
	}
	s.seq++
	if err := s.table.Put(kg, tk, uint8(d), s.seq); err != nil {
		return err
	}
	s.heaps[d].push(timer[K]{ts: ts, seq: s.seq, key: key, kg: kg})
	return nil
}

func (s *timerService[K]) remove(d TimeDomain, kg int, key K, ts int64) error {
	return s.table.Delete(kg, timerKey[K]{key: key, ts: ts}, uint8(d))
}

// next returns the earliest timer of the domain, or MaxWatermark.
func (s *timerService[K]) next(d TimeDomain) int64 {
	if len(s.heaps[d]) == 0 {
		return runtime.MaxWatermark
	}
	return s.heaps[d][0].ts
}

// fire pops every live timer of the domain due at upTo, in time order, and
// calls f for each; f may register more timers, which fire in the same call
// when they are due.
func (s *timerService[K]) fire(d TimeDomain, upTo int64, f func(timer[K]) error) error {
	h := &s.heaps[d]
	for len(*h) > 0 && (*h)[0].ts <= upTo {
		t := h.pop()
		tk := timerKey[K]{key: t.key, ts: t.ts}
		seq, ok, err := s.table.Get(t.kg, tk, uint8(d))
		if err != nil {
			return err
		}
		if !ok || seq != t.seq {
			continue
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
