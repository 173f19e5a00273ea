// Package state defines how operator state is stored: a Backend per operator
// subtask holding named tables partitioned by key group, plus non-keyed
// operator state, with cheap synchronous snapshots that are written out
// asynchronously.
//
// Every table is created through the generic constructors in this package
// (NewValue, NewList, NewMap, NewOperatorList, ...), because Go methods
// cannot have type parameters; they ask the backend for a capability by
// type assertion. Memory keeps typed Go values on the heap and gets typed
// tables. A backend that stores bytes implements Store — an ordered map of
// byte keys with snapshot views, which an LSM such as Pebble provides —
// and runs as a StoreBackend, whose tables are typed adapters encoding
// with the descriptors' codecs. All backends read and write one snapshot
// format, described in FORMAT.md, so a savepoint taken with one can be
// restored into another.
//
// A keyed operator's timers are a value table (TimerDesc). On a backend
// over a Store, NewTimers also keeps their firing order there, in a
// time-ordered index derived from the table on restore and left out of
// snapshots, so memory holds one entry per key group with timers rather
// than one per timer; the memory backend declines and the engine keeps
// firing queues on the heap.
//
// The package statetest holds the conformance suite every backend must
// pass, and bytesmem a Store on the heap that proves the byte seam.
package state

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
)

// KeyGroupRange is the half-open range [Start, End) of key groups owned by
// one operator subtask.
type KeyGroupRange = keygroup.Range

// Redistribution says how a non-keyed operator state list is divided when a
// job is restored at a different parallelism.
type Redistribution uint8

const (
	// Split divides the entries of all old subtasks among the new subtasks
	// round robin: new subtask i of p gets entry j (counting over the old
	// subtasks in order) when j mod p == i.
	Split Redistribution = iota
	// Broadcast gives every new subtask the entries of old subtask 0. It is
	// for state that every subtask holds identically (broadcast rules).
	Broadcast
)

func (r Redistribution) String() string {
	switch r {
	case Split:
		return "split"
	case Broadcast:
		return "broadcast"
	}
	return fmt.Sprintf("Redistribution(%d)", uint8(r))
}

// Config describes the operator subtask a backend serves.
type Config struct {
	// OperatorID is the stable ID of the operator the state belongs to.
	OperatorID string
	// KeyGroups is the range of key groups this subtask owns.
	KeyGroups KeyGroupRange
	// MaxParallelism is the job's number of key groups.
	MaxParallelism int
	// Subtask and Parallelism place this subtask among its peers; they
	// decide how Split operator state is redistributed on restore.
	Subtask, Parallelism int
	// Clock returns the processing time used for TTL. Nil means time.Now.
	Clock func() time.Time
	// RestoreWorkers bounds the goroutines one Restore, and the creation
	// of a restored table, use to read and decode key groups in parallel;
	// 0 means GOMAXPROCS, 1 reads and decodes one key group after another.
	RestoreWorkers int
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	switch {
	case c.MaxParallelism <= 0:
		return fmt.Errorf("state: MaxParallelism %d must be positive", c.MaxParallelism)
	case c.KeyGroups.Start < 0 || c.KeyGroups.End > c.MaxParallelism || c.KeyGroups.Start > c.KeyGroups.End:
		return fmt.Errorf("state: KeyGroups %s outside [0,%d)", c.KeyGroups, c.MaxParallelism)
	case c.Parallelism <= 0 || c.Subtask < 0 || c.Subtask >= c.Parallelism:
		return fmt.Errorf("state: Subtask %d of Parallelism %d out of range", c.Subtask, c.Parallelism)
	case c.RestoreWorkers < 0:
		return fmt.Errorf("state: RestoreWorkers %d must not be negative", c.RestoreWorkers)
	}
	return nil
}

