// Package pebble is a state.Store on disk, in a Pebble LSM: the backend for
// keyed state larger than memory. A StoreBackend over it lays its keys out
// as every byte-level backend does (table ID, key group, namespace, key,
// user key), so a key group is one contiguous key range, a namespace of a
// key group (a window, a time domain's timers) and a key's map entries are
// each one ordered iteration, and a snapshot is written out one key group
// at a time in the shared snapshot format from a Pebble snapshot, while
// the task goes on writing.
//
// Each Store is one Pebble database in a working directory of its own,
// created under Options.Dir and removed when the Store is closed (or, if a
// snapshot view is still open then, when the last one is released). The
// working directory is scratch: it is never reopened, so the database
// runs without a write-ahead log and nothing is synced to disk; a job's
// state survives a crash through its checkpoints, which are full copies
// in the shared format.
package pebble

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/state"
)

// DefaultMemory is the memory budget of a backend's Stores when
// Options.Memory is 0.
const DefaultMemory = 64 << 20

// MinMemory is the smallest memory budget Options accepts.
const MinMemory = 4 << 20

// Options configure the Stores of a backend.
type Options struct {
	// Dir is the directory under which each Store makes its working
	// directory; it is created if missing. Empty means os.TempDir().
	Dir string
	// Memory is the memory budget of all the Stores a backend factory
	// opens together (a job's keyed operator subtasks), in bytes: a
	// quarter for the caches of decoded value-table entries of the
	// backends NewBackend makes (state.StoreBackend.SetValueCache,
	// Memory/4/Stores each), and one Pebble cache of the other three
	// quarters they share, in which Pebble reserves their memtables — each
	// Store holds at most two (one being written, one being flushed) of
	// Memory/8/Stores bytes each, but at least 256 KiB — so that blocks get
	// at least half. Zero means DefaultMemory.
	Memory int64
	// Stores is how many Stores share Memory at once; zero means one.
	Stores int

	// Incremental makes checkpoints (not savepoints) incremental: each
	// one stores only the files of the database that the previous one
	// does not hold (see checkpoint.go).
	Incremental bool

	// NoAutomaticCompactions turns Pebble's background compactions off, so
	// that the files of the database change only when a memtable is
	// flushed. Only for tests whose assertions depend on exactly which
	// files a checkpoint holds; a running job needs compactions.
	NoAutomaticCompactions bool

	// FS is the file system the databases are written through; nil means
	// the operating system's. Tests wrap it to inject faults (a disk that
	// fills up).
	FS vfs.FS
}

// Validate reports the first problem with the options, naming the field.
func (o Options) Validate() error {
	if o.Memory != 0 && o.Memory < MinMemory {
		return fmt.Errorf("pebble state: Memory: %d bytes is below the minimum %d", o.Memory, MinMemory)
	}
	if o.Stores < 0 {
		return fmt.Errorf("pebble state: Stores: %d is negative", o.Stores)
	}
	return nil
}

func (o Options) memory() int64 {
	if o.Memory == 0 {
		return DefaultMemory
	}
	return o.Memory
}

func (o Options) dir() string {
	if o.Dir == "" {
		return os.TempDir()
	}
	return o.Dir
}

// NewBackend returns the backend factory for o: each call opens a Store
// in a new working directory named after the operator subtask and
// returns a state.StoreBackend over it. The Stores it opens share
// o.Memory.
func NewBackend(o Options) func(state.Config) (state.Backend, error) {
	bud := newBudget(o)
	return func(cfg state.Config) (state.Backend, error) {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		if err := o.Validate(); err != nil {
			return nil, err
		}
		s, err := bud.open(fmt.Sprintf("%s-%d", cfg.OperatorID, cfg.Subtask))
		if err != nil {
			return nil, err
		}
		b, err := state.NewStoreBackend(cfg, s)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		b.SetFileCheckpoints(o.Incremental)
		b.SetValueCache(bud.valueCacheSize())
		return b, nil
	}
}

