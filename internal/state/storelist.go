package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/weirstream/weir/codec"
)

// A list in a Store is a head and one entry per element, so that Append
// writes the new element and the head without reading or rewriting the
// others. The head is at the list's physical key (table, key group,
// namespace, key) and holds the last-write time (with a TTL) and the
// element count; element i is at the head's key followed by i as 8 bytes
// big endian, so a prefix scan of the head's key reads the head, then the
// elements in order. No other key has the head's key as a prefix, since
// the namespace and key are length-prefixed. A snapshot holds a list as
// one entry, as every backend writes it (FORMAT.md).

// listIndexLen is the length of an element's index after its head's key.
const listIndexLen = 8

// groupPrefixLen is the length of groupPrefix's output.
const groupPrefixLen = 8

// isListElement reports whether the physical key k of a list table is an
// element's (rather than a head's).
func isListElement(k []byte) bool {
	if len(k) < groupPrefixLen {
		return false
	}
	_, rest, ok := splitField(k[groupPrefixLen:])
	if !ok {
		return false
	}
	_, rest, ok = splitField(rest)
	return ok && len(rest) == listIndexLen
}

// appendListIndex appends the suffix of element i to a head's key.
func appendListIndex(head []byte, i uint64) []byte {
	return binary.BigEndian.AppendUint64(head, i)
}

// listHead reads a head's value after its stamp: the element count.
func listHead(enc []byte) (uint64, bool) {
	n, k := binary.Uvarint(enc)
	return n, k > 0 && k == len(enc)
}

// storeList is a List table over a Store.
type storeList[K, N comparable, V any] struct {
	fields[K, N]
	vc codec.Codec[V]
	// ekey is the element key being built.
	ekey []byte
}

func newStoreList[K, N comparable, V any](b *StoreBackend, d TableDesc[K, N, V]) (*storeList[K, N, V], error) {
	t, err := b.register(d.Name, kindList, d.TTL, keyedLayout(d), func(rr *recordReader, rec record) error {
		if _, err := decodeKey(rr, rec, d.Key, d.Namespace); err != nil {
			return err
		}
		_, err := decodeList(rr, rec, d.Value)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &storeList[K, N, V]{fields: fields[K, N]{t: t, kc: d.Key, nc: d.Namespace}, vc: d.Value}, nil
}

// head reads the element count of the list at key (a.key), 0 when there
// is none; an expired list is removed.
func (a *storeList[K, N, V]) head(kg int, key []byte) (uint64, error) {
	v, ok, err := a.t.b.store.Get(key)
	if err != nil {
		return 0, a.t.storeErr(kg, "get", err)
	}
	if !ok {
		return 0, nil
	}
	at, enc, ok := stampedValue(v, a.t.meta.ttl)
	if !ok {
		return 0, a.t.meta.corrupt(kg, key)
	}
	count, ok := listHead(enc)
	if !ok {
		return 0, a.t.meta.corrupt(kg, key)
	}
	if a.t.meta.ttl > 0 && a.t.meta.expired(at, a.t.b.now()) {
		return 0, a.remove(kg, key, 0, count)
	}
	return count, nil
}

// remove deletes the elements from..to-1 of the list at key, and the head
// too when from is 0.
func (a *storeList[K, N, V]) remove(kg int, key []byte, from, to uint64) error {
	for i := from; i < to; i++ {
		a.ekey = appendListIndex(append(a.ekey[:0], key...), i)
		if err := a.delete(kg, a.ekey); err != nil {
			return err
		}
	}
	if from == 0 {
		return a.delete(kg, key)
	}
	return nil
}

// setHead writes the head of the list at key with count elements.
func (a *storeList[K, N, V]) setHead(kg int, key []byte, count uint64) error {
	a.val = binary.AppendUvarint(a.stamp(), count)
	return a.set(kg, key, a.val)
}

// setElement writes element i of the list at key.
func (a *storeList[K, N, V]) setElement(kg int, key []byte, i uint64, v V) error {
	a.ekey = appendListIndex(append(a.ekey[:0], key...), i)
	a.tmp = a.vc.Append(a.tmp[:0], v)
	return a.set(kg, a.ekey, a.tmp)
}

func (a *storeList[K, N, V]) Get(kg int, k K, n N) ([]V, error) {
	if err := a.t.enter(kg); err != nil {
		return nil, err
	}
	key := a.entryKey(kg, k, n)
	count, err := a.head(kg, key)
	if err != nil || count == 0 {
		return nil, err
	}
	vs := make([]V, 0, count)
	var ferr error
	err = a.t.b.store.Scan(key, func(ek, ev []byte) bool {
		if len(ek) == len(key) {
			return true // the head
		}
		if len(ek) != len(key)+listIndexLen || binary.BigEndian.Uint64(ek[len(key):]) != uint64(len(vs)) {
			ferr = a.t.meta.corrupt(kg, ek)
			return false
		}
		v, err := decodeAll(a.vc, ev)
		if err != nil {
			ferr = fmt.Errorf("state: table %q: key group %d: list element %d: %w", a.t.meta.name, kg, len(vs), err)
			return false
		}
		vs = append(vs, v)
		return true
	})
	if err != nil {
		return nil, a.t.storeErr(kg, "scan", err)
	}
	if ferr == nil && uint64(len(vs)) != count {
		ferr = fmt.Errorf("state: table %q: key group %d: list %x has %d elements, its head says %d", a.t.meta.name, kg, key, len(vs), count)
	}
	return vs, ferr
}

func (a *storeList[K, N, V]) Add(kg int, k K, n N, v V) error {
	_, err := a.Append(kg, k, n, v)
	return err
}

// Append reads the head, writes it with one more element and writes the
// element: the list's other elements are not read.
func (a *storeList[K, N, V]) Append(kg int, k K, n N, v V) (int, error) {
	if err := a.t.enter(kg); err != nil {
		return 0, err
	}
	key := a.entryKey(kg, k, n)
	count, err := a.head(kg, key)
	if err != nil {
		return 0, err
	}
	if err := a.setElement(kg, key, count, v); err != nil {
		return 0, err
	}
	return int(count + 1), a.setHead(kg, key, count+1)
}

func (a *storeList[K, N, V]) Update(kg int, k K, n N, vs []V) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	key := a.entryKey(kg, k, n)
	count, err := a.head(kg, key)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		if count == 0 {
			return nil
		}
		return a.remove(kg, key, 0, count)
	}
	for i, v := range vs {
		if err := a.setElement(kg, key, uint64(i), v); err != nil {
			return err
		}
	}
	if err := a.remove(kg, key, uint64(len(vs)), count); err != nil {
		return err
	}
	return a.setHead(kg, key, uint64(len(vs)))
}