// Backend holds the state of one operator subtask.
//
// A backend is used by one goroutine at a time (its task), except that a
// Snapshot returned by Snapshot may be written out by another goroutine while
// the task keeps reading and writing tables.
type Backend interface {
	// Config returns the configuration the backend was opened with.
	Config() Config
	// Snapshot captures the state of every table synchronously and cheaply;
	// later writes do not change what the snapshot writes out. It first
	// calls the functions registered with OnSnapshot.
	Snapshot() (Snapshot, error)
	// OnSnapshot registers f to be called at the start of every Snapshot,
	// before anything is captured, so that an operator keeping something
	// outside its tables can write it into them; an error from f fails the
	// snapshot.
	OnSnapshot(f func() error)
	// Restore loads state written by earlier snapshots — one per old
	// subtask, in old subtask order, possibly from a different parallelism —
	// keeping only the key groups in this backend's range and redistributing
	// operator state as each list declares. It reads of each snapshot only
	// what it keeps (all of a version 1 snapshot), possibly from several
	// goroutines, and keeps nothing unless all it read is whole. It must be
	// called before any table is created.
	Restore(snapshots []SnapshotFile) error
	// ExpireSome removes up to budget expired TTL entries and reports how
	// many it removed; tasks call it periodically so expired entries do not
	// stay forever.
	ExpireSome(budget int) int
	// Close releases the backend's resources.
	Close() error
}

// Snapshot is a consistent image of a backend's state. A snapshot that
// holds a resource also has a Release() method, which whoever writes it
// should call once it will not write it again; Release may be called from
// any goroutine, more than once. A StoreBackend's snapshot frees its Store
// view. A Memory snapshot lets the task write in place again what the
// snapshot captured: until then, writes to it go to per-key-group overlays
// that reads consult first, and a snapshot taken meanwhile copies the key
// groups written since. A snapshot that is never released costs that
// memory and time (until it is garbage collected), never correctness.
//
// A snapshot may also have a WriteAndRelease(w io.Writer) (int64, error)
// method (see WriteOnce): it writes the snapshot like WriteTo, once, and
// releases each part as soon as that part is written, then the whole
// snapshot when it returns, also on error; the snapshot must not be
// written again. A Memory snapshot releases each key group of each table
// once its section is encoded, so the task writes in place again, and
// folds the overlay of, every key group already written while the rest is
// still being written, and the overlays only ever hold writes to key
// groups not written yet.
type Snapshot interface {
	// WriteTo writes the snapshot in the state snapshot format. It may run on
	// another goroutine while the task keeps changing state.
	WriteTo(w io.Writer) (int64, error)
}

// WriteOnce writes s to w for the last time: with its WriteAndRelease
// method when it has one, so that the task regains what s holds while it
// is being written, and with WriteTo otherwise. The caller still releases
// s afterwards, which is then a no-op.
func WriteOnce(s Snapshot, w io.Writer) (int64, error) {
	if p, ok := s.(interface {
		WriteAndRelease(w io.Writer) (int64, error)
	}); ok {
		return p.WriteAndRelease(w)
	}
	return s.WriteTo(w)
}

// ErrExists reports that a table or operator list with the same name was
// created twice on one backend.
var ErrExists = errors.New("state: name already registered")

// ErrClosed reports use of a backend, or of one of its tables, after Close.
var ErrClosed = errors.New("state: backend closed")

// TableDesc names a keyed table and its codecs.
type TableDesc[K, N comparable, V any] struct {
	Name string
	// Key, Namespace and Value encode the parts of an entry in snapshots.
	Key       codec.Codec[K]
	Namespace codec.Codec[N]
	Value     codec.Codec[V]
	// TTL, when positive, makes an entry expire TTL after its last write:
	// an expired entry is never returned and is eventually removed.
	TTL time.Duration
}

// Value is a keyed table mapping (key, namespace) to one value. The key
// group passed to every method must be the key group of k and in the
// backend's range.
type Value[K, N comparable, V any] interface {
	Get(kg int, k K, n N) (V, bool, error)
	Put(kg int, k K, n N, v V) error
	Delete(kg int, k K, n N) error
	// Keys yields the keys that have a live entry in namespace n, in no
	// particular order. The table must not be written during the iteration.
	Keys(n N) iter.Seq[K]
	// Len counts the live entries of all key groups.
	Len() int
}

