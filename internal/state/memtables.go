package state

import (
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/weirstream/weir/codec"
)

// ck is the key of a keyed table's Go map. The namespace comes first so
// that a zero-size namespace (struct{}) adds no trailing padding.
type ck[K, N comparable] struct {
	n N
	k K
}

// group is one key group of a table. m is its map and epoch the epoch m
// was last written in place in; while a snapshot may read m (see
// Memory.holds), m is not written and writes go to the overlay instead: ov
// holds the entries written since, dead the keys of m deleted since (a key
// in ov is live whether or not it is in dead). ov is nil when there is no
// overlay; then dead is nil too. MK is the map's key: ck[K, N] in general, K
// alone for a table whose namespace is struct{}.
//
// Invariants: epoch equals the backend's epoch only when ov is nil; while ov
// is not nil, m does not change and dead is a subset of m's keys.
type group[MK comparable, E any] struct {
	epoch uint64
	m     map[MK]E
	ov    map[MK]E
	dead  map[MK]struct{}
	// ovHint is the number of entries the last overlay held when it was
	// folded: a new overlay is made with room for as many, as checkpoints
	// of a steady job see about the same writes, so that it does not
	// grow (rehashing what it holds, and leaving the smaller tables as
	// garbage) while the job writes through it.
	ovHint int
}

// newOverlay makes the overlay, sized by ovHint.
func (g *group[MK, E]) newOverlay() {
	g.ov = make(map[MK]E, min(g.ovHint, len(g.m)))
}

// dropOverlay forgets the folded overlay, remembering its size.
func (g *group[MK, E]) dropOverlay() {
	g.ovHint = len(g.ov)
	g.ov, g.dead = nil, nil
}

// getOverlay looks key up through the overlay, which must not be nil.
func (g *group[MK, E]) getOverlay(key MK) (E, bool) {
	if e, ok := g.ov[key]; ok {
		return e, true
	}
	if _, ok := g.dead[key]; ok {
		var zero E
		return zero, false
	}
	e, ok := g.m[key]
	return e, ok
}

// deleteOverlay deletes key, which must be live, through the overlay.
func (g *group[MK, E]) deleteOverlay(key MK) {
	if g.ov == nil {
		g.newOverlay()
	}
	delete(g.ov, key)
	if _, ok := g.m[key]; ok {
		if g.dead == nil {
			g.dead = make(map[MK]struct{})
		}
		g.dead[key] = struct{}{}
	}
}

// foldInto applies the overlay to m.
func (g *group[MK, E]) foldInto(m map[MK]E) {
	for key := range g.dead {
		delete(m, key)
	}
	for key, e := range g.ov {
		m[key] = e
	}
}

// each yields the live entries of the key group, the overlay's first. It
// may write to the overlay's existing keys, delete, and add tombstones
// while it runs, as the expiry sweeps do; no key is yielded twice.
func (g *group[MK, E]) each(yield func(MK, E) bool) bool {
	if g.ov == nil {
		for key, e := range g.m {
			if !yield(key, e) {
				return false
			}
		}
		return true
	}
	for key, e := range g.ov {
		if !yield(key, e) {
			return false
		}
	}
	for key, e := range g.m {
		if _, ok := g.ov[key]; ok {
			continue
		}
		if _, ok := g.dead[key]; ok {
			continue
		}
		if !yield(key, e) {
			return false
		}
	}
	return true
}

// count returns the number of live entries, in time proportional to the
// overlay.
func (g *group[MK, E]) count() int {
	n := len(g.m)
	if g.ov == nil {
		return n
	}
	n += len(g.ov) - len(g.dead)
	for key := range g.ov {
		if _, ok := g.m[key]; ok {
			if _, ok := g.dead[key]; !ok {
				n--
			}
		}
	}
	return n
}

// stamped is a value with its last-write time (Unix nanoseconds, 0 when the
// table has no TTL).
type stamped[V any] struct {
	v  V
	at int64
}

// keyed is what the keyed tables share.
type keyed[MK comparable, E any] struct {
	b    *Memory
	name string
	// ord is the table's place in the backend's creation order, which
	// names its progress markers in snapshots (see Memory.holdsGroup).
	ord    int
	start  int
	ttl    int64
	groups []group[MK, E]
	// sweeping is set while an expiry sweep ranges over a key group, so
	// that its writes leave the overlay it ranges over unfolded.
	sweeping bool
}

func newKeyed[MK comparable, E any](b *Memory, name string, ttl time.Duration) keyed[MK, E] {
	return keyed[MK, E]{
		b:      b,
		name:   name,
		ord:    len(b.tables),
		start:  b.cfg.KeyGroups.Start,
		ttl:    int64(ttl),
		groups: make([]group[MK, E], b.cfg.KeyGroups.Len()),
	}
}

func (t *keyed[MK, E]) kgError(kg int) error {
	if t.b.closed {
		return ErrClosed
	}
	return fmt.Errorf("state: table %q: key group %d outside the backend's range %s", t.name, kg, t.b.cfg.KeyGroups)
}

