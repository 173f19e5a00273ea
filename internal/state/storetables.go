package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"

	"github.com/weirstream/weir/codec"
)

// The typed adapters below implement the table interfaces over a
// StoreBackend, encoding keys, namespaces and values with the descriptor's
// codecs. They are what any byte-level backend gets; the memory backend
// has typed tables of its own (memtables.go).

// enter checks that kg is a key group of the table and the backend is
// usable, and writes what the table held back.
func (t *storeTable) enter(kg int) error {
	switch {
	case t.b.closed:
		return ErrClosed
	case t.b.err != nil:
		return t.b.err
	case !t.meta.kgs.Contains(kg):
		return fmt.Errorf("state: table %q: key group %d outside the backend's range %s", t.meta.name, kg, t.meta.kgs)
	}
	return t.flush()
}

// usable is enter for the methods that have no key group and no error to
// return; a failure is kept for the next call that can report it.
func (t *storeTable) usable() bool {
	if t.b.closed || t.b.err != nil {
		return false
	}
	if err := t.flush(); err != nil {
		t.b.fail(err)
		return false
	}
	return true
}

func (t *storeTable) storeErr(kg int, op string, err error) error {
	return fmt.Errorf("state: table %q: key group %d: %s: %w", t.meta.name, kg, op, err)
}

// decodeAll decodes b with c, which must use all of it.
func decodeAll[T any](c codec.Codec[T], b []byte) (T, error) {
	v, n, err := c.Decode(b)
	if err == nil && n != len(b) {
		err = fmt.Errorf("codec used %d of its %d bytes", n, len(b))
	}
	return v, err
}

// fields encodes the key parts of a table's physical keys.
type fields[K, N comparable] struct {
	t   *storeTable
	kc  codec.Codec[K]
	nc  codec.Codec[N]
	key []byte // the physical key being built
	tmp []byte
	val []byte // the stored value being built
}

// nsPrefix sets f.key to the prefix of namespace n in key group kg.
func (f *fields[K, N]) nsPrefix(kg int, n N) []byte {
	f.key = groupPrefix(f.key[:0], f.t.meta.id, kg)
	f.tmp = f.nc.Append(f.tmp[:0], n)
	f.key = appendField(f.key, f.tmp)
	return f.key
}

// entryKey sets f.key to the physical key of (k, n) in key group kg.
func (f *fields[K, N]) entryKey(kg int, k K, n N) []byte {
	f.nsPrefix(kg, n)
	f.tmp = f.kc.Append(f.tmp[:0], k)
	f.key = appendField(f.key, f.tmp)
	return f.key
}

// stamp starts f.val with the last-write time when the table has a TTL.
func (f *fields[K, N]) stamp() []byte {
	f.val = f.val[:0]
	if f.t.meta.ttl > 0 {
		f.val = binary.LittleEndian.AppendUint64(f.val, uint64(f.t.b.now()))
	}
	return f.val
}

func (f *fields[K, N]) nowIfTTL() int64 {
	if f.t.meta.ttl > 0 {
		return f.t.b.now()
	}
	return 0
}

// get reads the live stored value of key, removing it if it expired.
func (f *fields[K, N]) get(kg int, key []byte) ([]byte, bool, error) {
	v, ok, err := f.t.b.store.Get(key)
	if err != nil {
		return nil, false, f.t.storeErr(kg, "get", err)
	}
	if !ok {
		return nil, false, nil
	}
	at, enc, ok := stampedValue(v, f.t.meta.ttl)
	if !ok {
		return nil, false, f.t.meta.corrupt(kg, key)
	}
	if f.t.meta.ttl > 0 && f.t.meta.expired(at, f.t.b.now()) {
		if err := f.t.b.store.Delete(key); err != nil {
			return nil, false, f.t.storeErr(kg, "delete", err)
		}
		return nil, false, nil
	}
	return enc, true, nil
}

func (f *fields[K, N]) set(kg int, key, val []byte) error {
	if err := f.t.b.store.Set(key, val); err != nil {
		return f.t.storeErr(kg, "set", err)
	}
	return nil
}

