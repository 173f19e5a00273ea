package state

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is the heap state backend: tables keep typed Go values in one Go
// map per key group, so reads and writes cost about as much as a map
// operation and nothing is encoded until a snapshot is written out.
//
// Snapshots are copy-on-write per entry. Every key-group map carries the
// epoch it was last written in place; Snapshot captures references to the
// current maps, records its epoch as held and starts a new epoch. A map, or
// a nested entry, whose epoch is no newer than that of a snapshot not yet
// released may be read by that snapshot and is never written. Writes to
// such a key group go to a small overlay of its own (the entries written,
// and tombstones for the keys deleted), which reads consult before the
// captured map; once every snapshot that may read the map is released, the
// next write to the key group folds the overlay into the map in place. So
// the work a snapshot adds is proportional to what is written while it is
// held, never to the size of a key group. A snapshot written with
// WriteAndRelease stops holding each key group of a table once it has
// encoded it (see holdsGroup), so overlays hold only writes to the key
// groups it has not written yet, and they are folded one key group at a
// time while it writes the rest. The nested maps of map tables and
// the entries of key-first and split-key tables carry epochs of their own
// and are copied, one entry at a time, before their first write while a
// snapshot may read them; a namespace of a namespaced table gets an overlay
// of its own instead (see nsEntries). Lists are slices whose elements below
// their length are never written again: Add may append past the end of a
// slice a snapshot holds, which the snapshot never reads, and Update builds
// a new slice.
//
// A snapshot taken while an older one is still held folds each overlay into
// a copy of its key group's map (the old snapshot keeps the original), a
// cost proportional to the key groups written since the older snapshot.
// The runtime writes one checkpoint at a time and releases each snapshot
// once written, so this is rare; a snapshot that is never released costs
// only that, and is released when it becomes garbage.
//
// Values put into a table are held as they are, not copied: a value that
// refers to memory (a pointer, slice or map) must not be changed after it is
// put, or snapshots taken before the change may see it.
//
// A Memory is used by its task's goroutine only; see Backend.
type Memory struct {
	cfg   Config
	clock func() time.Time
	// epoch is the current snapshot epoch: a map or entry whose epoch is
	// older may be held by a snapshot (see holds) and is not written.
	epoch    uint64
	held     heldEpochs
	closed   bool
	names    map[string]memTable
	tables   []memTable // in creation order
	expiring []memTable // the tables with a TTL, in creation order
	restoring
	// sweep is where ExpireSome resumes: an index into expiring and a key
	// group offset.
	sweep struct{ table, group int }
	// onSnapshot are the functions Snapshot calls first.
	onSnapshot []func() error
}

// memTable is what the backend needs from its tables beyond their typed
// methods.
type memTable interface {
	// freeze captures the table for a snapshot; the caller then starts a
	// new epoch.
	freeze() frozenTable
	// expireGroup removes up to budget expired entries of the key group at
	// offset i, and reports whether it looked at all of them.
	expireGroup(i int, now int64, budget int) (removed, examined int, done bool)
	// release drops the table's state when the backend closes.
	release()
}

// sweepScanFactor bounds how many live entries one ExpireSome call looks
// at, as a multiple of its budget, so a call on a large state with little
// expired costs about what its budget suggests.
const sweepScanFactor = 16

// NewMemory returns an empty heap backend for the subtask cfg describes.
func NewMemory(cfg Config) (*Memory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Memory{
		cfg:   cfg,
		clock: cfg.Clock,
		epoch: 1,
		names: make(map[string]memTable),
	}
	if b.clock == nil {
		b.clock = time.Now
	}
	return b, nil
}

// Config returns the configuration the backend was opened with.
func (b *Memory) Config() Config { return b.cfg }

func (b *Memory) now() int64 { return b.clock().UnixNano() }

