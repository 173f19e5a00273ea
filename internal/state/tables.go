package state

import (
	"errors"
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
)

// The constructors below are where a backend meets the typed API. Go
// methods cannot have type parameters, so a backend cannot create a typed
// table itself; each constructor asks the backend for one of two
// capabilities, by type assertion:
//
//   - typed tables (the memory backend): tables that keep Go values, built
//     by generic functions of this package, so only a backend of this
//     package can offer them;
//   - byte tables (StoreBackend, and any type that embeds it): the typed
//     adapters of storetables.go, which encode with the descriptor's
//     codecs into a Store. A disk backend plugs in here by implementing
//     Store; nothing above this package changes.
//
// The snapshot format (format.go) is shared, so state moves between them.

// typedBackend is the capability of keeping typed tables.
type typedBackend interface{ typedTables() *Memory }

// byteBackend is the capability of keeping tables as bytes in a Store.
type byteBackend interface{ byteTables() *StoreBackend }

func (b *Memory) typedTables() *Memory { return b }

func (b *StoreBackend) byteTables() *StoreBackend { return b }

// NewValue creates the value table d describes, filled from the restored
// state of the same name if there is any. Creating a name twice fails with
// ErrExists.
func NewValue[K, N comparable, V any](b Backend, d TableDesc[K, N, V]) (Value[K, N, V], error) {
	if err := checkDesc("value", d.Name, d.TTL, d.Key == nil, d.Namespace == nil, false, d.Value == nil); err != nil {
		return nil, err
	}
	if m, ok := b.(typedBackend); ok {
		return newMemValue(m.typedTables(), d)
	}
	if s, ok := b.(byteBackend); ok {
		t, err := newStoreValue(s.byteTables(), d)
		if err != nil {
			return nil, err
		}
		if d.TTL == 0 && t.t.b.cache.bytes > 0 {
			return newCachedValue(t), nil
		}
		return t, nil
	}
	return nil, unsupported("value table", d.Name, b)
}

