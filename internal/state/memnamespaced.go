package state

import (
	"iter"
	"maps"
	"slices"
	"time"
)

// nsEntries is one namespace of one key group of a namespaced table: its
// keys in the order they entered, their values at the same positions, and
// an index from key to position. Like the key-group maps, it carries the
// epoch it was last written in place in; one that a snapshot may read (see
// Memory.holds) is not written. The first write to it makes a new one that
// shares its keys, index and values, and writes to an overlay (ov) instead
// of the shared index and values below their captured length: so a write
// while a snapshot is held costs what it writes, not a copy of the
// namespace. keys is only ever appended to (an element below a captured
// length is never written again), and so are vals past that length.
type nsEntries[K comparable, V any] struct {
	epoch  uint64
	idx    map[K]int
	keys   []K
	vals   []V
	shared bool // keys shares its array with an older copy
	// ov is not nil while idx and vals are shared with an older copy that
	// a snapshot may read.
	ov *nsOverlay[K, V]
}

// nsOverlay is what a namespace's entries hold instead of writing the index
// and values they share with an older copy.
type nsOverlay[K comparable, V any] struct {
	// epoch is the epoch the shared index and values were last written in
	// place in: while a snapshot may read that epoch, they are not written.
	epoch uint64
	// frozen is how many values are shared: vals[:frozen].
	frozen int
	added  map[K]int // the positions of keys added since (at frozen or later)
	vals   map[int]*V
}

// find returns the position of k, or false.
func (e *nsEntries[K, V]) find(k K) (int, bool) {
	j, ok := e.idx[k]
	if !ok && e.ov != nil {
		j, ok = e.ov.added[k]
	}
	return j, ok
}

// value returns the value at position j.
func (e *nsEntries[K, V]) value(j int) V {
	if e.ov != nil && j < e.ov.frozen {
		if p := e.ov.vals[j]; p != nil {
			return *p
		}
	}
	return e.vals[j]
}

// slot returns a pointer through which the value at position j may be
// written.
func (e *nsEntries[K, V]) slot(j int) *V {
	if e.ov != nil && j < e.ov.frozen {
		p := e.ov.vals[j]
		if p == nil {
			p = new(V)
			*p = e.vals[j]
			e.ov.vals[j] = p
		}
		return p
	}
	return &e.vals[j]
}

// fold writes the overlay into the index and values, which no snapshot may
// read any more.
func (e *nsEntries[K, V]) fold() {
	for k, j := range e.ov.added {
		e.idx[k] = j
	}
	for j, p := range e.ov.vals {
		e.vals[j] = *p
	}
	e.ov = nil
}

// materialize gives e an index and values of its own with the overlay
// applied, for writes the overlay does not serve (deleting a key, writing
// every value) while a snapshot may still read the shared ones.
func (e *nsEntries[K, V]) materialize() {
	idx := make(map[K]int, len(e.idx)+len(e.ov.added))
	maps.Copy(idx, e.idx)
	maps.Copy(idx, e.ov.added)
	vals := slices.Clone(e.vals)
	for j, p := range e.ov.vals {
		vals[j] = *p
	}
	e.idx, e.vals, e.ov = idx, vals, nil
}

// own makes e's index and values its own (see materialize), folding the
// overlay in place when no snapshot may read them; e is in the key group at
// offset i of the table created ord-th.
func (e *nsEntries[K, V]) own(b *Memory, ord, i int) {
	if e.ov == nil {
		return
	}
	if b.holdsGroup(e.ov.epoch, ord, i) {
		e.materialize()
	} else {
		e.fold()
	}
}

// nsCacheWays is how many namespaces each key group remembers: enough for
// the windows open at once in the common cases (the current one, one still
// within its allowed lateness, the next).
const nsCacheWays = 4

// nsCache remembers, for one key group, the namespaces last used and what
// a table keeps for each (*P), so that records of the same few namespaces
// skip the namespace lookup. A way whose e is nil is empty; otherwise e is
// the table's current *P for n.
type nsCache[N comparable, P any] struct {
	ways [nsCacheWays]struct {
		n N
		e *P
	}
	next int // the way to replace next
}