func (f *fields[K, N]) delete(kg int, key []byte) error {
	if err := f.t.b.store.Delete(key); err != nil {
		return f.t.storeErr(kg, "delete", err)
	}
	return nil
}

// scan calls fn with each live entry of namespace n in key group kg: its
// physical key, the rest of the key after the namespace, and its encoded
// value.
func (f *fields[K, N]) scan(kg int, prefix []byte, now int64, fn func(key, rest, enc []byte) bool) error {
	var bad error
	list := f.t.meta.kind == kindList
	err := f.t.b.store.Scan(prefix, func(k, v []byte) bool {
		if list && isListElement(k) {
			return true // the list's head stands for it
		}
		at, enc, ok := stampedValue(v, f.t.meta.ttl)
		if !ok {
			bad = f.t.meta.corrupt(kg, k)
			return false
		}
		if f.t.meta.expired(at, now) {
			return true
		}
		return fn(k, k[len(prefix):], enc)
	})
	if err != nil {
		return f.t.storeErr(kg, "scan", err)
	}
	return bad
}

// decodeKey decodes the key field at the front of rest.
func (f *fields[K, N]) decodeKey(kg int, whole, rest []byte) (K, []byte, error) {
	kb, rest, ok := splitField(rest)
	if !ok {
		var zero K
		return zero, nil, f.t.meta.corrupt(kg, whole)
	}
	k, err := decodeAll(f.kc, kb)
	if err != nil {
		return k, nil, fmt.Errorf("state: table %q: key group %d: key: %w", f.t.meta.name, kg, err)
	}
	return k, rest, nil
}

// keys yields the keys with a live entry in namespace n, each once, key
// group by key group. A key group's keys are read whole before they are
// yielded, so the caller may read the table meanwhile (a Get may remove an
// expired entry, which a Scan must not see).
func (f *fields[K, N]) keys(n N) iter.Seq[K] {
	return func(yield func(K) bool) {
		if !f.t.usable() {
			return
		}
		now := f.nowIfTTL()
		var prefix, last []byte
		var ks []K
		for kg := f.t.meta.kgs.Start; kg < f.t.meta.kgs.End; kg++ {
			prefix = append(prefix[:0], f.nsPrefix(kg, n)...)
			ks, last = ks[:0], last[:0]
			var ferr error
			err := f.scan(kg, prefix, now, func(whole, rest, _ []byte) bool {
				kb, _, ok := splitField(rest)
				if !ok {
					ferr = f.t.meta.corrupt(kg, whole)
					return false
				}
				if len(ks) > 0 && bytes.Equal(kb, last) {
					return true // another user key of the same map key
				}
				last = append(last[:0], kb...)
				k, err := decodeAll(f.kc, kb)
				if err != nil {
					ferr = fmt.Errorf("state: table %q: key group %d: key: %w", f.t.meta.name, kg, err)
					return false
				}
				ks = append(ks, k)
				return true
			})
			if err == nil {
				err = ferr
			}
			if err != nil {
				f.t.b.fail(err)
				return
			}
			for _, k := range ks {
				if !yield(k) {
					return
				}
			}
		}
	}
}

// count counts the live entries of the table.
func (f *fields[K, N]) count() int {
	if !f.t.usable() {
		return 0
	}
	now := f.nowIfTTL()
	n := 0
	var prefix []byte
	for kg := f.t.meta.kgs.Start; kg < f.t.meta.kgs.End; kg++ {
		prefix = groupPrefix(prefix[:0], f.t.meta.id, kg)
		if err := f.scan(kg, prefix, now, func(_, _, _ []byte) bool { n++; return true }); err != nil {
			f.t.b.fail(err)
			return n
		}
	}
	return n
}

// --- value tables ---

type storeValue[K, N comparable, V any] struct {
	fields[K, N]
	vc codec.Codec[V]
}