// Store is a state.Store in a Pebble database. It is used by one
// goroutine at a time, except that its views may be read and released on
// others.
type Store struct {
	db  *pdb.DB
	dir string
	bud *budget
	// buf holds the value Get returned last.
	buf []byte
	// upper is the scratch upper bound of Scan.
	upper []byte
	// first holds the key and value First returned last.
	first struct{ key, value []byte }
	// closed is set by Close; only the Store's goroutine reads it.
	closed bool
	// bg holds the first error met writing the database's files (a flush
	// or a compaction that cannot write its file, a disk that is full):
	// from then on every call fails with it, instead of writes stalling
	// behind memtables that can no longer be flushed.
	bg *backgroundError
	// fs is the database's file system, which records write errors in bg
	// (see spillFS).
	fs *spillFS

	mu struct {
		sync.Mutex
		// closed is Close's mark for the views: the database is closed
		// and the working directory removed once closed is set and views
		// is 0.
		closed bool
		views  int
	}
}

// quietLogger drops Pebble's informational messages (it announces WAL
// recovery and the like on every open) and keeps its errors.
type quietLogger struct{ pdb.Logger }

func (quietLogger) Infof(string, ...any) {}

// Open creates a working directory under o.Dir, named after name, and
// opens an empty Store in it, with o.Memory to itself.
func Open(o Options, name string) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.Stores = 1
	return newBudget(o).open(name)
}

func (bud *budget) open(name string) (*Store, error) {
	base := bud.o.dir()
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("pebble state: Dir: %w", err)
	}
	dir, err := os.MkdirTemp(base, "weir-state-"+fileSafe(name)+"-")
	if err != nil {
		return nil, fmt.Errorf("pebble state: working directory under %s: %w", base, err)
	}
	cache := bud.acquire()
	defer cache.Unref() // the database holds its own reference
	bg := &backgroundError{}
	fs := newSpillFS(bud.o.FS, bg.set)
	db, err := pdb.Open(dir, dbOptions(cache, bud, bg, fs))
	if err != nil {
		bud.release()
		return nil, errors.Join(fmt.Errorf("pebble state: open %s: %w", dir, err), os.RemoveAll(dir))
	}
	return &Store{db: db, dir: dir, bud: bud, bg: bg, fs: fs}, nil
}

// backgroundError keeps the first error of a Store's background work.
type backgroundError struct{ first atomic.Pointer[error] }

func (b *backgroundError) set(err error) { b.first.CompareAndSwap(nil, &err) }

// usable returns errClosed after Close, the background error once there is
// one, and nil otherwise.
func (s *Store) usable() error {
	if s.closed {
		return errClosed
	}
	if e := s.bg.first.Load(); e != nil {
		if errors.Is(*e, syscall.ENOSPC) {
			return fmt.Errorf("pebble state in %s: the disk is full, so the state cannot be kept: %w", s.dir, *e)
		}
		return fmt.Errorf("pebble state in %s: writing its files failed, so the state cannot be kept: %w", s.dir, *e)
	}
	return nil
}

// fileSafe keeps the characters of name that are safe in a file name on
// every system and replaces the others with '_'.
func fileSafe(name string) string {
	const maxLen = 64
	var b strings.Builder
	for _, r := range name {
		if b.Len() == maxLen {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Dir returns the Store's working directory.
func (s *Store) Dir() string { return s.dir }

var errClosed = errors.New("pebble state: store closed")

// Get implements state.Store. The value is valid until the next call to
// the Store.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	if err := s.usable(); err != nil {
		return nil, false, err
	}
	v, c, err := s.db.Get(key)
	if errors.Is(err, pdb.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pebble state: get: %w", err)
	}
	s.buf = append(s.buf[:0], v...)
	if err := c.Close(); err != nil {
		return nil, false, fmt.Errorf("pebble state: get: %w", err)
	}
	return s.buf, true, nil
}

// Set implements state.Store.
func (s *Store) Set(key, value []byte) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := s.db.Set(key, value, pdb.NoSync); err != nil {
		return fmt.Errorf("pebble state: set: %w", err)
	}
	return nil
}

// Delete implements state.Store.
func (s *Store) Delete(key []byte) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := s.db.Delete(key, pdb.NoSync); err != nil {
		return fmt.Errorf("pebble state: delete: %w", err)
	}
	return nil
}

// Scan implements state.Store.
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	if err := s.usable(); err != nil {
		return err
	}
	s.upper = appendSuccessor(s.upper[:0], prefix)
	it, err := s.db.NewIter(bounds(prefix, s.upper))
	if err != nil {
		return fmt.Errorf("pebble state: scan: %w", err)
	}
	return iterate(it, fn)
}