// get returns the cached *P of n, or nil.
func (c *nsCache[N, P]) get(n N) *P {
	for w := range c.ways {
		if c.ways[w].e != nil && c.ways[w].n == n {
			return c.ways[w].e
		}
	}
	return nil
}

// set caches e as the *P of n (nil: forgets n).
func (c *nsCache[N, P]) set(n N, e *P) {
	for w := range c.ways {
		if c.ways[w].e != nil && c.ways[w].n == n {
			c.ways[w].e = e
			return
		}
	}
	if e == nil {
		return
	}
	c.ways[c.next].n, c.ways[c.next].e = n, e
	c.next = (c.next + 1) % nsCacheWays
}

// overlaidNS is an entry given an overlay, in the key group at offset i.
type overlaidNS[K comparable, V any] struct {
	e *nsEntries[K, V]
	i int
}

// memNamespaced is the memory backend's Namespaced table: per key group, a
// map from namespace to the namespace's entries.
//
// Namespaces come and go (a window's namespace lives from its first record
// to its end), so each key group keeps the entries of the last namespace it
// dropped, emptied, when no snapshot can hold them, and the next namespace
// it creates reuses them: their index map and arrays have the right size
// already and are likely still in the cache.
type memNamespaced[K, N comparable, V any] struct {
	keyed[N, *nsEntries[K, V]]
	d     TableDesc[K, N, V]
	last  []nsCache[N, nsEntries[K, V]] // per key group offset
	spare []*nsEntries[K, V]            // per key group offset, or nil
	// overlaid is the entries given an overlay since the last snapshot,
	// which the next snapshot folds or materializes, with their key
	// groups' offsets.
	overlaid []overlaidNS[K, V]
}

func newMemNamespaced[K, N comparable, V any](b *Memory, d TableDesc[K, N, V]) *memNamespaced[K, N, V] {
	return &memNamespaced[K, N, V]{
		keyed: newKeyed[N, *nsEntries[K, V]](b, d.Name, 0),
		d:     d,
		last:  make([]nsCache[N, nsEntries[K, V]], b.cfg.KeyGroups.Len()),
		spare: make([]*nsEntries[K, V], b.cfg.KeyGroups.Len()),
	}
}

// lookup returns the entries of namespace n in the key group at offset i,
// or nil.
func (t *memNamespaced[K, N, V]) lookup(i int, n N) *nsEntries[K, V] {
	c := &t.last[i]
	if e := c.get(n); e != nil {
		return e
	}
	g := &t.groups[i]
	e := g.m[n]
	if g.ov != nil {
		e, _ = g.getOverlay(n)
	}
	if e != nil {
		c.set(n, e)
	}
	return e
}

// writableNS returns the entries of namespace n in the key group at offset
// i, writable in the current epoch, creating them when there are none
// (fresh).
func (t *memNamespaced[K, N, V]) writableNS(i int, n N) (e *nsEntries[K, V], fresh bool) {
	e = t.lookup(i, n)
	if e != nil && e.epoch == t.b.epoch {
		if e.ov != nil && !t.holds(e.ov.epoch, i) {
			e.fold()
			t.tidy(i)
		}
		return e, false
	}
	if e != nil && !t.holds(e.epoch, i) {
		e.epoch = t.b.epoch
		if e.ov != nil && !t.holds(e.ov.epoch, i) {
			e.fold()
		}
		t.tidy(i)
		return e, false
	}
	m := t.writableAt(i)
	switch {
	case e != nil:
		// A snapshot took e after its last write, so e has no overlay.
		e = &nsEntries[K, V]{epoch: t.b.epoch, idx: e.idx, keys: e.keys, vals: e.vals, shared: true,
			ov: &nsOverlay[K, V]{epoch: e.epoch, frozen: len(e.vals), added: make(map[K]int), vals: make(map[int]*V)}}
		t.overlaid = append(t.overlaid, overlaidNS[K, V]{e, i})
	case t.spare[i] != nil:
		e, t.spare[i] = t.spare[i], nil
		e.epoch, fresh = t.b.epoch, true
	default:
		e = &nsEntries[K, V]{epoch: t.b.epoch, idx: make(map[K]int)}
		fresh = true
	}
	m[n] = e
	t.last[i].set(n, e)
	return e, fresh
}