// settle makes the map of the key group at offset i writable in place in
// the current epoch, folding its overlay into it, unless a snapshot may
// still read it (or an expiry sweep is ranging over the overlay); it
// reports whether it did. Folding costs what the overlay holds.
func (t *keyed[MK, E]) settle(i int) bool {
	g := &t.groups[i]
	switch {
	case g.epoch == t.b.epoch:
		return true
	case g.m == nil:
		g.m = make(map[MK]E)
	case t.holds(g.epoch, i), g.ov != nil && t.sweeping:
		return false
	case g.ov != nil:
		g.foldInto(g.m)
		g.dropOverlay()
	}
	g.epoch = t.b.epoch
	return true
}

// writableAt returns the map that writes to the key group at offset i go
// to: the key group's map, or its overlay while a snapshot may read the
// map. Setting a key in either makes it live; a read-modify-write must
// read through get, and a delete must go through remove.
func (t *keyed[MK, E]) writableAt(i int) map[MK]E {
	g := &t.groups[i]
	if g.epoch == t.b.epoch || t.settle(i) {
		return g.m
	}
	if g.ov == nil {
		g.newOverlay()
	}
	return g.ov
}

// writable returns the offset of key group kg and the map that writes to it
// go to (see writableAt). Its fast path is the epoch check alone.
func (t *keyed[MK, E]) writable(kg int) (int, map[MK]E, error) {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return 0, nil, t.kgError(kg)
	}
	if g := &t.groups[i]; g.epoch == t.b.epoch {
		return i, g.m, nil
	}
	return i, t.writableAt(i), nil
}

// own makes the map of the key group at offset i writable in the current
// epoch whatever holds it, and returns it: when a snapshot may still read
// the map, it writes a copy with the overlay folded in. Restore (whose key
// groups are new) and Snapshot (for key groups an older snapshot still
// holds) use it.
func (t *keyed[MK, E]) own(i int) map[MK]E {
	if t.settle(i) {
		return t.groups[i].m
	}
	g := &t.groups[i]
	m := make(map[MK]E, len(g.m)+len(g.ov))
	maps.Copy(m, g.m)
	g.foldInto(m)
	g.dropOverlay()
	g.m, g.epoch = m, t.b.epoch
	return m
}

// get returns the entry of key in the key group at offset i.
func (t *keyed[MK, E]) get(i int, key MK) (E, bool) {
	g := &t.groups[i]
	if g.ov != nil {
		return g.getOverlay(key)
	}
	e, ok := g.m[key]
	return e, ok
}

// remove deletes key, which must be live, from the key group at offset i.
func (t *keyed[MK, E]) remove(i int, key MK) {
	g := &t.groups[i]
	if g.epoch == t.b.epoch || t.settle(i) {
		delete(g.m, key)
		return
	}
	g.deleteOverlay(key)
}

// tidy folds the overlay of the key group at offset i once no snapshot
// may read its map; tables that write entries in place without writing the
// key group's map call it on that path, so that an overlay does not
// outlive the snapshots that needed it.
func (t *keyed[MK, E]) tidy(i int) {
	if t.groups[i].ov != nil {
		t.settle(i)
	}
}

// holds reports whether a snapshot not yet released may read a map or
// entry of the key group at offset i last written in place in epoch: one
// taken in that epoch or later that has not yet written that key group.
func (t *keyed[MK, E]) holds(epoch uint64, i int) bool {
	return t.b.holdsGroup(epoch, t.ord, i)
}

// ownedInPlace reports whether an entry of the key group at offset i last
// written in place in epoch may be written in place now: no snapshot may
// read it.
func (t *keyed[MK, E]) ownedInPlace(epoch uint64, i int) bool {
	return epoch == t.b.epoch || !t.holds(epoch, i)
}

func (t *keyed[MK, E]) expired(at, now int64) bool { return t.ttl > 0 && now-at >= t.ttl }

// stamp returns the last-write time to store with a write.
func (t *keyed[MK, E]) stamp() int64 {
	if t.ttl > 0 {
		return t.b.now()
	}
	return 0
}

// nowIfTTL returns the time to check expiry against, read once per call.
func (t *keyed[MK, E]) nowIfTTL() int64 {
	if t.ttl > 0 {
		return t.b.now()
	}
	return 0
}

func (t *keyed[MK, E]) delete(kg int, key MK) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	if g := &t.groups[i]; g.epoch == t.b.epoch {
		delete(g.m, key)
		return nil
	}
	if _, ok := t.get(i, key); ok {
		t.remove(i, key)
	}
	return nil
}

// dropExpired deletes an entry a read found expired, when that costs no
// more than a map delete; otherwise the expiry sweep removes it later. A
// read never folds an overlay, so that reads during an iteration leave
// what it ranges over alone.
func (t *keyed[MK, E]) dropExpired(i int, key MK) {
	if g := &t.groups[i]; g.epoch == t.b.epoch {
		delete(g.m, key)
	}
}

func (t *keyed[MK, E]) release() { t.groups = nil }

// frozenGroups returns the maps a snapshot captures, first folding every
// overlay into its map: in place when no older snapshot may read the map,
// into a copy otherwise.
func (t *keyed[MK, E]) frozenGroups() []map[MK]E {
	gs := make([]map[MK]E, len(t.groups))
	for i := range t.groups {
		if t.groups[i].ov != nil {
			t.own(i)
		}
		gs[i] = t.groups[i].m
	}
	return gs
}