// Snapshot captures every table in time proportional to the number of
// tables times the number of key groups, whatever the amount of state.
func (b *Memory) Snapshot() (Snapshot, error) {
	if b.closed {
		return nil, ErrClosed
	}
	for _, f := range b.onSnapshot {
		if err := f(); err != nil {
			return nil, err
		}
	}
	s := &memSnapshot{hdr: headerOf(b.cfg), now: b.now()}
	// Each table created so far gets a progress marker, which
	// WriteAndRelease advances past each key group once it has encoded it.
	marks := make([]atomic.Int32, len(b.tables))
	type part struct {
		t    frozenTable
		mark *atomic.Int32
	}
	parts := make([]part, 0, len(b.tables)+len(b.raw))
	for ord, t := range b.tables {
		parts = append(parts, part{t.freeze(), &marks[ord]})
	}
	for _, t := range b.raw {
		parts = append(parts, part{t: t})
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.t.header().name, b.t.header().name) })
	s.tables = make([]frozenTable, len(parts))
	s.marks = make([]*atomic.Int32, len(parts))
	for j, p := range parts {
		s.tables[j], s.marks[j] = p.t, p.mark
	}
	// The hold is added only now: freezing must not see the new snapshot
	// as holding what it folds.
	s.hold = b.held.add(b.epoch, marks)
	// A snapshot dropped without Release stops holding its epoch when it
	// becomes garbage; the cleanup refers to the hold, not to s.
	runtime.AddCleanup(s, (*heldEpoch).release, s.hold)
	b.epoch++
	return s, nil
}

type memSnapshot struct {
	hdr    snapHeader
	now    int64
	tables []frozenTable
	// marks are the progress markers of tables, nil for restored tables
	// not created yet (the task never writes those).
	marks []*atomic.Int32
	hold  *heldEpoch
	// once guards WriteAndRelease.
	once atomic.Bool
}

// WriteTo writes the snapshot; it may be called again, also after Release,
// but a snapshot written after Release may show writes made since it was
// taken.
func (s *memSnapshot) WriteTo(w io.Writer) (int64, error) {
	// The maps being read are held only while s is reachable: the cleanup
	// that releases a dropped snapshot must not run before the write ends.
	defer runtime.KeepAlive(s)
	return writeSnapshot(w, s.hdr, s.tables, s.now, nil)
}

// WriteAndRelease writes the snapshot once, releasing each key group of
// each table as soon as its section is encoded, so that the task writes in
// place again, and folds the overlay of, every key group already written
// while the rest is still being written. It releases the whole snapshot
// when it returns, also on error. The snapshot must not be written again.
func (s *memSnapshot) WriteAndRelease(w io.Writer) (int64, error) {
	defer s.Release()
	if s.once.Swap(true) {
		return 0, errors.New("state: snapshot written again after WriteAndRelease")
	}
	return writeSnapshot(w, s.hdr, s.tables, s.now, s.marks)
}

// Release tells the backend that the snapshot will not be written again,
// so the task may write the maps it captured in place. It may be called
// from any goroutine, more than once.
func (s *memSnapshot) Release() { s.hold.release() }

// heldEpochs records the snapshots not yet released. The task's goroutine
// adds to it; Release, on whichever goroutine writes the snapshot, removes
// from it.
type heldEpochs struct {
	// newest is the newest epoch held, 0 when none, and list the holds in
	// increasing epoch order (never changed, only replaced): what the task
	// reads on its write path, without the lock.
	newest atomic.Uint64
	list   atomic.Pointer[[]*heldEpoch]
	mu     sync.Mutex // serializes add and release
}

// heldEpoch is one snapshot's hold on its epoch.
type heldEpoch struct {
	set   *heldEpochs
	epoch uint64
	done  atomic.Bool
	// marks has one progress marker per table created before the
	// snapshot, by creation order: the number of the table's key groups,
	// from the first, that the snapshot has finished reading. Only
	// WriteAndRelease advances them.
	marks []atomic.Int32
}

func (h *heldEpochs) add(epoch uint64, marks []atomic.Int32) *heldEpoch {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := &heldEpoch{set: h, epoch: epoch, marks: marks}
	var list []*heldEpoch
	if p := h.list.Load(); p != nil {
		list = slices.Clone(*p)
	}
	list = append(list, e)
	h.list.Store(&list)
	h.newest.Store(epoch)
	return e
}

func (e *heldEpoch) release() {
	if e.done.Swap(true) {
		return
	}
	h := e.set
	h.mu.Lock()
	defer h.mu.Unlock()
	var list []*heldEpoch
	if p := h.list.Load(); p != nil {
		list = slices.DeleteFunc(slices.Clone(*p), func(x *heldEpoch) bool { return x == e })
	}
	var newest uint64
	if n := len(list); n > 0 {
		newest = list[n-1].epoch
	}
	h.list.Store(&list)
	h.newest.Store(newest)
}