// Get costs one map lookup when the key group has used the namespace
// lately.
func (t *memNamespaced[K, N, V]) Get(kg int, k K, n N) (V, bool, error) {
	var zero V
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return zero, false, t.kgError(kg)
	}
	e := t.lookup(i, n)
	if e == nil {
		return zero, false, nil
	}
	j, ok := e.idx[k]
	if !ok && e.ov != nil {
		j, ok = e.ov.added[k]
	}
	if !ok {
		return zero, false, nil
	}
	if e.ov != nil {
		return e.value(j), true, nil
	}
	return e.vals[j], true, nil
}

func (t *memNamespaced[K, N, V]) Slot(kg int, k K, n N) (*V, bool, bool, error) {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return nil, false, false, t.kgError(kg)
	}
	e, fresh := t.writableNS(i, n)
	j, ok := e.idx[k]
	if !ok && e.ov != nil {
		j, ok = e.ov.added[k]
	}
	if !ok {
		j = len(e.keys)
		if e.ov != nil {
			e.ov.added[k] = j
		} else {
			e.idx[k] = j
		}
		e.keys = append(e.keys, k)
		var zero V
		e.vals = append(e.vals, zero)
	}
	if e.ov != nil {
		return e.slot(j), !ok, fresh, nil
	}
	return &e.vals[j], !ok, fresh, nil
}

func (t *memNamespaced[K, N, V]) Put(kg int, k K, n N, v V) error {
	p, _, _, err := t.Slot(kg, k, n)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Delete moves the namespace's last key into k's place, so it costs what a
// write costs (plus, once per snapshot epoch, a copy of the namespace's
// keys when a snapshot shares them).
func (t *memNamespaced[K, N, V]) Delete(kg int, k K, n N) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	e := t.lookup(i, n)
	if e == nil {
		return nil
	}
	if _, ok := e.find(k); !ok {
		return nil
	}
	if len(e.keys) == 1 {
		return t.Drop(kg, n)
	}
	e, _ = t.writableNS(i, n)
	e.own(t.b, t.ord, i)
	if e.shared {
		// The keys below its length may be a snapshot's: write a copy.
		e.keys, e.shared = slices.Clone(e.keys), false
	}
	j, last := e.idx[k], len(e.keys)-1
	e.keys[j], e.vals[j] = e.keys[last], e.vals[last]
	e.idx[e.keys[j]] = j
	var zeroK K
	var zeroV V
	e.keys[last], e.vals[last] = zeroK, zeroV
	e.keys, e.vals = e.keys[:last], e.vals[:last]
	delete(e.idx, k)
	return nil
}

func (t *memNamespaced[K, N, V]) Has(kg int, n N) bool {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return false
	}
	return t.lookup(i, n) != nil
}

// Entries yields nothing for a key group outside the backend's range, as it
// has no way to report the error.
func (t *memNamespaced[K, N, V]) Entries(kg int, n N) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		i := kg - t.start
		if uint(i) >= uint(len(t.groups)) {
			return
		}
		e := t.lookup(i, n)
		if e == nil {
			return
		}
		for j, k := range e.keys {
			if !yield(k, e.value(j)) {
				return
			}
		}
	}
}

func (t *memNamespaced[K, N, V]) Update(kg int, n N, fn func(K, *V) error) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	if t.lookup(i, n) == nil {
		return nil
	}
	e, _ := t.writableNS(i, n)
	e.own(t.b, t.ord, i) // fn may write every value
	for j, k := range e.keys {
		if err := fn(k, &e.vals[j]); err != nil {
			return err
		}
	}
	return nil
}

func (t *memNamespaced[K, N, V]) Drain(kg int, n N, fn func(K, V) error) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	e := t.lookup(i, n)
	if e == nil {
		return nil
	}
	for j, k := range e.keys {
		if err := fn(k, e.value(j)); err != nil {
			// Keep the entries fn was not called with.
			for _, done := range slices.Clone(e.keys[:j+1]) {
				if err := t.Delete(kg, done, n); err != nil {
					return err
				}
			}
			return err
		}
	}
	return t.Drop(kg, n)
}

