package state

import (
	"fmt"
	"iter"
	"slices"
	"unsafe"
)

// A value or list table over a Store may keep its recently used entries
// decoded in front of the Store (StoreBackend.SetValueCache): a Get of an
// entry read or written lately is one Go map lookup instead of a Store read
// and a decode, and a Put or an Add only marks the entry to be written. The entries the
// Store does not have yet (dirty ones) are written back when the cache is
// full, before a snapshot and before the table is scanned (Keys, Len), so
// the Store holds every write by the time anything reads it directly.
//
// Values are kept as they are given and returned as they are kept, as the
// memory backend does: the table interfaces already forbid changing a
// value in place after Put or Get.
//
// The cache is bounded by an estimate of the memory its entries take: the
// map's slots plus twice the mean encoded size of the values it has seen
// (a decoded value with strings or pointers takes more than its encoding).
// When it is full, it writes back its dirty entries and drops half of its
// entries, chosen by the map's iteration order, which is random.

// cacheKey is an entry's place in a value table.
type cacheKey[K, N comparable] struct {
	kg int
	k  K
	n  N
}

// cacheEntry is a cached entry: a value, or the knowledge that there is
// none.
type cacheEntry[V any] struct {
	v V
	// present says the key has a value (v); an absent entry records a
	// key the Store does not have, or a Delete not yet written.
	present bool
	// dirty says the Store does not hold the entry as it is here.
	dirty bool
	// stored says the Store may hold a value for the key: a Delete of an
	// entry the Store never had writes nothing.
	stored bool
}

// minCacheEntries is the fewest entries a cache holds however small its
// budget, so that it keeps the key being worked on.
const minCacheEntries = 64

// defaultEncodedSize is the size the cache assumes for a value before it
// has seen one encoded.
const defaultEncodedSize = 64

// cachedValue is a value table with a cache of decoded entries in front of
// the Store.
type cachedValue[K, N comparable, V any] struct {
	*storeValue[K, N, V]
	m map[cacheKey[K, N]]cacheEntry[V]
	// max is the number of entries at which the cache evicts, computed
	// from its budget at each eviction.
	max int
	// encBytes and encCount sum the encoded sizes of the values read from
	// and written to the Store, for the estimate of an entry's memory.
	encBytes, encCount int64
}

func newCachedValue[K, N comparable, V any](a *storeValue[K, N, V]) *cachedValue[K, N, V] {
	c := &cachedValue[K, N, V]{storeValue: a, m: make(map[cacheKey[K, N]]cacheEntry[V])}
	a.t.b.cache.tables++
	a.t.writeBack = c.writeBack
	c.max = c.capacity()
	return c
}

// capacity is how many entries the table's share of the backend's cache
// budget holds, by the current estimate of an entry's size.
func (c *cachedValue[K, N, V]) capacity() int {
	b := c.t.b
	share := b.cache.bytes / int64(max(b.cache.tables, 1))
	enc := int64(defaultEncodedSize)
	if c.encCount > 0 {
		enc = c.encBytes / c.encCount
	}
	// A map slot holds the key and the entry; a map is between half and
	// seven eighths full, so count two slots per entry.
	var slot struct {
		k cacheKey[K, N]
		e cacheEntry[V]
	}
	per := 2*int64(unsafe.Sizeof(slot)+1) + 2*enc
	return int(max(share/per, minCacheEntries))
}

func (c *cachedValue[K, N, V]) sample(n int) {
	c.encBytes += int64(n)
	c.encCount++
	if c.encCount == 1<<20 { // keep the mean following the values
		c.encBytes, c.encCount = c.encBytes/2, c.encCount/2
	}
}

// insert adds or replaces an entry, evicting first if the cache is full.
func (c *cachedValue[K, N, V]) insert(ck cacheKey[K, N], e cacheEntry[V]) error {
	if _, ok := c.m[ck]; !ok && len(c.m) >= c.max {
		if err := c.evict(); err != nil {
			return err
		}
	}
	c.m[ck] = e
	return nil
}

// evict writes back the dirty entries and drops entries until half the
// capacity is left.
func (c *cachedValue[K, N, V]) evict() error {
	if err := c.writeBack(); err != nil {
		return err
	}
	c.max = c.capacity()
	keep := c.max / 2
	for ck := range c.m {
		if len(c.m) <= keep {
			break
		}
		delete(c.m, ck)
	}
	return nil
}

// writeBack writes the dirty entries into the Store; they stay cached.
func (c *cachedValue[K, N, V]) writeBack() error {
	for ck, e := range c.m {
		if !e.dirty {
			continue
		}
		var err error
		switch {
		case e.present:
			err = c.put(ck.kg, ck.k, ck.n, e.v)
			c.sample(len(c.val))
		case e.stored:
			err = c.delete(ck.kg, c.entryKey(ck.kg, ck.k, ck.n))
		}
		if err != nil {
			return err
		}
		e.dirty, e.stored = false, e.present
		c.m[ck] = e
	}
	return nil
}