func newStoreValue[K, N comparable, V any](b *StoreBackend, d TableDesc[K, N, V]) (*storeValue[K, N, V], error) {
	t, err := b.register(d.Name, kindValue, d.TTL, keyedLayout(d), func(rr *recordReader, rec record) error {
		_, _, err := decodeEntry(rr, rec, d)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &storeValue[K, N, V]{fields: fields[K, N]{t: t, kc: d.Key, nc: d.Namespace}, vc: d.Value}, nil
}

func (a *storeValue[K, N, V]) decodeValue(kg int, enc []byte) (V, error) {
	v, err := decodeAll(a.vc, enc)
	if err != nil {
		return v, fmt.Errorf("state: table %q: key group %d: value: %w", a.t.meta.name, kg, err)
	}
	return v, nil
}

func (a *storeValue[K, N, V]) get(kg int, k K, n N) (V, bool, error) {
	enc, ok, err := a.fields.get(kg, a.entryKey(kg, k, n))
	if err != nil || !ok {
		var zero V
		return zero, false, err
	}
	v, err := a.decodeValue(kg, enc)
	return v, err == nil, err
}

func (a *storeValue[K, N, V]) put(kg int, k K, n N, v V) error {
	a.val = a.vc.Append(a.stamp(), v)
	return a.set(kg, a.entryKey(kg, k, n), a.val)
}

func (a *storeValue[K, N, V]) Get(kg int, k K, n N) (V, bool, error) {
	if err := a.t.enter(kg); err != nil {
		var zero V
		return zero, false, err
	}
	return a.get(kg, k, n)
}

func (a *storeValue[K, N, V]) Put(kg int, k K, n N, v V) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	return a.put(kg, k, n, v)
}

func (a *storeValue[K, N, V]) Delete(kg int, k K, n N) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	return a.delete(kg, a.entryKey(kg, k, n))
}

// Keys yields the keys of namespace n key group by key group, each in the
// byte order of its encoding.
func (a *storeValue[K, N, V]) Keys(n N) iter.Seq[K] { return a.keys(n) }

func (a *storeValue[K, N, V]) Len() int { return a.count() }

// --- namespaced tables ---

// storeNamespaced is a Namespaced table over a Store: a namespace of a key
// group is one prefix scan, in the byte order of the encoded keys. Slot
// holds the value it hands out and writes it before any other use of the
// table, or before a snapshot.
type storeNamespaced[K, N comparable, V any] struct {
	storeValue[K, N, V]
	held struct {
		on bool
		kg int
		k  K
		n  N
		v  V
	}
}

func newStoreNamespaced[K, N comparable, V any](b *StoreBackend, d TableDesc[K, N, V]) (*storeNamespaced[K, N, V], error) {
	v, err := newStoreValue(b, d)
	if err != nil {
		return nil, err
	}
	a := &storeNamespaced[K, N, V]{storeValue: *v}
	a.t.hold = a.writeHeld
	return a, nil
}

func (a *storeNamespaced[K, N, V]) writeHeld() error {
	h := &a.held
	if !h.on {
		return nil
	}
	h.on = false
	err := a.put(h.kg, h.k, h.n, h.v)
	var zero V
	h.v = zero
	return err
}

func (a *storeNamespaced[K, N, V]) Slot(kg int, k K, n N) (*V, bool, bool, error) {
	if err := a.t.enter(kg); err != nil {
		return nil, false, false, err
	}
	v, ok, err := a.get(kg, k, n)
	if err != nil {
		return nil, false, false, err
	}
	fresh := false
	if !ok {
		used, err := a.has(kg, n)
		if err != nil {
			return nil, false, false, err
		}
		fresh = !used
	}
	h := &a.held
	h.on, h.kg, h.k, h.n, h.v = true, kg, k, n, v
	return &h.v, !ok, fresh, nil
}

func (a *storeNamespaced[K, N, V]) has(kg int, n N) (bool, error) {
	found := false
	err := a.scan(kg, a.nsPrefix(kg, n), 0, func(_, _, _ []byte) bool { found = true; return false })
	return found, err
}

func (a *storeNamespaced[K, N, V]) Has(kg int, n N) bool {
	if err := a.t.enter(kg); err != nil {
		return false
	}
	ok, err := a.has(kg, n)
	if err != nil {
		a.t.b.fail(err)
	}
	return ok
}

// entry is one decoded entry of a namespace, with its physical key.
type storeEntryOf[K any, V any] struct {
	key []byte
	k   K
	v   V
}