func (t *memNamespaced[K, N, V]) Drop(kg int, n N) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	e := t.lookup(i, n)
	if e == nil {
		return nil
	}
	t.remove(i, n)
	t.last[i].set(n, nil)
	if e.ov != nil {
		// Made since the last snapshot, which no snapshot holds, but its
		// index and values are shared with one a snapshot may hold.
		e.ov = nil
		return nil
	}
	if t.ownedInPlace(e.epoch, i) {
		// No snapshot holds e: empty it for the next namespace. Its keys
		// array is kept only when no older copy shares it.
		clear(e.idx)
		clear(e.vals)
		e.vals = e.vals[:0]
		if e.shared {
			e.keys, e.shared = nil, false
		} else {
			clear(e.keys)
			e.keys = e.keys[:0]
		}
		t.spare[i] = e
	}
	return nil
}

func (t *memNamespaced[K, N, V]) Keys(n N) iter.Seq[K] {
	return func(yield func(K) bool) {
		for i := range t.groups {
			g := &t.groups[i]
			e := g.m[n]
			if g.ov != nil {
				e, _ = g.getOverlay(n)
			}
			if e == nil {
				continue
			}
			for _, k := range e.keys {
				if !yield(k) {
					return
				}
			}
		}
	}
}

func (t *memNamespaced[K, N, V]) Len() int {
	n := 0
	for i := range t.groups {
		t.groups[i].each(func(_ N, e *nsEntries[K, V]) bool {
			n += len(e.keys)
			return true
		})
	}
	return n
}

func (t *memNamespaced[K, N, V]) expireGroup(int, int64, int) (int, int, bool) { return 0, 0, true }

func (t *memNamespaced[K, N, V]) release() {
	t.keyed.release()
	t.last, t.spare, t.overlaid = nil, nil, nil
}

func (t *memNamespaced[K, N, V]) load(raw *rawTable) error {
	return loadSections(&t.keyed, raw, func(m map[N]*nsEntries[K, V], rr *recordReader, rec record, _ int64) error {
		key, v, err := decodeEntry(rr, rec, t.d)
		if err != nil {
			return err
		}
		e := m[key.n]
		if e == nil {
			e = &nsEntries[K, V]{epoch: t.b.epoch, idx: make(map[K]int)}
			m[key.n] = e
		}
		if j, ok := e.idx[key.k]; ok {
			e.vals[j] = v
			return nil
		}
		e.idx[key.k] = len(e.keys)
		e.keys = append(e.keys, key.k)
		e.vals = append(e.vals, v)
		return nil
	})
}

// freeze first gives every entry with an overlay its index and values
// back, so that the snapshot reads plain entries.
func (t *memNamespaced[K, N, V]) freeze() frozenTable {
	for _, o := range t.overlaid {
		o.e.own(t.b, t.ord, o.i)
	}
	clear(t.overlaid)
	t.overlaid = t.overlaid[:0]
	return &frozenNamespaced[K, N, V]{d: t.d, start: t.start, groups: t.frozenGroups()}
}

// frozenNamespaced is a namespaced table in a snapshot, written as a value
// table.
type frozenNamespaced[K, N comparable, V any] struct {
	d      TableDesc[K, N, V]
	start  int
	groups []map[N]*nsEntries[K, V]
}

func (f *frozenNamespaced[K, N, V]) header() tableHeader {
	return tableHeader{name: f.d.Name, kind: kindValue, ttl: time.Duration(0), layout: keyedLayout(f.d)}
}

func (f *frozenNamespaced[K, N, V]) writeBody(w *snapWriter, _ int64) error {
	return writeKeyed(w, f.start, 0, f.groups, func(s *sectionBuf, n N, e *nsEntries[K, V]) {
		for j, k := range e.keys {
			encodeEntry(s, f.d.Key, k, f.d.Namespace, n, f.d.Value, e.vals[j])
		}
	})
}