// size counts the entries of all key groups.
func (t *keyed[MK, E]) size() int {
	n := 0
	for i := range t.groups {
		n += t.groups[i].count()
	}
	return n
}

// keysOf yields the keys of namespace n whose entry live reports as live;
// split takes a map key apart.
func keysOf[MK comparable, E any, K, N comparable](t *keyed[MK, E], n N, split func(MK) (K, N), live func(e E, now int64) bool) iter.Seq[K] {
	return func(yield func(K) bool) {
		now := t.nowIfTTL()
		for i := range t.groups {
			if !t.groups[i].each(func(key MK, e E) bool {
				k, kn := split(key)
				return kn != n || !live(e, now) || yield(k)
			}) {
				return
			}
		}
	}
}

func splitCK[K, N comparable](key ck[K, N]) (K, N) { return key.k, key.n }

// expireFlat removes expired entries of a value or list table from the key
// group at offset i.
func expireFlat[MK comparable, E any](t *keyed[MK, E], i int, now int64, budget int, at func(E) int64) (removed, examined int, done bool) {
	t.sweeping = true
	defer func() { t.sweeping = false }()
	g := &t.groups[i]
	done = g.each(func(key MK, e E) bool {
		examined++
		if !t.expired(at(e), now) {
			return true
		}
		if removed == budget {
			return false
		}
		t.remove(i, key) // deletes from what each ranges over, or adds a tombstone
		removed++
		return true
	})
	return removed, examined, done
}

// loadSections fills a table from restored sections, one entry at a time,
// dropping entries that expired while the job was down.
func loadSections[MK comparable, E any](t *keyed[MK, E], raw *rawTable, put func(m map[MK]E, rr *recordReader, rec record, at int64) error) error {
	return loadSectionsAt(t, raw, false, func(_ int, m map[MK]E, rr *recordReader, rec record, at int64) error {
		return put(m, rr, rec, at)
	})
}

// loadEntries is loadSections for a table whose map holds one entry per
// record, so that each key group's map is made with room for all of them.
func loadEntries[MK comparable, E any](t *keyed[MK, E], raw *rawTable, put func(m map[MK]E, rr *recordReader, rec record, at int64) error) error {
	return loadSectionsAt(t, raw, true, func(_ int, m map[MK]E, rr *recordReader, rec record, at int64) error {
		return put(m, rr, rec, at)
	})
}