func (a *storeList[K, N, V]) Delete(kg int, k K, n N) error {
	if err := a.t.enter(kg); err != nil {
		return err
	}
	key := a.entryKey(kg, k, n)
	count, err := a.head(kg, key)
	if err != nil || count == 0 {
		return err
	}
	return a.remove(kg, key, 0, count)
}

func (a *storeList[K, N, V]) Keys(n N) iter.Seq[K] { return a.keys(n) }

func (a *storeList[K, N, V]) Len() int { return a.count() }

// writeLists adds the live lists of key group kg to s, each as one record
// whose value is the list's snapshot encoding (FORMAT.md): the element
// count, then the elements length-prefixed, read from the head and the
// elements that follow it.
func (f *frozenStoreTable) writeLists(s *sectionBuf, kg int, prefix []byte, now int64) error {
	var cur struct {
		on         bool // a live list is being read
		skip       bool // the list being passed is expired
		head       []byte
		key, ns    []byte
		at         int64
		count, got uint64
		val        []byte
	}
	var bad error
	finish := func() {
		if !cur.on {
			return
		}
		cur.on = false
		if cur.got != cur.count {
			bad = fmt.Errorf("state: table %q: key group %d: list %x has %d elements, its head says %d", f.t.name, kg, cur.head, cur.got, cur.count)
			return
		}
		s.begin(nil)
		s.field(cur.key)
		s.field(cur.ns)
		s.keyDone()
		s.field(cur.val)
		if f.t.ttl > 0 {
			s.stamp(cur.at)
		}
		s.end()
	}
	err := f.view.Scan(prefix, func(k, v []byte) bool {
		if isListElement(k) {
			switch {
			case cur.skip:
			case !cur.on || len(k) != len(cur.head)+listIndexLen || !bytes.HasPrefix(k, cur.head) ||
				binary.BigEndian.Uint64(k[len(cur.head):]) != cur.got:
				bad = f.t.corrupt(kg, k)
				return false
			default:
				cur.val = appendField(cur.val, v)
				cur.got++
			}
			return true
		}
		finish()
		if bad != nil {
			return false
		}
		sk, ok := parseKey(k[len(prefix):], kindList)
		at, enc, vok := stampedValue(v, f.t.ttl)
		count, cok := listHead(enc)
		if !ok || !vok || !cok {
			bad = f.t.corrupt(kg, k)
			return false
		}
		cur.skip = f.t.expired(at, now)
		if cur.skip {
			return true
		}
		cur.on, cur.at, cur.count, cur.got = true, at, count, 0
		cur.head = append(cur.head[:0], k...)
		cur.key = append(cur.key[:0], sk.key...)
		cur.ns = append(cur.ns[:0], sk.ns...)
		cur.val = binary.AppendUvarint(cur.val[:0], count)
		return true
	})
	if err != nil {
		return err
	}
	if bad == nil {
		finish()
	}
	return bad
}

// loadList writes a restored list: its head (val holds its stamp, if any)
// and its elements, read from the list's snapshot encoding enc. It returns
// val for reuse.
func (t *storeTable) loadList(key, val, enc []byte) ([]byte, error) {
	count, rest, ok := listCount(enc)
	if !ok {
		return val, fmt.Errorf("list %x: malformed element count", key)
	}
	var ekey []byte
	for i := range count {
		var e []byte
		if e, rest, ok = splitField(rest); !ok {
			return val, fmt.Errorf("list %x: element %d: malformed length", key, i)
		}
		ekey = appendListIndex(append(ekey[:0], key...), i)
		if err := t.b.store.Set(ekey, e); err != nil {
			return val, err
		}
	}
	if len(rest) != 0 {
		return val, fmt.Errorf("list %x: %d bytes after the last element", key, len(rest))
	}
	val = binary.AppendUvarint(val, count)
	return val, t.b.store.Set(key, val)
}

// listCount reads the element count at the front of a list's snapshot
// encoding.
func listCount(enc []byte) (uint64, []byte, bool) {
	n, k := binary.Uvarint(enc)
	if k <= 0 || n > uint64(len(enc)) {
		return 0, nil, false
	}
	return n, enc[k:], true
}
