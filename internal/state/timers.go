package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"

	"github.com/weirstream/weir/codec"
)

// The engine's timers are a value table, TimerTable, keyed by (key, time)
// with one namespace per time domain and the registration sequence number
// as value; timers of one domain fire in (time, sequence) order. Its
// snapshots are those of every value table, so timers move between
// backends like any state.
//
// On the memory backend the engine keeps the table (NewSplitValue with
// TimerDesc) and firing queues of its own on the heap, rebuilt from the
// table after a restore. On a backend over a Store, NewTimers keeps the
// firing order in the Store too: beside the table, an index per key group
// and domain whose keys start with the time and the sequence number (big
// endian, the time's sign bit flipped so negative times sort first), with
// the timer's key as value. In memory there is only a heap of each key
// group's earliest timer, one entry per key group and domain that has
// timers, however many are pending. The index is not part of snapshots: a
// restore writes it while it loads the table's rows, so a snapshot taken
// on any backend restores into any other. A restore from a FileStore's own
// files (an incremental checkpoint) puts the rows in the Store without
// loading them; NewTimers then reads them once, key group by key group,
// to write the index, and the index the files held under the old
// backend's ID is dropped (StoreBackend.dropUncataloged) or never copied.

// TimerTable is the name of the timers' table.
const TimerTable = "_timers"

// TimeDomains is the number of time domains a timer table has: the
// domain, its namespace, is 0 (event time) or 1 (processing time).
const TimeDomains = 2

// TimerKey is a timer's identity in its domain: at most one timer per key
// and time.
type TimerKey[K comparable] struct {
	Key  K
	Time int64
}

type timerKeyCodec[K comparable] struct{ key codec.Codec[K] }

func (c timerKeyCodec[K]) Append(dst []byte, v TimerKey[K]) []byte {
	dst = c.key.Append(dst, v.Key)
	return appendTime(dst, v.Time)
}

func (c timerKeyCodec[K]) Decode(src []byte) (TimerKey[K], int, error) {
	k, n, err := c.key.Decode(src)
	if err != nil {
		return TimerKey[K]{}, 0, err
	}
	if len(src)-n < 8 {
		return TimerKey[K]{}, 0, &codec.DecodeError{Type: "timer", Offset: n, Err: codec.ErrShort}
	}
	return TimerKey[K]{Key: k, Time: readTime(src[n:])}, n + 8, nil
}

// appendTime appends t big endian with its sign bit flipped, so that the
// encodings of times sort as the times do, negative ones first.
func appendTime(dst []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(t)^(1<<63))
}

func readTime(src []byte) int64 { return int64(binary.BigEndian.Uint64(src) ^ (1 << 63)) }

// TimerDesc describes the timers' table for keys encoded with key: the
// key's encoding then the time (appendTime), the domain as namespace,
// the sequence number as value.
func TimerDesc[K comparable](key codec.Codec[K]) TableDesc[TimerKey[K], uint8, uint64] {
	return TableDesc[TimerKey[K], uint8, uint64]{
		Name:      TimerTable,
		Key:       timerKeyCodec[K]{key: key},
		Namespace: codec.Uint8(),
		Value:     codec.Uint64(),
	}
}

// Timer is a pending timer.
type Timer[K comparable] struct {
	Key      K
	Time     int64
	Seq      uint64
	KeyGroup int
}

// Timers are a keyed operator subtask's timers kept with their firing
// order in a Store (see NewTimers). The domain d is 0 or 1.
type Timers[K comparable] interface {
	// Register sets the timer of key k (in key group kg) at time ts in
	// domain d with the next sequence number, unless it is set already;
	// it reports whether it set it.
	Register(d uint8, kg int, k K, ts int64) (bool, error)
	// Delete removes the timer if it is set.
	Delete(d uint8, kg int, k K, ts int64) error
	// Next returns the time of the earliest timer of domain d; ok is
	// false when the domain has none.
	Next(d uint8) (ts int64, ok bool)
	// Pop removes the earliest timer of domain d — in (time, sequence)
	// order, timers of several key groups with equal time and sequence
	// (restored from several old subtasks) by key group — and returns
	// it; ok is false when the domain has none.
	Pop(d uint8) (t Timer[K], ok bool, err error)
	// Len returns the number of pending timers, reading the table.
	Len() int
	// Queued returns the number of entries held in memory to order the
	// timers: at most one per key group and domain with timers.
	Queued() int
}