// passed reports whether the snapshot has finished reading the key group at
// offset i of the table created ord-th.
func (e *heldEpoch) passed(ord, i int) bool {
	return ord < len(e.marks) && int64(i) < int64(e.marks[ord].Load())
}

// holdsGroup reports whether a snapshot not yet released may read a map or
// entry of the key group at offset i of the table created ord-th, last
// written in place in epoch: one taken in that epoch or later that has not
// finished reading that key group. Epoch 0 marks what was never captured.
// It runs only on the slow path of a write (a key group or entry not
// written since the last snapshot), and costs an atomic load when no
// snapshot is held.
func (b *Memory) holdsGroup(epoch uint64, ord, i int) bool {
	if epoch == 0 || epoch > b.held.newest.Load() {
		return false
	}
	p := b.held.list.Load()
	if p == nil {
		return false
	}
	for _, h := range *p {
		if epoch <= h.epoch && !h.passed(ord, i) {
			return true
		}
	}
	return false
}

// OnSnapshot implements Backend.
func (b *Memory) OnSnapshot(f func() error) { b.onSnapshot = append(b.onSnapshot, f) }

// Restore reads the parts of the snapshots it needs and verifies their
// checksums before it keeps anything, so a torn snapshot leaves the backend
// as it was. The entries stay encoded until the operator creates their
// tables, which decodes them one key group per goroutine, up to
// Config.RestoreWorkers at once.
func (b *Memory) Restore(snapshots []SnapshotFile) error {
	return b.restoring.restore(b.closed, len(b.names), snapshots, b.cfg)
}

// ExpireSome sweeps the key groups of the tables with a TTL in order,
// resuming where the previous call stopped. It stops after removing budget
// entries or after looking at sweepScanFactor times budget entries (but
// always finishes at least one key group), so repeated calls visit every
// key group of every table.
func (b *Memory) ExpireSome(budget int) int {
	groups := b.cfg.KeyGroups.Len()
	if b.closed || budget <= 0 || len(b.expiring) == 0 || groups == 0 {
		return 0
	}
	now := b.now()
	removed, examined := 0, 0
	scanLimit := budget * sweepScanFactor
	if budget > math.MaxInt/sweepScanFactor {
		scanLimit = math.MaxInt
	}
	for range len(b.expiring) * groups {
		if b.sweep.table >= len(b.expiring) {
			b.sweep.table, b.sweep.group = 0, 0
		}
		r, e, done := b.expiring[b.sweep.table].expireGroup(b.sweep.group, now, budget-removed)
		removed += r
		examined += e
		if !done {
			// The budget ran out inside this key group; resume in it.
			return removed
		}
		if b.sweep.group++; b.sweep.group == groups {
			b.sweep.table, b.sweep.group = b.sweep.table+1, 0
		}
		if removed >= budget || examined >= scanLimit {
			break
		}
	}
	return removed
}

// Close drops all state. Snapshots taken before keep what they captured.
func (b *Memory) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	for _, t := range b.tables {
		t.release()
	}
	b.names, b.tables, b.expiring, b.raw, b.onSnapshot = nil, nil, nil, nil, nil
	return nil
}

// register adds a created table, filling it first from the restored state
// of the same name.
// layout is the table's (see layout.go): restored values written with
// another are migrated to it first.
func (b *Memory) register(name string, kind tableKind, ttl time.Duration, layout []byte, t memTable, load func(*rawTable) error) error {
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.names[name]; ok {
		return fmt.Errorf("%w: %q", ErrExists, name)
	}
	if raw, ok := b.raw[name]; ok {
		if raw.kind != kind {
			return fmt.Errorf("state: table %q was restored as a %s table but is created as a %s table", name, raw.kind, kind)
		}
		raw, err := migrateRaw(raw, layout)
		if err != nil {
			return err
		}
		if err := load(raw); err != nil {
			return err
		}
		delete(b.raw, name)
	}
	b.names[name] = t
	b.tables = append(b.tables, t)
	if ttl > 0 {
		b.expiring = append(b.expiring, t)
	}
	return nil
}