// loadSectionsAt is loadSections telling put the offset of the key group
// being filled. Key groups are independent — each has its own map, and put
// touches only what belongs to the key group at offset i — so they are
// decoded in parallel, on up to Config.RestoreWorkers goroutines; the
// error is the one of the lowest key group, as in a sequential load.
func loadSectionsAt[MK comparable, E any](t *keyed[MK, E], raw *rawTable, presize bool, put func(i int, m map[MK]E, rr *recordReader, rec record, at int64) error) error {
	now := t.nowIfTTL()
	for _, s := range raw.sections {
		if i := s.kg - t.start; uint(i) >= uint(len(t.groups)) {
			// Restore keeps only the backend's key groups.
			return fmt.Errorf("state: table %q: restored key group %d outside the backend's range %s", t.name, s.kg, t.b.cfg.KeyGroups)
		}
	}
	return parallel(t.b.cfg.restoreWorkers(), len(raw.sections), func(j int) error {
		s := raw.sections[j]
		i := s.kg - t.start
		if g := &t.groups[i]; presize && g.m == nil {
			g.m, g.epoch = make(map[MK]E, s.count), t.b.epoch
		}
		m := t.own(i)
		rr := &recordReader{t: raw, s: s}
		for range s.count {
			rec, err := rr.record()
			if err != nil {
				return err
			}
			at := rec.at
			switch {
			case t.ttl == 0:
				at = 0
			case raw.ttl == 0:
				// The table had no TTL when it was written: its entries
				// count as written now.
				at = now
			case t.expired(at, now):
				continue
			}
			if err := put(i, m, rr, rec, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// decodeKey decodes the key and namespace of a restored entry.
func decodeKey[K, N comparable](rr *recordReader, rec record, kc codec.Codec[K], nc codec.Codec[N]) (ck[K, N], error) {
	k, err := decodeField(rr, rec, "key", kc, rec.key)
	if err != nil {
		return ck[K, N]{}, err
	}
	n, err := decodeField(rr, rec, "namespace", nc, rec.ns)
	if err != nil {
		return ck[K, N]{}, err
	}
	return ck[K, N]{n, k}, nil
}

// decodeEntry decodes the key, namespace and value of a value table's
// record.
func decodeEntry[K, N comparable, V any](rr *recordReader, rec record, d TableDesc[K, N, V]) (ck[K, N], V, error) {
	key, err := decodeKey(rr, rec, d.Key, d.Namespace)
	if err != nil {
		var zero V
		return key, zero, err
	}
	v, err := decodeField(rr, rec, "value", d.Value, rec.value)
	return key, v, err
}

// encoder turns frozen keyed entries into section records.
type encoder[K, N comparable] struct {
	kc     codec.Codec[K]
	nc     codec.Codec[N]
	prefix []byte
}

// setKey encodes the key part every record of (k, n) starts with.
func (e *encoder[K, N]) setKey(s *sectionBuf, k K, n N) {
	s.tmp = e.kc.Append(s.tmp[:0], k)
	e.prefix = binary.AppendUvarint(e.prefix[:0], uint64(len(s.tmp)))
	e.prefix = append(e.prefix, s.tmp...)
	s.tmp = e.nc.Append(s.tmp[:0], n)
	e.prefix = binary.AppendUvarint(e.prefix, uint64(len(s.tmp)))
	e.prefix = append(e.prefix, s.tmp...)
}

// writeKeyed writes the sections of a frozen keyed table; entry appends the
// records of one map entry to the section buffer.
func writeKeyed[MK comparable, E any](w *snapWriter, start int, ttl int64, gs []map[MK]E, entry func(s *sectionBuf, key MK, e E)) error {
	n := 0
	for _, m := range gs {
		if len(m) > 0 {
			n++
		}
	}
	w.keyedHeader(time.Duration(ttl), n)
	for i, m := range gs {
		if len(m) == 0 {
			w.passed(i)
			continue
		}
		w.sec.reset()
		for key, e := range m {
			entry(&w.sec, key, e)
		}
		// The section is in w.sec: m and what its entries refer to are
		// not read again.
		w.passed(i)
		if err := w.section(start + i); err != nil {
			return err
		}
	}
	return w.err
}

// --- value tables ---

// Value tables come in three types so that the common cases pay only for
// what they use: without a TTL, entries are bare values (a last-write time
// makes map slots larger, and with them the cache misses that dominate
// large state), and with a struct{} namespace as well, maps are keyed by
// the key alone (memUnitValue).

// memValue is a value table without TTL.
type memValue[K, N comparable, V any] struct {
	keyed[ck[K, N], V]
	d TableDesc[K, N, V]
}

// Get is the hot path: one bounds check and one map lookup.
func (t *memValue[K, N, V]) Get(kg int, k K, n N) (V, bool, error) {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		var zero V
		return zero, false, t.kgError(kg)
	}
	g := &t.groups[i]
	if g.ov != nil {
		v, ok := g.getOverlay(ck[K, N]{n, k})
		return v, ok, nil
	}
	v, ok := g.m[ck[K, N]{n, k}]
	return v, ok, nil
}

func (t *memValue[K, N, V]) Put(kg int, k K, n N, v V) error {
	_, m, err := t.writable(kg)
	if err != nil {
		return err
	}
	m[ck[K, N]{n, k}] = v
	return nil
}

func (t *memValue[K, N, V]) Delete(kg int, k K, n N) error { return t.delete(kg, ck[K, N]{n, k}) }

func (t *memValue[K, N, V]) Keys(n N) iter.Seq[K] {
	return keysOf(&t.keyed, n, splitCK[K, N], func(V, int64) bool { return true })
}

func (t *memValue[K, N, V]) Len() int { return t.size() }

func (t *memValue[K, N, V]) expireGroup(int, int64, int) (int, int, bool) { return 0, 0, true }

func (t *memValue[K, N, V]) load(raw *rawTable) error {
	return loadEntries(&t.keyed, raw, func(m map[ck[K, N]]V, rr *recordReader, rec record, _ int64) error {
		key, v, err := decodeEntry(rr, rec, t.d)
		if err != nil {
			return err
		}
		m[key] = v
		return nil
	})
}

func (t *memValue[K, N, V]) freeze() frozenTable {
	return &frozenValue[ck[K, N], K, N, V, V]{d: t.d, start: t.start, groups: t.frozenGroups(),
		split: splitCK[K, N], entry: func(v V) (V, int64) { return v, 0 }}
}

// memValueTTL is a value table with a TTL.
type memValueTTL[K, N comparable, V any] struct {
	keyed[ck[K, N], stamped[V]]
	d TableDesc[K, N, V]
}

// Get reads the clock as well, and removes the entry if it expired.
func (t *memValueTTL[K, N, V]) Get(kg int, k K, n N) (V, bool, error) {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		var zero V
		return zero, false, t.kgError(kg)
	}
	g := &t.groups[i]
	e, ok := g.m[ck[K, N]{n, k}]
	if g.ov != nil {
		e, ok = g.getOverlay(ck[K, N]{n, k})
	}
	if ok && t.expired(e.at, t.b.now()) {
		t.dropExpired(i, ck[K, N]{n, k})
		ok = false
	}
	if !ok {
		var zero V
		return zero, false, nil
	}
	return e.v, true, nil
}

func (t *memValueTTL[K, N, V]) Put(kg int, k K, n N, v V) error {
	_, m, err := t.writable(kg)
	if err != nil {
		return err
	}
	m[ck[K, N]{n, k}] = stamped[V]{v, t.b.now()}
	return nil
}

func (t *memValueTTL[K, N, V]) Delete(kg int, k K, n N) error { return t.delete(kg, ck[K, N]{n, k}) }

func (t *memValueTTL[K, N, V]) Keys(n N) iter.Seq[K] {
	return keysOf(&t.keyed, n, splitCK[K, N], func(e stamped[V], now int64) bool { return !t.expired(e.at, now) })
}

func (t *memValueTTL[K, N, V]) Len() int {
	n := 0
	now := t.b.now()
	for i := range t.groups {
		t.groups[i].each(func(_ ck[K, N], e stamped[V]) bool {
			if !t.expired(e.at, now) {
				n++
			}
			return true
		})
	}
	return n
}

func (t *memValueTTL[K, N, V]) expireGroup(i int, now int64, budget int) (int, int, bool) {
	return expireFlat(&t.keyed, i, now, budget, func(e stamped[V]) int64 { return e.at })
}

func (t *memValueTTL[K, N, V]) load(raw *rawTable) error {
	return loadEntries(&t.keyed, raw, func(m map[ck[K, N]]stamped[V], rr *recordReader, rec record, at int64) error {
		key, v, err := decodeEntry(rr, rec, t.d)
		if err != nil {
			return err
		}
		m[key] = stamped[V]{v, at}
		return nil
	})
}

func (t *memValueTTL[K, N, V]) freeze() frozenTable {
	return &frozenValue[ck[K, N], K, N, V, stamped[V]]{d: t.d, start: t.start, ttl: t.ttl, groups: t.frozenGroups(),
		split: splitCK[K, N], entry: func(e stamped[V]) (V, int64) { return e.v, e.at }}
}

// frozenValue is a value table in a snapshot; split takes its map keys
// apart and entry its map values, with or without a last-write time.
type frozenValue[MK, K, N comparable, V, E any] struct {
	d      TableDesc[K, N, V]
	start  int
	ttl    int64
	groups []map[MK]E
	split  func(MK) (K, N)
	entry  func(E) (V, int64)
}

func (f *frozenValue[MK, K, N, V, E]) header() tableHeader {
	return tableHeader{name: f.d.Name, kind: kindValue, ttl: time.Duration(f.ttl), layout: keyedLayout(f.d)}
}

func (f *frozenValue[MK, K, N, V, E]) writeBody(w *snapWriter, now int64) error {
	return writeKeyed(w, f.start, f.ttl, f.groups, func(s *sectionBuf, key MK, e E) {
		v, at := f.entry(e)
		if f.ttl > 0 && now-at >= f.ttl {
			return
		}
		k, n := f.split(key)
		s.beginEntry()
		encodeField(s, f.d.Key, k)
		encodeField(s, f.d.Namespace, n)
		s.keyDone()
		encodeField(s, f.d.Value, v)
		if f.ttl > 0 {
			s.stamp(at)
		}
		s.end()
	})
}

// memUnitValue is a value table without TTL whose namespace type is
// struct{}, the common case of per-key state outside windows. Its maps are
// keyed by K alone, which Go hashes and compares faster than a struct
// (with string keys, through the runtime's string fast paths).
type memUnitValue[K comparable, V any] struct {
	keyed[K, V]
	d TableDesc[K, struct{}, V]
}

func unitKey[K comparable](k K) (K, struct{}) { return k, struct{}{} }

func (t *memUnitValue[K, V]) Get(kg int, k K, _ struct{}) (V, bool, error) {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		var zero V
		return zero, false, t.kgError(kg)
	}
	g := &t.groups[i]
	if g.ov != nil {
		v, ok := g.getOverlay(k)
		return v, ok, nil
	}
	v, ok := g.m[k]
	return v, ok, nil
}

func (t *memUnitValue[K, V]) Put(kg int, k K, _ struct{}, v V) error {
	_, m, err := t.writable(kg)
	if err != nil {
		return err
	}
	m[k] = v
	return nil
}

func (t *memUnitValue[K, V]) Delete(kg int, k K, _ struct{}) error { return t.delete(kg, k) }

func (t *memUnitValue[K, V]) Keys(n struct{}) iter.Seq[K] {
	return keysOf(&t.keyed, n, unitKey[K], func(V, int64) bool { return true })
}

func (t *memUnitValue[K, V]) Len() int { return t.size() }

func (t *memUnitValue[K, V]) expireGroup(int, int64, int) (int, int, bool) { return 0, 0, true }

func (t *memUnitValue[K, V]) load(raw *rawTable) error {
	return loadEntries(&t.keyed, raw, func(m map[K]V, rr *recordReader, rec record, _ int64) error {
		key, v, err := decodeEntry(rr, rec, t.d)
		if err != nil {
			return err
		}
		m[key.k] = v
		return nil
	})
}

func (t *memUnitValue[K, V]) freeze() frozenTable {
	return &frozenValue[K, K, struct{}, V, V]{d: t.d, start: t.start, groups: t.frozenGroups(),
		split: unitKey[K], entry: func(v V) (V, int64) { return v, 0 }}
}

// --- list tables ---

type memList[K, N comparable, V any] struct {
	keyed[ck[K, N], stamped[[]V]]
	d TableDesc[K, N, V]
}

// Get returns the list with its capacity clipped, so that a caller that
// appends to it despite the contract gets a copy instead of writing into
// the backing array that Add and snapshots share.
func (t *memList[K, N, V]) Get(kg int, k K, n N) ([]V, error) {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return nil, t.kgError(kg)
	}
	g := &t.groups[i]
	e, ok := g.m[ck[K, N]{n, k}]
	if g.ov != nil {
		e, ok = g.getOverlay(ck[K, N]{n, k})
	}
	if !ok {
		return nil, nil
	}
	if t.ttl > 0 && t.expired(e.at, t.b.now()) {
		t.dropExpired(i, ck[K, N]{n, k})
		return nil, nil
	}
	return e.v[:len(e.v):len(e.v)], nil
}

// Add appends in place when the slice has room: the elements a snapshot
// may hold, those below the length it captured, are not touched.
func (t *memList[K, N, V]) Add(kg int, k K, n N, v V) error {
	_, err := t.Append(kg, k, n, v)
	return err
}

// Append is Add, returning the list's new length.
func (t *memList[K, N, V]) Append(kg int, k K, n N, v V) (int, error) {
	i, m, err := t.writable(kg)
	if err != nil {
		return 0, err
	}
	key := ck[K, N]{n, k}
	g := &t.groups[i]
	e := g.m[key]
	if g.ov != nil {
		e, _ = g.getOverlay(key)
	}
	at := t.stamp()
	if t.ttl > 0 && len(e.v) > 0 && t.expired(e.at, at) {
		e.v = nil
	}
	e.v = append(e.v, v)
	e.at = at
	m[key] = e
	return len(e.v), nil
}

// Update copies vs, so the caller may reuse it; an empty list deletes the
// entry.
func (t *memList[K, N, V]) Update(kg int, k K, n N, vs []V) error {
	if len(vs) == 0 {
		return t.delete(kg, ck[K, N]{n, k})
	}
	_, m, err := t.writable(kg)
	if err != nil {
		return err
	}
	m[ck[K, N]{n, k}] = stamped[[]V]{slices.Clone(vs), t.stamp()}
	return nil
}

func (t *memList[K, N, V]) Delete(kg int, k K, n N) error { return t.delete(kg, ck[K, N]{n, k}) }

func (t *memList[K, N, V]) Keys(n N) iter.Seq[K] {
	return keysOf(&t.keyed, n, splitCK[K, N], func(e stamped[[]V], now int64) bool { return !t.expired(e.at, now) })
}

// Len counts the (key, namespace) pairs with a live list.
func (t *memList[K, N, V]) Len() int {
	n := 0
	now := t.nowIfTTL()
	for i := range t.groups {
		if t.ttl == 0 {
			n += t.groups[i].count()
			continue
		}
		t.groups[i].each(func(_ ck[K, N], e stamped[[]V]) bool {
			if !t.expired(e.at, now) {
				n++
			}
			return true
		})
	}
	return n
}

func (t *memList[K, N, V]) expireGroup(i int, now int64, budget int) (int, int, bool) {
	return expireFlat(&t.keyed, i, now, budget, func(e stamped[[]V]) int64 { return e.at })
}

func (t *memList[K, N, V]) load(raw *rawTable) error {
	return loadEntries(&t.keyed, raw, func(m map[ck[K, N]]stamped[[]V], rr *recordReader, rec record, at int64) error {
		key, err := decodeKey(rr, rec, t.d.Key, t.d.Namespace)
		if err != nil {
			return err
		}
		vs, err := decodeList(rr, rec, t.d.Value)
		if err != nil {
			return err
		}
		if len(vs) > 0 {
			m[key] = stamped[[]V]{vs, at}
		}
		return nil
	})
}

// decodeList decodes a list value: an element count, then each element
// length-prefixed.
func decodeList[V any](rr *recordReader, rec record, c codec.Codec[V]) ([]V, error) {
	b := rec.value
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return nil, rr.fail(rec.off, "list element count: malformed")
	}
	b = b[k:]
	vs := make([]V, 0, count)
	for j := range count {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, rr.fail(rec.off, "list element %d: malformed length", j)
		}
		v, err := decodeField(rr, rec, fmt.Sprintf("list element %d", j), c, b[k:k+int(n)])
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
		b = b[k+int(n):]
	}
	if len(b) != 0 {
		return nil, rr.fail(rec.off, "%d bytes after the last list element", len(b))
	}
	return vs, nil
}