func (c *cachedValue[K, N, V]) Get(kg int, k K, n N) (V, bool, error) {
	var zero V
	if err := c.t.enter(kg); err != nil {
		return zero, false, err
	}
	ck := cacheKey[K, N]{kg: kg, k: k, n: n}
	if e, ok := c.m[ck]; ok {
		return e.v, e.present, nil
	}
	enc, ok, err := c.fields.get(kg, c.entryKey(kg, k, n))
	if err != nil {
		return zero, false, err
	}
	v := zero
	if ok {
		if v, err = c.decodeValue(kg, enc); err != nil {
			return zero, false, err
		}
		c.sample(len(enc))
	}
	if err := c.insert(ck, cacheEntry[V]{v: v, present: ok, stored: ok}); err != nil {
		return zero, false, err
	}
	return v, ok, nil
}

// write caches a Put (present) or a Delete (not present) to be written
// back later.
func (c *cachedValue[K, N, V]) write(kg int, k K, n N, v V, present bool) error {
	if err := c.t.enter(kg); err != nil {
		return err
	}
	ck := cacheKey[K, N]{kg: kg, k: k, n: n}
	old, had := c.m[ck]
	// Without a cached entry the Store may hold one.
	stored := !had || old.stored
	return c.insert(ck, cacheEntry[V]{v: v, present: present, dirty: present || stored, stored: stored})
}

func (c *cachedValue[K, N, V]) Put(kg int, k K, n N, v V) error { return c.write(kg, k, n, v, true) }

func (c *cachedValue[K, N, V]) Delete(kg int, k K, n N) error {
	var zero V
	return c.write(kg, k, n, zero, false)
}

// Keys writes back the dirty entries and yields the keys of namespace n
// from the Store. The table is not written during the iteration, so the
// Store is all there is to read.
func (c *cachedValue[K, N, V]) Keys(n N) iter.Seq[K] {
	return func(yield func(K) bool) {
		if err := c.writeBack(); err != nil {
			c.t.b.fail(fmt.Errorf("state: table %q: write back cached entries: %w", c.t.meta.name, err))
			return
		}
		for k := range c.storeValue.Keys(n) {
			if !yield(k) {
				return
			}
		}
	}
}

func (c *cachedValue[K, N, V]) Len() int {
	if err := c.writeBack(); err != nil {
		c.t.b.fail(fmt.Errorf("state: table %q: write back cached entries: %w", c.t.meta.name, err))
		return 0
	}
	return c.storeValue.Len()
}

// cachedList is a list table with a cache of decoded lists in front of the
// Store. A list that was only appended to since the Store last had it is
// written back as its new elements and its head; one replaced by Update
// is written whole. A list read, appended to and deleted between two
// write-backs (a join's pending side) never reaches the Store.
type cachedList[K, N comparable, V any] struct {
	*storeList[K, N, V]
	m map[cacheKey[K, N]]listEntry[V]
	// elems counts the elements of the cached lists, for the estimate of
	// the cache's memory.
	elems int64
	// encBytes and encCount sum the encoded sizes of the elements written
	// to the Store.
	encBytes, encCount int64
}

// listEntry is a cached list.
type listEntry[V any] struct {
	vs []V
	// stored is the Store's element count when known is set.
	stored uint64
	known  bool
	// appended says vs[:stored] is what the Store holds: only elements
	// after it were added.
	appended bool
	dirty    bool
}

func newCachedList[K, N comparable, V any](a *storeList[K, N, V]) *cachedList[K, N, V] {
	c := &cachedList[K, N, V]{storeList: a, m: make(map[cacheKey[K, N]]listEntry[V])}
	a.t.b.cache.tables++
	a.t.writeBack = c.writeBack
	return c
}

// size is the estimated memory of the cache's entries.
func (c *cachedList[K, N, V]) size() int64 {
	enc := int64(defaultEncodedSize)
	if c.encCount > 0 {
		enc = c.encBytes / c.encCount
	}
	var slot struct {
		k cacheKey[K, N]
		e listEntry[V]
	}
	var v V
	return int64(len(c.m))*2*int64(unsafe.Sizeof(slot)+1) + c.elems*(int64(unsafe.Sizeof(v))+2*enc)
}

func (c *cachedList[K, N, V]) full() bool {
	b := c.t.b
	share := b.cache.bytes / int64(max(b.cache.tables, 1))
	return len(c.m) >= minCacheEntries && c.size() > share
}