// collect reads namespace n of key group kg whole, so that its entries
// can be written or removed after the scan.
func (a *storeNamespaced[K, N, V]) collect(kg int, n N, keepKeys bool) ([]storeEntryOf[K, V], error) {
	var out []storeEntryOf[K, V]
	var ferr error
	err := a.scan(kg, a.nsPrefix(kg, n), 0, func(whole, rest, enc []byte) bool {
		var e storeEntryOf[K, V]
		var tail []byte
		if e.k, tail, ferr = a.decodeKey(kg, whole, rest); ferr != nil {
			return false
		}
		if len(tail) != 0 {
			ferr = a.t.meta.corrupt(kg, whole)
			return false
		}
		if e.v, ferr = a.decodeValue(kg, enc); ferr != nil {
			return false
		}
		if keepKeys {
			e.key = slices.Clone(whole)
		}
		out = append(out, e)
		return true
	})
	if err == nil {
		err = ferr
	}
	return out, err
}

// Entries yields the entries of namespace n in the byte order of their
// encoded keys.
func (a *storeNamespaced[K, N, V]) Entries(kg int, n N) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if err := a.t.enter(kg); err != nil {
			return
		}
		es, err := a.collect(kg, n, false)
		if err != nil {
			a.t.b.fail(err)
			return
		}
		for _, e := range es {
			if !yield(e.k, e.v) {
				return
			}
		}
	}
}

// Update writes back every value fn was called with, also the one whose
// call failed, as the memory backend's in-place writes do.
func (a *storeNamespaced[K, N, V]) Update(kg int, n N, fn func(K, *V) error) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	es, err := a.collect(kg, n, true)
	if err != nil {
		return err
	}
	for i := range es {
		e := &es[i]
		ferr := fn(e.k, &e.v)
		a.val = a.vc.Append(a.stamp(), e.v)
		if err := a.set(kg, e.key, a.val); err != nil {
			return err
		}
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

func (a *storeNamespaced[K, N, V]) Drop(kg int, n N) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	es, err := a.collect(kg, n, true)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := a.delete(kg, e.key); err != nil {
			return err
		}
	}
	return nil
}

func (a *storeNamespaced[K, N, V]) Drain(kg int, n N, fn func(K, V) error) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	es, err := a.collect(kg, n, true)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := a.delete(kg, e.key); err != nil {
			return err
		}
		if err := fn(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// --- map tables ---

type storeMap[K, N, UK comparable, UV any] struct {
	fields[K, N]
	ukc codec.Codec[UK]
	vc  codec.Codec[UV]
}

func newStoreMap[K, N, UK comparable, UV any](b *StoreBackend, d MapDesc[K, N, UK, UV]) (*storeMap[K, N, UK, UV], error) {
	t, err := b.register(d.Name, kindMap, d.TTL, mapLayout(d), func(rr *recordReader, rec record) error {
		if _, err := decodeKey(rr, rec, d.Key, d.Namespace); err != nil {
			return err
		}
		if _, err := decodeField(rr, rec, "user key", d.UserKey, rec.uk); err != nil {
			return err
		}
		_, err := decodeField(rr, rec, "value", d.Value, rec.value)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &storeMap[K, N, UK, UV]{fields: fields[K, N]{t: t, kc: d.Key, nc: d.Namespace}, ukc: d.UserKey, vc: d.Value}, nil
}

func (a *storeMap[K, N, UK, UV]) userKey(kg int, k K, n N, uk UK) []byte {
	a.entryKey(kg, k, n)
	a.tmp = a.ukc.Append(a.tmp[:0], uk)
	a.key = appendField(a.key, a.tmp)
	return a.key
}

func (a *storeMap[K, N, UK, UV]) Get(kg int, k K, n N, uk UK) (UV, bool, error) {
	var zero UV
	if err := a.t.enter(kg); err != nil {
		return zero, false, err
	}
	enc, ok, err := a.get(kg, a.userKey(kg, k, n, uk))
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := decodeAll(a.vc, enc)
	if err != nil {
		return zero, false, fmt.Errorf("state: table %q: key group %d: value: %w", a.t.meta.name, kg, err)
	}
	return v, true, nil
}

func (a *storeMap[K, N, UK, UV]) Put(kg int, k K, n N, uk UK, v UV) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	key := a.userKey(kg, k, n, uk)
	a.val = a.vc.Append(a.stamp(), v)
	return a.set(kg, key, a.val)
}

func (a *storeMap[K, N, UK, UV]) Delete(kg int, k K, n N, uk UK) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	return a.delete(kg, a.userKey(kg, k, n, uk))
}

func (a *storeMap[K, N, UK, UV]) Clear(kg int, k K, n N) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	// Expired entries go too, so this reads the Store without the TTL
	// filter of a.scan.
	var dead [][]byte
	err := a.t.b.store.Scan(a.entryKey(kg, k, n), func(key, _ []byte) bool {
		dead = append(dead, slices.Clone(key))
		return true
	})
	if err != nil {
		return a.t.storeErr(kg, "scan", err)
	}
	for _, key := range dead {
		if err := a.delete(kg, key); err != nil {
			return err
		}
	}
	return nil
}