func (t *memList[K, N, V]) freeze() frozenTable {
	return &frozenList[K, N, V]{d: t.d, start: t.start, ttl: t.ttl, groups: t.frozenGroups()}
}

type frozenList[K, N comparable, V any] struct {
	d      TableDesc[K, N, V]
	start  int
	ttl    int64
	groups []map[ck[K, N]]stamped[[]V]
}

func (f *frozenList[K, N, V]) header() tableHeader {
	return tableHeader{name: f.d.Name, kind: kindList, ttl: time.Duration(f.ttl), layout: keyedLayout(f.d)}
}

func (f *frozenList[K, N, V]) writeBody(w *snapWriter, now int64) error {
	var val, elem []byte
	return writeKeyed(w, f.start, f.ttl, f.groups, func(s *sectionBuf, key ck[K, N], e stamped[[]V]) {
		if f.ttl > 0 && now-e.at >= f.ttl {
			return
		}
		s.beginEntry()
		encodeField(s, f.d.Key, key.k)
		encodeField(s, f.d.Namespace, key.n)
		s.keyDone()
		val = binary.AppendUvarint(val[:0], uint64(len(e.v)))
		for _, v := range e.v {
			elem = f.d.Value.Append(elem[:0], v)
			val = binary.AppendUvarint(val, uint64(len(elem)))
			val = append(val, elem...)
		}
		s.field(val)
		if f.ttl > 0 {
			s.stamp(e.at)
		}
		s.end()
	})
}

