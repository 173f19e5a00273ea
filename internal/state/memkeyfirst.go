package state

import (
	"iter"
	"slices"
	"time"
)

// kfSlot is one namespace's value of a key in a key-first table.
type kfSlot[N comparable, V any] struct {
	n N
	v V
}

// kfInline is how many of a key's values a key-first entry holds in
// itself; the others are in a slice of their own.
const kfInline = 4

// kfEntry is a key's values in a key-first table, one per namespace — the
// first kfInline in the entry itself, so that reading them follows no
// further pointer — with the epoch it was last written in place in: one
// that a snapshot may read (see Memory.holds) is copied before it is
// written.
type kfEntry[N comparable, V any] struct {
	epoch  uint64
	n      int
	inline [kfInline]kfSlot[N, V]
	more   []kfSlot[N, V]
}

// at returns the j-th value of e.
func (e *kfEntry[N, V]) at(j int) *kfSlot[N, V] {
	if j < kfInline {
		return &e.inline[j]
	}
	return &e.more[j-kfInline]
}

// find returns the index of namespace n in e, or -1.
func (e *kfEntry[N, V]) find(n N) int {
	for j := range min(e.n, kfInline) {
		if e.inline[j].n == n {
			return j
		}
	}
	for j := range e.more {
		if e.more[j].n == n {
			return kfInline + j
		}
	}
	return -1
}

// add appends a value for namespace n and returns its index.
func (e *kfEntry[N, V]) add(n N) int {
	if e.n < kfInline {
		e.inline[e.n] = kfSlot[N, V]{n: n}
	} else {
		e.more = append(e.more, kfSlot[N, V]{n: n})
	}
	e.n++
	return e.n - 1
}

// remove removes the j-th value, moving the last into its place.
func (e *kfEntry[N, V]) remove(j int) {
	last := e.n - 1
	*e.at(j) = *e.at(last)
	*e.at(last) = kfSlot[N, V]{}
	if last >= kfInline {
		e.more = e.more[:last-kfInline]
	}
	e.n--
}

// clone returns a copy of e made in epoch.
func (e *kfEntry[N, V]) clone(epoch uint64) *kfEntry[N, V] {
	c := *e
	c.epoch, c.more = epoch, slices.Clone(e.more)
	return &c
}

// kfIndex is what a key-first table knows of one key group beyond its
// entries: the keys of each namespace in the order they entered it — an
// index of the live state only, never in snapshots, rebuilt on restore —
// and the key used last with its entry (hasLast), so that several
// namespaces of one key in a row cost one map lookup.
type kfIndex[K, N comparable, V any] struct {
	ns      map[N]*kfKeys[K]
	cache   nsCache[N, kfKeys[K]]
	last    K
	lastE   *kfEntry[N, V]
	hasLast bool
}

// kfKeys is the keys of one namespace of a key group, in the order they
// entered it.
type kfKeys[K comparable] struct{ keys []K }

// keysOf returns the keys of namespace n in the key group at offset i, or
// nil.
func (t *memKeyFirst[K, N, V]) keysOf(i int, n N) *kfKeys[K] {
	x := &t.idx[i]
	if ks := x.cache.get(n); ks != nil {
		return ks
	}
	ks := x.ns[n]
	if ks != nil {
		x.cache.set(n, ks)
	}
	return ks
}

// forget removes namespace n from the index of the key group at offset i.
func (t *memKeyFirst[K, N, V]) forget(i int, n N) {
	delete(t.idx[i].ns, n)
	t.idx[i].cache.set(n, nil)
}

// memKeyFirst is the memory backend's key-first Namespaced table: per key
// group, a map from key to the key's values in all namespaces, and the
// index of which keys each namespace has. Reading or writing several
// namespaces of one key costs one map lookup; listing or dropping a
// namespace costs one lookup per key in it.
type memKeyFirst[K, N comparable, V any] struct {
	keyed[K, *kfEntry[N, V]]
	d    TableDesc[K, N, V]
	idx  []kfIndex[K, N, V] // per key group offset
	free []*kfEntry[N, V]   // emptied entries no snapshot holds
}

func newMemKeyFirst[K, N comparable, V any](b *Memory, d TableDesc[K, N, V]) *memKeyFirst[K, N, V] {
	t := &memKeyFirst[K, N, V]{
		keyed: newKeyed[K, *kfEntry[N, V]](b, d.Name, 0),
		d:     d,
		idx:   make([]kfIndex[K, N, V], b.cfg.KeyGroups.Len()),
	}
	for i := range t.idx {
		t.idx[i].ns = make(map[N]*kfKeys[K])
	}
	return t
}