// put adds or replaces an entry, evicting first if the cache is full.
func (c *cachedList[K, N, V]) put(ck cacheKey[K, N], e listEntry[V]) error {
	old, had := c.m[ck]
	if !had && c.full() {
		if err := c.evict(); err != nil {
			return err
		}
	}
	if had {
		c.elems -= int64(len(old.vs))
	}
	c.elems += int64(len(e.vs))
	c.m[ck] = e
	return nil
}

func (c *cachedList[K, N, V]) evict() error {
	if err := c.writeBack(); err != nil {
		return err
	}
	keep := len(c.m) / 2
	for ck, e := range c.m {
		if len(c.m) <= keep {
			break
		}
		c.elems -= int64(len(e.vs))
		delete(c.m, ck)
	}
	return nil
}

// writeBack writes the dirty lists into the Store; they stay cached.
func (c *cachedList[K, N, V]) writeBack() error {
	for ck, e := range c.m {
		if !e.dirty {
			continue
		}
		if e.appended && e.known {
			key := c.entryKey(ck.kg, ck.k, ck.n)
			n := uint64(len(e.vs))
			for i := e.stored; i < n; i++ {
				if err := c.setElement(ck.kg, key, i, e.vs[i]); err != nil {
					return err
				}
				c.encBytes += int64(len(c.tmp))
				c.encCount++
			}
			if err := c.setHead(ck.kg, key, n); err != nil {
				return err
			}
		} else if err := c.storeList.Update(ck.kg, ck.k, ck.n, e.vs); err != nil {
			return err
		}
		if c.encCount >= 1<<20 {
			c.encBytes, c.encCount = c.encBytes/2, c.encCount/2
		}
		e.stored, e.known, e.appended, e.dirty = uint64(len(e.vs)), true, true, false
		c.m[ck] = e
	}
	return nil
}

// entry returns the cached list of (k, n), reading it from the Store when
// it is not cached.
func (c *cachedList[K, N, V]) entry(kg int, k K, n N) (cacheKey[K, N], listEntry[V], error) {
	ck := cacheKey[K, N]{kg: kg, k: k, n: n}
	if e, ok := c.m[ck]; ok {
		return ck, e, nil
	}
	vs, err := c.storeList.Get(kg, k, n)
	if err != nil {
		return ck, listEntry[V]{}, err
	}
	e := listEntry[V]{vs: vs, stored: uint64(len(vs)), known: true, appended: true}
	return ck, e, c.put(ck, e)
}

func (c *cachedList[K, N, V]) Get(kg int, k K, n N) ([]V, error) {
	if err := c.t.enter(kg); err != nil {
		return nil, err
	}
	_, e, err := c.entry(kg, k, n)
	// Clipped, so that a caller appending to it gets its own array.
	return slices.Clip(e.vs), err
}

func (c *cachedList[K, N, V]) Add(kg int, k K, n N, v V) error {
	_, err := c.Append(kg, k, n, v)
	return err
}

func (c *cachedList[K, N, V]) Append(kg int, k K, n N, v V) (int, error) {
	if err := c.t.enter(kg); err != nil {
		return 0, err
	}
	ck, e, err := c.entry(kg, k, n)
	if err != nil {
		return 0, err
	}
	e.vs = append(e.vs, v)
	e.dirty = true
	return len(e.vs), c.put(ck, e)
}

// Update caches a copy of the list.
func (c *cachedList[K, N, V]) Update(kg int, k K, n N, vs []V) error {
	if len(vs) == 0 {
		return c.Delete(kg, k, n)
	}
	if err := c.t.enter(kg); err != nil {
		return err
	}
	ck := cacheKey[K, N]{kg: kg, k: k, n: n}
	old, had := c.m[ck]
	return c.put(ck, listEntry[V]{vs: slices.Clone(vs), stored: old.stored, known: had && old.known, dirty: true})
}

func (c *cachedList[K, N, V]) Delete(kg int, k K, n N) error {
	if err := c.t.enter(kg); err != nil {
		return err
	}
	ck := cacheKey[K, N]{kg: kg, k: k, n: n}
	old, had := c.m[ck]
	known := had && old.known
	// A list the Store does not have needs no write.
	return c.put(ck, listEntry[V]{stored: old.stored, known: known, dirty: !known || old.stored > 0})
}

// Keys writes back the dirty lists and yields the keys from the Store.
func (c *cachedList[K, N, V]) Keys(n N) iter.Seq[K] {
	return func(yield func(K) bool) {
		if err := c.writeBack(); err != nil {
			c.t.b.fail(fmt.Errorf("state: table %q: write back cached entries: %w", c.t.meta.name, err))
			return
		}
		for k := range c.storeList.Keys(n) {
			if !yield(k) {
				return
			}
		}
	}
}

func (c *cachedList[K, N, V]) Len() int {
	if err := c.writeBack(); err != nil {
		c.t.b.fail(fmt.Errorf("state: table %q: write back cached entries: %w", c.t.meta.name, err))
		return 0
	}
	return c.storeList.Len()
}