// --- map tables ---

// nested is the user-key map of one (key, namespace) of a map table, with
// the epoch it was last written in place in: like key-group maps, a nested
// map that a snapshot may read is copied before it is written.
type nested[UK comparable, UV any] struct {
	epoch uint64
	m     map[UK]stamped[UV]
}

type memMap[K, N, UK comparable, UV any] struct {
	keyed[ck[K, N], nested[UK, UV]]
	d MapDesc[K, N, UK, UV]
}

// ownNested makes the user-key map of key, in the key group at offset i,
// writable in the current epoch; m is what writableAt returned for the key
// group.
func (t *memMap[K, N, UK, UV]) ownNested(i int, m map[ck[K, N]]nested[UK, UV], key ck[K, N]) map[UK]stamped[UV] {
	g := &t.groups[i]
	e := g.m[key]
	if g.ov != nil {
		e, _ = g.getOverlay(key)
	}
	if e.epoch != t.b.epoch {
		switch {
		case e.m == nil:
			e.m = make(map[UK]stamped[UV])
		case t.holds(e.epoch, i):
			e.m = maps.Clone(e.m)
		}
		e.epoch = t.b.epoch
		m[key] = e
	}
	return e.m
}

// removeUser deletes one user key, and the (key, namespace) with it when it
// was the last.
func (t *memMap[K, N, UK, UV]) removeUser(i int, key ck[K, N], uk UK) {
	um := t.ownNested(i, t.writableAt(i), key)
	delete(um, uk)
	if len(um) == 0 {
		t.remove(i, key)
	}
}