// NewNamespaced creates the Namespaced table d describes, kept namespace
// first: each key group maps a namespace to its keys' values, so reading,
// updating or dropping a namespace touches nothing else, and a key group
// remembers the few namespaces it used last. It is filled from the
// restored state of the same name if there is any (written by a Namespaced
// or a plain value table). It has no TTL. Creating a name twice fails with
// ErrExists. On a byte backend a namespace of a key group is one prefix
// scan of the Store, and Entries come in the byte order of the encoded
// keys instead of the order the keys entered.
func NewNamespaced[K, N comparable, V any](b Backend, d TableDesc[K, N, V]) (Namespaced[K, N, V], error) {
	if err := checkDesc("value", d.Name, d.TTL, d.Key == nil, d.Namespace == nil, false, d.Value == nil); err != nil {
		return nil, err
	}
	if d.TTL != 0 {
		return nil, fmt.Errorf("state: namespaced table %q: TTL is not supported", d.Name)
	}
	if m, ok := b.(typedBackend); ok {
		return newMemNamespacedTable(m.typedTables(), d)
	}
	if s, ok := b.(byteBackend); ok {
		t, err := newStoreNamespaced(s.byteTables(), d)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, unsupported("namespaced table", d.Name, b)
}

// NewKeyFirst creates a Namespaced table like NewNamespaced, kept key
// first: each key group maps a key to its values in all namespaces, with
// an index of each namespace's keys. Reading or writing several namespaces
// of one key in a row costs one map lookup (sliding windows: a record
// belongs to several), while reading or dropping a namespace costs one per
// key. Its snapshots are those of NewNamespaced. On a byte backend it is
// the table NewNamespaced makes: the Store has one layout for both.
func NewKeyFirst[K, N comparable, V any](b Backend, d TableDesc[K, N, V]) (Namespaced[K, N, V], error) {
	if err := checkDesc("value", d.Name, d.TTL, d.Key == nil, d.Namespace == nil, false, d.Value == nil); err != nil {
		return nil, err
	}
	if d.TTL != 0 {
		return nil, fmt.Errorf("state: key-first table %q: TTL is not supported", d.Name)
	}
	if m, ok := b.(typedBackend); ok {
		return newMemKeyFirstTable(m.typedTables(), d)
	}
	if s, ok := b.(byteBackend); ok {
		t, err := newStoreNamespaced(s.byteTables(), d)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, unsupported("key-first table", d.Name, b)
}

// NewSplitValue creates the value table d describes, for keys made of two
// parts: split takes a key apart into the part the table hashes and the
// rest, and join puts them together again. Each key group keeps a map from
// the first part to the entries that share it (the first inline), so the
// table suits keys whose first part has few entries (timers: a key and a
// time) and costs one hash of the first part per access. Its snapshots are
// those of a plain value table with d's codecs. It has no TTL, and is
// filled from the restored state of the same name if there is any.
// Creating a name twice fails with ErrExists. On a byte backend it is a
// plain value table: split and join only shape the memory backend's maps.
func NewSplitValue[LK, K, S, N comparable, V any](b Backend, d TableDesc[LK, N, V], split func(LK) (K, S), join func(K, S) LK) (Value[LK, N, V], error) {
	if err := checkDesc("value", d.Name, d.TTL, d.Key == nil, d.Namespace == nil, false, d.Value == nil); err != nil {
		return nil, err
	}
	if d.TTL != 0 {
		return nil, fmt.Errorf("state: split-key table %q: TTL is not supported", d.Name)
	}
	if m, ok := b.(typedBackend); ok {
		return newMemSplitValue(m.typedTables(), d, split, join)
	}
	if s, ok := b.(byteBackend); ok {
		t, err := newStoreValue(s.byteTables(), d)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, unsupported("split-key table", d.Name, b)
}

// NewList creates the list table d describes, filled from the restored
// state of the same name if there is any. Creating a name twice fails with
// ErrExists.
func NewList[K, N comparable, V any](b Backend, d TableDesc[K, N, V]) (List[K, N, V], error) {
	if err := checkDesc("list", d.Name, d.TTL, d.Key == nil, d.Namespace == nil, false, d.Value == nil); err != nil {
		return nil, err
	}
	if m, ok := b.(typedBackend); ok {
		return newMemList(m.typedTables(), d)
	}
	if s, ok := b.(byteBackend); ok {
		t, err := newStoreList(s.byteTables(), d)
		if err != nil {
			return nil, err
		}
		if d.TTL == 0 && t.t.b.cache.bytes > 0 {
			return newCachedList(t), nil
		}
		return t, nil
	}
	return nil, unsupported("list table", d.Name, b)
}

// NewMap creates the map table d describes, filled from the restored state
// of the same name if there is any. Creating a name twice fails with
// ErrExists.
func NewMap[K, N, UK comparable, UV any](b Backend, d MapDesc[K, N, UK, UV]) (Map[K, N, UK, UV], error) {
	if err := checkDesc("map", d.Name, d.TTL, d.Key == nil, d.Namespace == nil, d.UserKey == nil, d.Value == nil); err != nil {
		return nil, err
	}
	if m, ok := b.(typedBackend); ok {
		return newMemMap(m.typedTables(), d)
	}
	if s, ok := b.(byteBackend); ok {
		t, err := newStoreMap(s.byteTables(), d)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, unsupported("map table", d.Name, b)
}

// NewOperatorList creates the operator list name, filled from the restored
// state of the same name as redistributed for this subtask. The restored
// entries were divided with the mode they were written with; mode applies
// to the snapshots taken from now on. Creating a name twice fails with
// ErrExists.
func NewOperatorList[T any](b Backend, name string, mode Redistribution, c codec.Codec[T]) (OperatorList[T], error) {
	switch {
	case name == "":
		return nil, errors.New("state: operator list: Name is empty")
	case mode != Split && mode != Broadcast:
		return nil, fmt.Errorf("state: operator list %q: unknown redistribution %s", name, mode)
	case c == nil:
		return nil, fmt.Errorf("state: operator list %q: codec is nil", name)
	}
	if m, ok := b.(typedBackend); ok {
		return newMemOperatorList(m.typedTables(), name, mode, c)
	}
	if s, ok := b.(byteBackend); ok {
		t, err := newStoreOpList(s.byteTables(), name, mode, c)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, unsupported("operator list", name, b)
}

func unsupported(what, name string, b Backend) error {
	return fmt.Errorf("state: %s %q: backend %T: %w", what, name, b, errors.ErrUnsupported)
}

// checkDesc reports the first problem with a table descriptor, naming the
// field, because a nil codec would otherwise fail only at the first
// snapshot.
func checkDesc(kind, name string, ttl time.Duration, noKey, noNS, noUK, noValue bool) error {
	var field string
	switch {
	case name == "":
		return fmt.Errorf("state: %s table: Name is empty", kind)
	case ttl < 0:
		return fmt.Errorf("state: %s table %q: TTL %v is negative", kind, name, ttl)
	case noKey:
		field = "Key"
	case noNS:
		field = "Namespace"
	case noUK:
		field = "UserKey"
	case noValue:
		field = "Value"
	default:
		return nil
	}
	return fmt.Errorf("state: %s table %q: %s codec is nil", kind, name, field)
}