// All yields the user-key entries of (k, n) in the byte order of the
// encoded user keys; nothing for a key group outside the backend's range.
func (a *storeMap[K, N, UK, UV]) All(kg int, k K, n N) iter.Seq2[UK, UV] {
	return func(yield func(UK, UV) bool) {
		if err := a.t.enter(kg); err != nil {
			return
		}
		type kv struct {
			uk UK
			v  UV
		}
		var es []kv
		var ferr error
		err := a.scan(kg, a.entryKey(kg, k, n), a.nowIfTTL(), func(whole, rest, enc []byte) bool {
			ub, tail, ok := splitField(rest)
			if !ok || len(tail) != 0 {
				ferr = a.t.meta.corrupt(kg, whole)
				return false
			}
			var e kv
			if e.uk, ferr = decodeAll(a.ukc, ub); ferr != nil {
				ferr = fmt.Errorf("state: table %q: key group %d: user key: %w", a.t.meta.name, kg, ferr)
				return false
			}
			if e.v, ferr = decodeAll(a.vc, enc); ferr != nil {
				ferr = fmt.Errorf("state: table %q: key group %d: value: %w", a.t.meta.name, kg, ferr)
				return false
			}
			es = append(es, e)
			return true
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			a.t.b.fail(err)
			return
		}
		// Yielded after the scan, so the caller may read the table.
		for _, e := range es {
			if !yield(e.uk, e.v) {
				return
			}
		}
	}
}

func (a *storeMap[K, N, UK, UV]) Keys(n N) iter.Seq[K] { return a.keys(n) }

func (a *storeMap[K, N, UK, UV]) Len() int { return a.count() }

// --- operator lists ---

type storeOpListOf[T any] struct {
	l *storeOpList
	c codec.Codec[T]
}

func newStoreOpList[T any](b *StoreBackend, name string, mode Redistribution, c codec.Codec[T]) (*storeOpListOf[T], error) {
	l, restored, err := b.registerList(name, mode, listLayout(c))
	if err != nil {
		return nil, err
	}
	for j, e := range restored {
		if _, err := decodeAll(c, e); err != nil {
			return nil, fmt.Errorf("state: operator list %q: entry %d: %w", name, j, err)
		}
	}
	l.entries = restored
	return &storeOpListOf[T]{l: l, c: c}, nil
}

func (o *storeOpListOf[T]) Get() ([]T, error) {
	if o.l.b.closed {
		return nil, ErrClosed
	}
	vs := make([]T, 0, len(o.l.entries))
	for j, e := range o.l.entries {
		v, err := decodeAll(o.c, e)
		if err != nil {
			return nil, fmt.Errorf("state: operator list %q: entry %d: %w", o.l.name, j, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// Update replaces the entries with new ones, so a snapshot holding the
// old ones keeps them.
func (o *storeOpListOf[T]) Update(vs []T) error {
	if o.l.b.closed {
		return ErrClosed
	}
	es := make([][]byte, len(vs))
	for i, v := range vs {
		es[i] = o.c.Append(nil, v)
	}
	o.l.entries = es
	return nil
}