// entry returns k's entry in the key group at offset i, or nil.
func (t *memKeyFirst[K, N, V]) entry(i int, k K) *kfEntry[N, V] {
	x := &t.idx[i]
	if x.hasLast && x.last == k {
		return x.lastE
	}
	g := &t.groups[i]
	e := g.m[k]
	if g.ov != nil {
		e, _ = g.getOverlay(k)
	}
	if e != nil {
		x.last, x.lastE, x.hasLast = k, e, true
	}
	return e
}

// writableEntry returns k's entry in the key group at offset i, writable in
// the current epoch, creating it when there is none.
func (t *memKeyFirst[K, N, V]) writableEntry(i int, k K) *kfEntry[N, V] {
	e := t.entry(i, k)
	if e != nil && e.epoch == t.b.epoch {
		return e
	}
	if e != nil && !t.holds(e.epoch, i) {
		e.epoch = t.b.epoch
		t.tidy(i)
		return e
	}
	m := t.writableAt(i)
	switch {
	case e != nil:
		e = e.clone(t.b.epoch)
	case len(t.free) > 0:
		e = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
		e.epoch = t.b.epoch
	default:
		e = &kfEntry[N, V]{epoch: t.b.epoch}
	}
	m[k] = e
	x := &t.idx[i]
	x.last, x.lastE, x.hasLast = k, e, true
	return e
}

// removeSlot removes value j of k's writable entry e in the key group at
// offset i, and the entry with its last value.
func (t *memKeyFirst[K, N, V]) removeSlot(i int, k K, e *kfEntry[N, V], j int) {
	e.remove(j)
	if e.n > 0 {
		return
	}
	t.remove(i, k)
	if x := &t.idx[i]; x.hasLast && x.last == k {
		x.lastE, x.hasLast = nil, false
	}
	if len(t.free) < maxFreeEntries {
		t.free = append(t.free, e) // writableEntry made it, so no snapshot reads it
	}
}

// maxFreeEntries bounds how many emptied entries a key-first table keeps
// for reuse.
const maxFreeEntries = 1024

func (t *memKeyFirst[K, N, V]) Get(kg int, k K, n N) (V, bool, error) {
	var zero V
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return zero, false, t.kgError(kg)
	}
	if e := t.entry(i, k); e != nil {
		if j := e.find(n); j >= 0 {
			return e.at(j).v, true, nil
		}
	}
	return zero, false, nil
}

func (t *memKeyFirst[K, N, V]) Slot(kg int, k K, n N) (*V, bool, bool, error) {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return nil, false, false, t.kgError(kg)
	}
	e := t.writableEntry(i, k)
	if j := e.find(n); j >= 0 {
		return &e.at(j).v, false, false, nil
	}
	j := e.add(n)
	ks := t.keysOf(i, n)
	fresh := ks == nil
	if fresh {
		ks = &kfKeys[K]{}
		t.idx[i].ns[n] = ks
		t.idx[i].cache.set(n, ks)
	}
	ks.keys = append(ks.keys, k)
	return &e.at(j).v, true, fresh, nil
}

func (t *memKeyFirst[K, N, V]) Put(kg int, k K, n N, v V) error {
	p, _, _, err := t.Slot(kg, k, n)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Delete moves the namespace's last key into k's place in its order.
func (t *memKeyFirst[K, N, V]) Delete(kg int, k K, n N) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	if e := t.entry(i, k); e == nil || e.find(n) < 0 {
		return nil
	}
	e := t.writableEntry(i, k)
	t.removeSlot(i, k, e, e.find(n))
	ks := t.keysOf(i, n)
	if len(ks.keys) == 1 {
		t.forget(i, n)
		return nil
	}
	j, last := slices.Index(ks.keys, k), len(ks.keys)-1
	ks.keys[j] = ks.keys[last]
	ks.keys = ks.keys[:last]
	return nil
}

func (t *memKeyFirst[K, N, V]) Has(kg int, n N) bool {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return false
	}
	return t.keysOf(i, n) != nil
}