func (t *memMap[K, N, UK, UV]) Get(kg int, k K, n N, uk UK) (UV, bool, error) {
	var zero UV
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return zero, false, t.kgError(kg)
	}
	key := ck[K, N]{n, k}
	g := &t.groups[i]
	e := g.m[key]
	if g.ov != nil {
		e, _ = g.getOverlay(key)
	}
	u, ok := e.m[uk]
	if !ok {
		return zero, false, nil
	}
	if t.ttl > 0 && t.expired(u.at, t.b.now()) {
		// Removed here only when that writes nothing a snapshot holds;
		// otherwise by the expiry sweep.
		if t.groups[i].epoch == t.b.epoch && t.ownedInPlace(e.epoch, i) {
			t.removeUser(i, key, uk)
		}
		return zero, false, nil
	}
	return u.v, true, nil
}

func (t *memMap[K, N, UK, UV]) Put(kg int, k K, n N, uk UK, v UV) error {
	i, m, err := t.writable(kg)
	if err != nil {
		return err
	}
	t.ownNested(i, m, ck[K, N]{n, k})[uk] = stamped[UV]{v, t.stamp()}
	return nil
}

func (t *memMap[K, N, UK, UV]) Delete(kg int, k K, n N, uk UK) error {
	i := kg - t.start
	if uint(i) >= uint(len(t.groups)) {
		return t.kgError(kg)
	}
	key := ck[K, N]{n, k}
	g := &t.groups[i]
	e := g.m[key]
	if g.ov != nil {
		e, _ = g.getOverlay(key)
	}
	if _, ok := e.m[uk]; ok {
		t.removeUser(i, key, uk)
	}
	return nil
}

// Clear drops the reference to the user-key map; it needs no copy, as the
// map itself is not written.
func (t *memMap[K, N, UK, UV]) Clear(kg int, k K, n N) error { return t.delete(kg, ck[K, N]{n, k}) }

// All yields nothing for a key group outside the backend's range, as it has
// no way to report the error.
func (t *memMap[K, N, UK, UV]) All(kg int, k K, n N) iter.Seq2[UK, UV] {
	return func(yield func(UK, UV) bool) {
		i := kg - t.start
		if uint(i) >= uint(len(t.groups)) {
			return
		}
		now := t.nowIfTTL()
		g := &t.groups[i]
		e := g.m[ck[K, N]{n, k}]
		if g.ov != nil {
			e, _ = g.getOverlay(ck[K, N]{n, k})
		}
		for uk, u := range e.m {
			if !t.expired(u.at, now) && !yield(uk, u.v) {
				return
			}
		}
	}
}

func (t *memMap[K, N, UK, UV]) Keys(n N) iter.Seq[K] {
	return keysOf(&t.keyed, n, splitCK[K, N], func(e nested[UK, UV], now int64) bool {
		if t.ttl == 0 {
			return len(e.m) > 0
		}
		for _, u := range e.m {
			if !t.expired(u.at, now) {
				return true
			}
		}
		return false
	})
}

// Len counts live user-key entries, the unit TTL applies to.
func (t *memMap[K, N, UK, UV]) Len() int {
	n := 0
	now := t.nowIfTTL()
	for i := range t.groups {
		t.groups[i].each(func(_ ck[K, N], e nested[UK, UV]) bool {
			if t.ttl == 0 {
				n += len(e.m)
				return true
			}
			for _, u := range e.m {
				if !t.expired(u.at, now) {
					n++
				}
			}
			return true
		})
	}
	return n
}

