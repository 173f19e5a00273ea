package state

import (
	"iter"
	"slices"
	"time"
)

// splitRow is one entry of a split-key table under its map key: the rest of
// its key, its namespace and its value.
type splitRow[S, N comparable, V any] struct {
	s S
	n N
	v V
}

// splitRows is the entries of one map key of a split-key table, held in
// the map by value: the first inline, so that a key with one entry costs
// no allocation, the others in more. A snapshot may read more (see
// Memory.holds) unless it was last written in place in the current epoch,
// and then more is copied before it is written.
type splitRows[S, N comparable, V any] struct {
	epoch uint64 // the epoch more was last written in place in
	n     int
	one   splitRow[S, N, V]
	more  []splitRow[S, N, V]
}

// at returns the j-th entry of rs.
func (rs *splitRows[S, N, V]) at(j int) *splitRow[S, N, V] {
	if j == 0 {
		return &rs.one
	}
	return &rs.more[j-1]
}

// find returns the index of (s, n) in rs, or -1.
func (rs *splitRows[S, N, V]) find(s S, n N) int {
	for j := range rs.n {
		if r := rs.at(j); r.s == s && r.n == n {
			return j
		}
	}
	return -1
}

// ownMore makes more writable in b's current epoch; rs is in the key group
// at offset i of the table created ord-th.
func (rs *splitRows[S, N, V]) ownMore(b *Memory, ord, i int) {
	if rs.epoch != b.epoch {
		if b.holdsGroup(rs.epoch, ord, i) {
			rs.more = slices.Clone(rs.more)
		}
		rs.epoch = b.epoch
	}
}

// add appends r.
func (rs *splitRows[S, N, V]) add(r splitRow[S, N, V], b *Memory, ord, i int) {
	if rs.n == 0 {
		rs.one = r
	} else {
		rs.ownMore(b, ord, i)
		rs.more = append(rs.more, r)
	}
	rs.n++
}

// memSplitValue is the memory backend's split-key value table: per key
// group, a map from the first part of each key to its entries.
type memSplitValue[LK, K, S, N comparable, V any] struct {
	keyed[K, splitRows[S, N, V]]
	d     TableDesc[LK, N, V]
	split func(LK) (K, S)
	join  func(K, S) LK
}

func (t *memSplitValue[LK, K, S, N, V]) Get(kg int, lk LK, n N) (V, bool, error) {
	var zero V
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return zero, false, t.kgError(kg)
	}
	k, s := t.split(lk)
	g := &t.groups[i]
	rs := g.m[k]
	if g.ov != nil {
		rs, _ = g.getOverlay(k)
	}
	if j := rs.find(s, n); j >= 0 {
		return rs.at(j).v, true, nil
	}
	return zero, false, nil
}

func (t *memSplitValue[LK, K, S, N, V]) Put(kg int, lk LK, n N, v V) error {
	i, m, err := t.writable(kg)
	if err != nil {
		return err
	}
	k, s := t.split(lk)
	g := &t.groups[i]
	rs := g.m[k]
	if g.ov != nil {
		rs, _ = g.getOverlay(k)
	}
	if j := rs.find(s, n); j == 0 {
		rs.one.v = v
	} else if j > 0 {
		rs.ownMore(t.b, t.ord, i)
		rs.more[j-1].v = v
	} else {
		rs.add(splitRow[S, N, V]{s: s, n: n, v: v}, t.b, t.ord, i)
	}
	m[k] = rs
	return nil
}

// Delete moves the last entry of the map key into the deleted one's place.
func (t *memSplitValue[LK, K, S, N, V]) Delete(kg int, lk LK, n N) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	k, s := t.split(lk)
	g := &t.groups[i]
	rs, ok := g.m[k]
	if g.ov != nil {
		rs, ok = g.getOverlay(k)
	}
	j := rs.find(s, n)
	if !ok || j < 0 {
		return nil
	}
	if rs.n == 1 {
		t.remove(i, k)
		return nil
	}
	m := t.writableAt(i)
	rs.ownMore(t.b, t.ord, i)
	last := len(rs.more) - 1
	*rs.at(j) = rs.more[last]
	rs.more[last] = splitRow[S, N, V]{}
	rs.more = rs.more[:last]
	rs.n--
	m[k] = rs
	return nil
}

func (t *memSplitValue[LK, K, S, N, V]) Keys(n N) iter.Seq[LK] {
	return func(yield func(LK) bool) {
		for i := range t.groups {
			if !t.groups[i].each(func(k K, rs splitRows[S, N, V]) bool {
				for j := range rs.n {
					if r := rs.at(j); r.n == n && !yield(t.join(k, r.s)) {
						return false
					}
				}
				return true
			}) {
				return
			}
		}
	}
}

func (t *memSplitValue[LK, K, S, N, V]) Len() int {
	n := 0
	for i := range t.groups {
		t.groups[i].each(func(_ K, rs splitRows[S, N, V]) bool {
			n += rs.n
			return true
		})
	}
	return n
}

func (t *memSplitValue[LK, K, S, N, V]) expireGroup(int, int64, int) (int, int, bool) {
	return 0, 0, true
}

func (t *memSplitValue[LK, K, S, N, V]) load(raw *rawTable) error {
	return loadSectionsAt(&t.keyed, raw, false, func(i int, m map[K]splitRows[S, N, V], rr *recordReader, rec record, _ int64) error {
		key, v, err := decodeEntry(rr, rec, t.d)
		if err != nil {
			return err
		}
		k, s := t.split(key.k)
		rs := m[k]
		if j := rs.find(s, key.n); j >= 0 {
			rs.ownMore(t.b, t.ord, i)
			rs.at(j).v = v
		} else {
			rs.add(splitRow[S, N, V]{s: s, n: key.n, v: v}, t.b, t.ord, i)
		}
		m[k] = rs
		return nil
	})
}

func (t *memSplitValue[LK, K, S, N, V]) freeze() frozenTable {
	return &frozenSplitValue[LK, K, S, N, V]{d: t.d, join: t.join, start: t.start, groups: t.frozenGroups()}
}

// frozenSplitValue is a split-key table in a snapshot, written as a value
// table keyed by the whole keys.
type frozenSplitValue[LK, K, S, N comparable, V any] struct {
	d      TableDesc[LK, N, V]
	join   func(K, S) LK
	start  int
	groups []map[K]splitRows[S, N, V]
}

func (f *frozenSplitValue[LK, K, S, N, V]) header() tableHeader {
	return tableHeader{name: f.d.Name, kind: kindValue, ttl: time.Duration(0), layout: keyedLayout(f.d)}
}

func (f *frozenSplitValue[LK, K, S, N, V]) writeBody(w *snapWriter, _ int64) error {
	return writeKeyed(w, f.start, 0, f.groups, func(s *sectionBuf, k K, rs splitRows[S, N, V]) {
		for j := range rs.n {
			r := rs.at(j)
			encodeEntry(s, f.d.Key, f.join(k, r.s), f.d.Namespace, r.n, f.d.Value, r.v)
		}
	})
}