// First implements state.Store: an iterator bounded by the range, at its
// first entry. The key and value are valid until the next call to the
// Store.
func (s *Store) First(lower, upper []byte) (key, value []byte, ok bool, err error) {
	if err := s.usable(); err != nil {
		return nil, nil, false, err
	}
	// An empty lower bound is none: Pebble's invariant checks (on in race
	// builds) refuse to seek to an empty key.
	it, err := s.db.NewIter(bounds(lower, upper))
	if err != nil {
		return nil, nil, false, fmt.Errorf("pebble state: first: %w", err)
	}
	if ok = it.First(); ok {
		var v []byte
		if v, err = it.ValueAndErr(); err == nil {
			s.first.key = append(s.first.key[:0], it.Key()...)
			s.first.value = append(s.first.value[:0], v...)
		}
	}
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("pebble state: first: %w", err)
	}
	if !ok {
		return nil, nil, false, nil
	}
	return s.first.key, s.first.value, true, nil
}

// Snapshot implements state.Store: a Pebble snapshot, which keeps what
// it sees while the Store goes on being written, until it is released.
func (s *Store) Snapshot() (state.StoreView, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.views++
	r := &viewRef{s: s, snap: s.db.NewSnapshot()}
	v := &view{r: r}
	// A view dropped without Release frees its snapshot (and, after
	// Close, the database) once it is garbage.
	runtime.AddCleanup(v, (*viewRef).release, r)
	return v, nil
}

// Close implements state.Store: it closes the database and removes the
// working directory, at once or when the last open view is released.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.closed = true
	if s.mu.views > 0 {
		return nil
	}
	return s.closeLocked()
}

func (s *Store) closeLocked() error {
	err := s.db.Close()
	s.bud.release()
	if err != nil {
		err = fmt.Errorf("pebble state: close %s: %w", s.dir, err)
	}
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("pebble state: remove the working directory: %w", rerr))
	}
	return err
}

// unref ends a view; the last one after Close closes the database. An
// error then has no caller to go to; the working directory may remain.
func (s *Store) unref() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.views--
	if s.mu.closed && s.mu.views == 0 {
		_ = s.closeLocked()
	}
}

// view is a state.StoreView over a Pebble snapshot.
type view struct{ r *viewRef }

// viewRef is what a view holds, apart from the view so that a cleanup can
// release it.
type viewRef struct {
	s     *Store
	snap  *pdb.Snapshot
	once  sync.Once
	upper []byte
}

func (r *viewRef) release() {
	r.once.Do(func() {
		_ = r.snap.Close() // closing a snapshot only unlinks it
		r.s.unref()
	})
}

// Scan implements state.StoreView.
func (v *view) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	// The snapshot is open only while v is reachable: the cleanup that
	// releases a dropped view must not run before the scan ends.
	defer runtime.KeepAlive(v)
	r := v.r
	r.upper = appendSuccessor(r.upper[:0], prefix)
	it, err := r.snap.NewIter(bounds(prefix, r.upper))
	if err != nil {
		return fmt.Errorf("pebble state: scan a snapshot: %w", err)
	}
	return iterate(it, fn)
}

// Release implements state.StoreView.
func (v *view) Release() { v.r.release() }

// bounds returns the iterator options for the keys starting with prefix,
// where upper is the prefix's successor (nil when there is none).
func bounds(prefix, upper []byte) *pdb.IterOptions {
	o := &pdb.IterOptions{}
	if len(prefix) > 0 {
		o.LowerBound = prefix
	}
	if upper != nil {
		o.UpperBound = upper
	}
	return o
}

// appendSuccessor appends to dst the smallest key greater than every key
// starting with prefix, and returns nil when there is none (prefix is
// empty or all 0xff).
func appendSuccessor(dst, prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			dst = append(dst, prefix[:i+1]...)
			dst[len(dst)-1]++
			return dst
		}
	}
	return nil
}

// iterate calls fn with the iterator's entries in order until it returns
// false, and closes the iterator.
func iterate(it *pdb.Iterator, fn func(key, value []byte) bool) (err error) {
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("pebble state: scan: %w", cerr)
		}
	}()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("pebble state: scan: %w", err)
		}
		if !fn(it.Key(), v) {
			return nil
		}
	}
	return nil
}