func (t *memMap[K, N, UK, UV]) expireGroup(i int, now int64, budget int) (removed, examined int, done bool) {
	t.sweeping = true
	defer func() { t.sweeping = false }()
	done = t.groups[i].each(func(key ck[K, N], e nested[UK, UV]) bool {
		for uk, u := range e.m {
			examined++
			if !t.expired(u.at, now) {
				continue
			}
			if removed == budget {
				return false
			}
			// The user-key map being ranged over stays as it was if this
			// copies it, and deleting from it in place is allowed if not.
			t.removeUser(i, key, uk)
			removed++
		}
		return true
	})
	return removed, examined, done
}

func (t *memMap[K, N, UK, UV]) load(raw *rawTable) error {
	return loadSectionsAt(&t.keyed, raw, false, func(i int, m map[ck[K, N]]nested[UK, UV], rr *recordReader, rec record, at int64) error {
		key, err := decodeKey(rr, rec, t.d.Key, t.d.Namespace)
		if err != nil {
			return err
		}
		uk, err := decodeField(rr, rec, "user key", t.d.UserKey, rec.uk)
		if err != nil {
			return err
		}
		v, err := decodeField(rr, rec, "value", t.d.Value, rec.value)
		if err != nil {
			return err
		}
		t.ownNested(i, m, key)[uk] = stamped[UV]{v, at}
		return nil
	})
}

func (t *memMap[K, N, UK, UV]) freeze() frozenTable {
	return &frozenMap[K, N, UK, UV]{d: t.d, start: t.start, ttl: t.ttl, groups: t.frozenGroups()}
}

type frozenMap[K, N, UK comparable, UV any] struct {
	d      MapDesc[K, N, UK, UV]
	start  int
	ttl    int64
	groups []map[ck[K, N]]nested[UK, UV]
}

func (f *frozenMap[K, N, UK, UV]) header() tableHeader {
	return tableHeader{name: f.d.Name, kind: kindMap, ttl: time.Duration(f.ttl), layout: mapLayout(f.d)}
}

func (f *frozenMap[K, N, UK, UV]) writeBody(w *snapWriter, now int64) error {
	enc := encoder[K, N]{kc: f.d.Key, nc: f.d.Namespace}
	return writeKeyed(w, f.start, f.ttl, f.groups, func(s *sectionBuf, key ck[K, N], e nested[UK, UV]) {
		enc.setKey(s, key.k, key.n)
		for uk, u := range e.m {
			if f.ttl > 0 && now-u.at >= f.ttl {
				continue
			}
			s.begin(enc.prefix)
			encodeField(s, f.d.UserKey, uk)
			s.keyDone()
			encodeField(s, f.d.Value, u.v)
			if f.ttl > 0 {
				s.stamp(u.at)
			}
			s.end()
		}
	})
}

// --- operator lists ---

type memOperatorList[T any] struct {
	b    *Memory
	name string
	mode Redistribution
	c    codec.Codec[T]
	// vs is never written in place, so a snapshot may hold it.
	vs []T
}

func (l *memOperatorList[T]) Get() ([]T, error) {
	if l.b.closed {
		return nil, ErrClosed
	}
	return l.vs[:len(l.vs):len(l.vs)], nil
}

func (l *memOperatorList[T]) Update(vs []T) error {
	if l.b.closed {
		return ErrClosed
	}
	l.vs = slices.Clip(slices.Clone(vs))
	return nil
}

func (l *memOperatorList[T]) load(raw *rawTable) error {
	vs := make([]T, 0, len(raw.entries))
	for j, e := range raw.entries {
		v, n, err := l.c.Decode(e)
		if err == nil && n != len(e) {
			err = fmt.Errorf("codec used %d of its %d bytes", n, len(e))
		}
		if err != nil {
			return fmt.Errorf("state: operator list %q: entry %d: %w", l.name, j, err)
		}
		vs = append(vs, v)
	}
	l.vs = vs
	return nil
}

func (l *memOperatorList[T]) freeze() frozenTable {
	return &frozenOperatorList[T]{name: l.name, mode: l.mode, c: l.c, vs: l.vs}
}

func (l *memOperatorList[T]) expireGroup(int, int64, int) (int, int, bool) { return 0, 0, true }

func (l *memOperatorList[T]) release() { l.vs = nil }

type frozenOperatorList[T any] struct {
	name string
	mode Redistribution
	c    codec.Codec[T]
	vs   []T
}

func (f *frozenOperatorList[T]) header() tableHeader {
	return tableHeader{name: f.name, kind: kindOperatorList, mode: f.mode, layout: listLayout(f.c)}
}

func (f *frozenOperatorList[T]) writeBody(w *snapWriter, _ int64) error {
	w.raw([]byte{byte(f.mode)})
	w.uvarint(uint64(len(f.vs)))
	var buf []byte
	for _, v := range f.vs {
		buf = f.c.Append(buf[:0], v)
		w.bytes(buf)
	}
	return w.err
}