// NewTimers creates the timers' table (TimerDesc) with its time-ordered
// index on a backend that keeps its tables in a Store, filled from the
// restored table if there is one. On the memory backend it returns ok
// false and nothing else: the caller creates the table with NewSplitValue
// and orders the timers itself.
func NewTimers[K comparable](b Backend, key codec.Codec[K]) (t Timers[K], ok bool, err error) {
	if key == nil {
		return nil, false, fmt.Errorf("state: timers: key codec is nil")
	}
	if _, ok := b.(typedBackend); ok {
		return nil, false, nil
	}
	s, ok := b.(byteBackend)
	if !ok {
		return nil, false, unsupported("timers' table", TimerTable, b)
	}
	st, err := newStoreTimers(s.byteTables(), TimerDesc(key))
	if err != nil {
		return nil, false, err
	}
	return st, true, nil
}

// storeTimers are Timers over a StoreBackend: the table's rows, an index
// in a key range of its own (an ID no catalog entry has, so snapshots do
// not see it) and the heaps of each key group's first index entry.
//
// Index keys are idx | keyGroup | domain | time | sequence (time as
// appendTime, sequence big endian); their values are the timer's key as
// its codec encodes it. The index has an entry for every row of the table
// and nothing else: Register, Delete, Pop and the restore write both.
type storeTimers[K comparable] struct {
	rows  *storeValue[TimerKey[K], uint8, uint64]
	kc    codec.Codec[K]
	store Store
	idx   uint32
	kgs   KeyGroupRange
	seq   uint64
	heads [TimeDomains]timerHeads
	// lo and hi are scratch index keys.
	lo, hi []byte
}