// Namespaced is a value table whose namespaces can be read, updated or
// dropped whole per key group, in the order their keys entered them, and
// whose values can be written in place. Window operators keep one
// namespace per window. NewNamespaced keeps it namespace first (the
// entries of a namespace together), NewKeyFirst key first (the values of
// a key together); either way its snapshots are those of a value table
// (kind value, no TTL), so state written by one restores into the other
// or into a plain value table.
type Namespaced[K, N comparable, V any] interface {
	Value[K, N, V]
	// Slot returns a pointer to the value of (k, n) for reading and
	// writing in place, creating the entry with V's zero value when there
	// is none (created), and reports whether namespace n had no entry in
	// key group kg before (fresh). The pointer is valid until the next call
	// on the table.
	Slot(kg int, k K, n N) (p *V, created, fresh bool, err error)
	// Has reports whether namespace n has an entry in key group kg.
	Has(kg int, n N) bool
	// Entries yields the entries of namespace n in key group kg, in an
	// order the backend defines and statetest.Capabilities declares: on
	// Memory, the order their keys entered the namespace (after a restore:
	// in the order of their encoded keys), except that Delete moves the
	// last key into the deleted one's place; on a StoreBackend, the byte
	// order of the encoded keys. The table must not be written during the
	// iteration.
	Entries(kg int, n N) iter.Seq2[K, V]
	// Update calls fn with each entry of namespace n in key group kg, in
	// the order of Entries, and a pointer through which fn may change the
	// value; fn must not call the table. It stops at fn's first error.
	Update(kg int, n N, fn func(k K, v *V) error) error
	// Drop removes every entry of namespace n in key group kg.
	Drop(kg int, n N) error
	// Drain is Entries and Drop in one pass: it calls fn with each entry
	// of namespace n in key group kg, in the order of Entries, and removes
	// it; fn must not call the table. It stops at fn's first error, having
	// removed the entries fn was called with.
	Drain(kg int, n N, fn func(k K, v V) error) error
}

// List is a keyed table mapping (key, namespace) to a list of values.
type List[K, N comparable, V any] interface {
	// Get returns the list; the caller must not modify the returned slice.
	Get(kg int, k K, n N) ([]V, error)
	Add(kg int, k K, n N, v V) error
	// Append is Add that also returns the list's length after it.
	Append(kg int, k K, n N, v V) (int, error)
	Update(kg int, k K, n N, vs []V) error
	Delete(kg int, k K, n N) error
	Keys(n N) iter.Seq[K]
	// Len counts the (key, namespace) pairs with a live list.
	Len() int
}

// MapDesc names a keyed map table and its codecs.
type MapDesc[K, N, UK comparable, UV any] struct {
	Name      string
	Key       codec.Codec[K]
	Namespace codec.Codec[N]
	UserKey   codec.Codec[UK]
	Value     codec.Codec[UV]
	// TTL applies to each user-key entry separately.
	TTL time.Duration
}

// Map is a keyed table mapping (key, namespace) to a map of user keys to
// values.
type Map[K, N, UK comparable, UV any] interface {
	Get(kg int, k K, n N, uk UK) (UV, bool, error)
	Put(kg int, k K, n N, uk UK, v UV) error
	Delete(kg int, k K, n N, uk UK) error
	// Clear removes every user key of (k, n).
	Clear(kg int, k K, n N) error
	// All yields the live user-key entries of (k, n). The table must not be
	// written during the iteration.
	All(kg int, k K, n N) iter.Seq2[UK, UV]
	Keys(n N) iter.Seq[K]
	// Len counts the live user-key entries, the unit TTL applies to.
	Len() int
}

// OperatorList is non-keyed operator state: a list of entries per subtask,
// redistributed on restore as its Redistribution says.
type OperatorList[T any] interface {
	Get() ([]T, error)
	Update(vs []T) error
}