func (t *memKeyFirst[K, N, V]) Entries(kg int, n N) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		i := kg - t.start
		if uint(i) >= uint(len(t.groups)) {
			return
		}
		ks := t.keysOf(i, n)
		if ks == nil {
			return
		}
		for _, k := range ks.keys {
			e := t.entry(i, k)
			if !yield(k, e.at(e.find(n)).v) {
				return
			}
		}
	}
}

func (t *memKeyFirst[K, N, V]) Update(kg int, n N, fn func(K, *V) error) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	ks := t.keysOf(i, n)
	if ks == nil {
		return nil
	}
	for _, k := range ks.keys {
		e := t.writableEntry(i, k)
		if err := fn(k, &e.at(e.find(n)).v); err != nil {
			return err
		}
	}
	return nil
}

func (t *memKeyFirst[K, N, V]) Drain(kg int, n N, fn func(K, V) error) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	ks := t.keysOf(i, n)
	if ks == nil {
		return nil
	}
	for j, k := range ks.keys {
		e := t.writableEntry(i, k)
		s := e.find(n)
		v := e.at(s).v
		t.removeSlot(i, k, e, s)
		if err := fn(k, v); err != nil {
			if rest := ks.keys[j+1:]; len(rest) > 0 {
				ks.keys = rest
			} else {
				t.forget(i, n)
			}
			return err
		}
	}
	t.forget(i, n)
	return nil
}

func (t *memKeyFirst[K, N, V]) Drop(kg int, n N) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	ks := t.keysOf(i, n)
	if ks == nil {
		return nil
	}
	for _, k := range ks.keys {
		e := t.writableEntry(i, k)
		t.removeSlot(i, k, e, e.find(n))
	}
	t.forget(i, n)
	return nil
}

func (t *memKeyFirst[K, N, V]) Keys(n N) iter.Seq[K] {
	return func(yield func(K) bool) {
		for i := range t.idx {
			ks := t.idx[i].ns[n]
			if ks == nil {
				continue
			}
			for _, k := range ks.keys {
				if !yield(k) {
					return
				}
			}
		}
	}
}

func (t *memKeyFirst[K, N, V]) Len() int {
	n := 0
	for i := range t.groups {
		t.groups[i].each(func(_ K, e *kfEntry[N, V]) bool {
			n += e.n
			return true
		})
	}
	return n
}

func (t *memKeyFirst[K, N, V]) expireGroup(int, int64, int) (int, int, bool) { return 0, 0, true }

func (t *memKeyFirst[K, N, V]) release() {
	t.keyed.release()
	t.idx, t.free = nil, nil
}

func (t *memKeyFirst[K, N, V]) load(raw *rawTable) error {
	return loadSectionsAt(&t.keyed, raw, false, func(i int, m map[K]*kfEntry[N, V], rr *recordReader, rec record, _ int64) error {
		key, v, err := decodeEntry(rr, rec, t.d)
		if err != nil {
			return err
		}
		e := m[key.k]
		if e == nil {
			e = &kfEntry[N, V]{epoch: t.b.epoch}
			m[key.k] = e
		}
		if j := e.find(key.n); j >= 0 {
			e.at(j).v = v
			return nil
		}
		e.at(e.add(key.n)).v = v
		ks := t.idx[i].ns[key.n]
		if ks == nil {
			ks = &kfKeys[K]{}
			t.idx[i].ns[key.n] = ks
		}
		ks.keys = append(ks.keys, key.k)
		return nil
	})
}

func (t *memKeyFirst[K, N, V]) freeze() frozenTable {
	return &frozenKeyFirst[K, N, V]{d: t.d, start: t.start, groups: t.frozenGroups()}
}

// frozenKeyFirst is a key-first table in a snapshot, written as a value
// table.
type frozenKeyFirst[K, N comparable, V any] struct {
	d      TableDesc[K, N, V]
	start  int
	groups []map[K]*kfEntry[N, V]
}

func (f *frozenKeyFirst[K, N, V]) header() tableHeader {
	return tableHeader{name: f.d.Name, kind: kindValue, ttl: time.Duration(0), layout: keyedLayout(f.d)}
}

func (f *frozenKeyFirst[K, N, V]) writeBody(w *snapWriter, _ int64) error {
	return writeKeyed(w, f.start, 0, f.groups, func(s *sectionBuf, k K, e *kfEntry[N, V]) {
		for j := range e.n {
			sl := e.at(j)
			encodeEntry(s, f.d.Key, k, f.d.Namespace, sl.n, f.d.Value, sl.v)
		}
	})
}