func newStoreTimers[K comparable](b *StoreBackend, d TableDesc[TimerKey[K], uint8, uint64]) (*storeTimers[K], error) {
	if b.closed {
		return nil, ErrClosed
	}
	kgs := b.cfg.KeyGroups
	st := &storeTimers[K]{kc: d.Key.(timerKeyCodec[K]).key, store: b.store, idx: b.nextID, kgs: kgs}
	for i := range st.heads {
		st.heads[i].init(kgs)
	}
	// The index's ID is taken before the table registers, which loads the
	// restored rows: each row's index entry is written as it is loaded.
	// Rows restored from a FileStore's own files are in the Store already,
	// under the ID of the table's catalog entry, without an index (see
	// indexNative).
	b.nextID++
	native, fromFiles := b.files.native[d.Name]
	t, err := b.register(d.Name, kindValue, 0, keyedLayout(d), func(rr *recordReader, rec record) error {
		ck, seq, err := decodeEntry(rr, rec, d)
		if err != nil {
			return err
		}
		if ck.n >= TimeDomains {
			return rr.fail(rec.off, "timer in domain %d: want 0 or 1", ck.n)
		}
		st.seq = max(st.seq, seq)
		return st.index(rr.s.kg, ck.n, ck.k.Time, seq, rec.key[:len(rec.key)-8])
	})
	if err != nil {
		return nil, err
	}
	st.rows = &storeValue[TimerKey[K], uint8, uint64]{fields: fields[TimerKey[K], uint8]{t: t, kc: d.Key, nc: d.Namespace}, vc: d.Value}
	if fromFiles && t.meta.id == native.id {
		if err := st.indexNative(d); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// indexNative writes the index entries and the heads of the rows a
// restore from a FileStore's files put in the Store. The files hold no
// index this backend can use: the restore drops the old one (its ID is
// not in the catalog; see StoreBackend.dropUncataloged) or does not copy
// it, since a copy across parallelisms copies catalog tables only. Each
// key group is read whole before its entries are written, since a Store
// is not written during a Scan.
func (st *storeTimers[K]) indexNative(d TableDesc[TimerKey[K], uint8, uint64]) error {
	t := st.rows.t
	type row struct {
		d   uint8
		ts  int64
		seq uint64
		kb  []byte
	}
	var rows []row
	var prefix []byte
	for kg := st.kgs.Start; kg < st.kgs.End; kg++ {
		rows = rows[:0]
		var bad error
		prefix = groupPrefix(prefix[:0], t.meta.id, kg)
		err := st.store.Scan(prefix, func(k, v []byte) bool {
			sk, ok := parseKey(k[len(prefix):], kindValue)
			if !ok || len(sk.key) < 8 {
				bad = t.meta.corrupt(kg, k)
				return false
			}
			dom, err := decodeAll(d.Namespace, sk.ns)
			if err == nil && dom >= TimeDomains {
				err = fmt.Errorf("timer in domain %d: want 0 or 1", dom)
			}
			var seq uint64
			if err == nil {
				seq, err = decodeAll(d.Value, v)
			}
			if err != nil {
				bad = fmt.Errorf("state: table %q: key group %d: entry %x: %w", t.meta.name, kg, k, err)
				return false
			}
			kb := sk.key[:len(sk.key)-8]
			rows = append(rows, row{d: dom, ts: readTime(sk.key[len(kb):]), seq: seq, kb: bytes.Clone(kb)})
			return true
		})
		if err = cmp.Or(err, bad); err != nil {
			return fmt.Errorf("state: timers: key group %d: index restored rows: %w", kg, err)
		}
		for _, r := range rows {
			st.seq = max(st.seq, r.seq)
			if err := st.index(kg, r.d, r.ts, r.seq, r.kb); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexPrefixLen is the length of an index key's prefix: the index's ID,
// the key group and the domain.
const indexPrefixLen = 4 + 4 + 1

// indexKey sets dst to the index key of a timer, or with time and
// sequence left out, the prefix of domain d in key group kg.
func (st *storeTimers[K]) indexKey(dst []byte, kg int, d uint8, ts int64, seq uint64, whole bool) []byte {
	dst = append(groupPrefix(dst[:0], st.idx, kg), d)
	if whole {
		dst = binary.BigEndian.AppendUint64(appendTime(dst, ts), seq)
	}
	return dst
}

// index writes the index entry of a timer whose key encodes as kb and
// offers it as its key group's first.
func (st *storeTimers[K]) index(kg int, d uint8, ts int64, seq uint64, kb []byte) error {
	st.lo = st.indexKey(st.lo, kg, d, ts, seq, true)
	if err := st.store.Set(st.lo, kb); err != nil {
		return fmt.Errorf("state: timers: key group %d: set index entry: %w", kg, err)
	}
	st.heads[d].offer(kg-st.kgs.Start, timerHead{ts: ts, seq: seq, kg: kg}, kb)
	return nil
}

func (st *storeTimers[K]) enter(d uint8, kg int) error {
	if d >= TimeDomains {
		return fmt.Errorf("state: timers: domain %d: want 0 or 1", d)
	}
	return st.rows.t.enter(kg)
}

func (st *storeTimers[K]) Register(d uint8, kg int, k K, ts int64) (bool, error) {
	if err := st.enter(d, kg); err != nil {
		return false, err
	}
	tk := TimerKey[K]{Key: k, Time: ts}
	if _, ok, err := st.rows.get(kg, tk, d); err != nil || ok {
		return false, err
	}
	st.seq++
	if err := st.rows.put(kg, tk, d, st.seq); err != nil {
		return false, err
	}
	// put left the row's key encoding in tmp: the timer's key, then the
	// 8 bytes of the time.
	kb := st.rows.tmp[:len(st.rows.tmp)-8]
	return true, st.index(kg, d, ts, st.seq, kb)
}

func (st *storeTimers[K]) Delete(d uint8, kg int, k K, ts int64) error {
	if err := st.enter(d, kg); err != nil {
		return err
	}
	tk := TimerKey[K]{Key: k, Time: ts}
	seq, ok, err := st.rows.get(kg, tk, d)
	if err != nil || !ok {
		return err
	}
	return st.remove(d, kg, tk, seq)
}

// remove deletes a timer's row and index entry, and finds its key group's
// next timer if it was the first.
func (st *storeTimers[K]) remove(d uint8, kg int, tk TimerKey[K], seq uint64) error {
	if err := st.rows.delete(kg, st.rows.entryKey(kg, tk, d)); err != nil {
		return err
	}
	st.lo = st.indexKey(st.lo, kg, d, tk.Time, seq, true)
	if err := st.store.Delete(st.lo); err != nil {
		return fmt.Errorf("state: timers: key group %d: delete index entry: %w", kg, err)
	}
	h := &st.heads[d]
	i := kg - st.kgs.Start
	if p := h.pos[i]; p < 0 || h.heap[p].ts != tk.Time || h.heap[p].seq != seq {
		return nil
	}
	// Every other entry of the key group sorts after the one removed, so
	// the seek starts there and skips no deleted entries before it (an
	// LSM keeps them until it compacts). The range ends at the successor
	// of the domain's prefix, whose last byte, the domain, is below 0xff.
	st.hi = st.indexKey(st.hi, kg, d, 0, 0, false)
	st.hi[len(st.hi)-1]++
	key, kb, ok, err := st.store.First(st.lo, st.hi)
	if err != nil {
		return fmt.Errorf("state: timers: key group %d: read index: %w", kg, err)
	}
	if !ok {
		h.remove(i)
		return nil
	}
	rest := key[indexPrefixLen:]
	if len(rest) != 16 {
		return fmt.Errorf("state: timers: key group %d: malformed index entry %x", kg, key)
	}
	h.replace(i, timerHead{ts: readTime(rest), seq: binary.BigEndian.Uint64(rest[8:]), kg: kg}, kb)
	return nil
}

func (st *storeTimers[K]) Next(d uint8) (int64, bool) {
	if d >= TimeDomains || len(st.heads[d].heap) == 0 {
		return 0, false
	}
	return st.heads[d].heap[0].ts, true
}

func (st *storeTimers[K]) Pop(d uint8) (Timer[K], bool, error) {
	if d >= TimeDomains || len(st.heads[d].heap) == 0 {
		return Timer[K]{}, false, nil
	}
	h := st.heads[d].heap[0]
	if err := st.enter(d, h.kg); err != nil {
		return Timer[K]{}, false, err
	}
	k, err := decodeAll(st.kc, h.key)
	if err != nil {
		return Timer[K]{}, false, fmt.Errorf("state: timers: key group %d: index entry's key: %w", h.kg, err)
	}
	t := Timer[K]{Key: k, Time: h.ts, Seq: h.seq, KeyGroup: h.kg}
	if err := st.remove(d, h.kg, TimerKey[K]{Key: k, Time: h.ts}, h.seq); err != nil {
		return Timer[K]{}, false, err
	}
	return t, true, nil
}

func (st *storeTimers[K]) Len() int { return st.rows.Len() }

func (st *storeTimers[K]) Queued() int {
	n := 0
	for i := range st.heads {
		n += len(st.heads[i].heap)
	}
	return n
}

// timerHead is the first timer of a key group in a domain's index.
type timerHead struct {
	ts  int64
	seq uint64
	kg  int
	key []byte // its key's encoding, owned
}

func (a *timerHead) before(b *timerHead) bool {
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.kg < b.kg
}

// timerHeads is a heap of the first timers of a domain's key groups, with
// the place of each key group's in it.
type timerHeads struct {
	heap  []timerHead
	start int     // the first key group
	pos   []int32 // by key group offset: index in heap, or -1
}

func (h *timerHeads) init(kgs KeyGroupRange) {
	h.start = kgs.Start
	h.pos = make([]int32, kgs.Len())
	for i := range h.pos {
		h.pos[i] = -1
	}
}

// offer makes t (whose key encodes as kb) the first timer of key group
// offset i if it has none or t comes before it.
func (h *timerHeads) offer(i int, t timerHead, kb []byte) {
	p := h.pos[i]
	if p < 0 {
		t.key = bytes.Clone(kb)
		h.heap = append(h.heap, t)
		h.pos[i] = int32(len(h.heap) - 1)
		h.up(len(h.heap) - 1)
		return
	}
	if !t.before(&h.heap[p]) {
		return
	}
	h.set(int(p), t, kb)
	h.up(int(p))
}

// replace makes t the first timer of key group offset i, which is in the
// heap.
func (h *timerHeads) replace(i int, t timerHead, kb []byte) {
	p := int(h.pos[i])
	h.set(p, t, kb)
	if !h.up(p) {
		h.down(p)
	}
}

func (h *timerHeads) set(p int, t timerHead, kb []byte) {
	t.key = append(h.heap[p].key[:0], kb...)
	h.heap[p] = t
}

// remove takes key group offset i, which is in the heap, out of it.
func (h *timerHeads) remove(i int) {
	p := int(h.pos[i])
	last := len(h.heap) - 1
	h.swap(p, last)
	h.pos[i] = -1
	h.heap[last] = timerHead{}
	h.heap = h.heap[:last]
	if p < last && !h.up(p) {
		h.down(p)
	}
}

func (h *timerHeads) swap(a, b int) {
	h.heap[a], h.heap[b] = h.heap[b], h.heap[a]
	h.pos[h.heap[a].kg-h.start] = int32(a)
	h.pos[h.heap[b].kg-h.start] = int32(b)
}

// up moves the entry at p towards the root; it reports whether it moved.
func (h *timerHeads) up(p int) bool {
	moved := false
	for p > 0 {
		parent := (p - 1) / 2
		if !h.heap[p].before(&h.heap[parent]) {
			break
		}
		h.swap(p, parent)
		p, moved = parent, true
	}
	return moved
}

func (h *timerHeads) down(p int) {
	for {
		l, r, m := 2*p+1, 2*p+2, p
		if l < len(h.heap) && h.heap[l].before(&h.heap[m]) {
			m = l
		}
		if r < len(h.heap) && h.heap[r].before(&h.heap[m]) {
			m = r
		}
		if m == p {
			return
		}
		h.swap(p, m)
		p = m
	}
}
