package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"
)

// Store is the byte-level storage a backend that keeps state outside the Go
// heap implements: one ordered map from byte keys to byte values per
// operator subtask, with consistent read-only views for snapshots. An LSM
// (Pebble) implements it directly; StoreBackend turns it into a Backend,
// and the table constructors reach it through typed adapters that encode
// with the descriptors' codecs.
//
// StoreBackend lays the keys out so that everything it asks of a Store is
// a point operation, an ordered scan of a prefix or the first entry of a
// range (the front of the timers' time-ordered index, see NewTimers):
// each key starts with a table ID and a key group (big endian, so a key
// group's entries are contiguous and key groups come in order), then the
// namespace, the key and the user key, each length-prefixed. A namespace of a key group (a
// window's entries) and a key's map entries are therefore each one prefix
// scan, in the byte order of their encodings.
//
// A Store is used by one goroutine at a time, except that a StoreView may
// be read by another goroutine while the Store is written.
type Store interface {
	// Get returns the value of key. The value is valid until the next
	// call to the Store; the caller does not modify it.
	Get(key []byte) (value []byte, ok bool, err error)
	// Set stores value under key, replacing any value there. The Store
	// copies both; the caller may reuse them.
	Set(key, value []byte) error
	// Delete removes key; removing a missing key is not an error.
	Delete(key []byte) error
	// Scan calls fn with each entry whose key starts with prefix, in
	// increasing byte order of keys, until fn returns false. The slices
	// are valid during the call only. The Store is not written during a
	// Scan.
	Scan(prefix []byte, fn func(key, value []byte) bool) error
	// First returns the entry with the smallest key at or above lower
	// and below upper (no upper bound when upper is nil); ok is false
	// when the range is empty. It is one seek however many entries the
	// range holds, so a time-ordered index is read from its front
	// without collecting it. The slices are valid until the next call
	// to the Store; the caller does not modify them.
	First(lower, upper []byte) (key, value []byte, ok bool, err error)
	// Snapshot returns a consistent read-only view of the Store as it is
	// now, unaffected by later writes.
	Snapshot() (StoreView, error)
	// Close releases the Store; views taken before stay readable until
	// they are released.
	Close() error
}

// StoreView is a read-only image of a Store taken by Store.Snapshot.
type StoreView interface {
	// Scan is Store.Scan on the image.
	Scan(prefix []byte, fn func(key, value []byte) bool) error
	// Release frees the image; it is not read afterwards.
	Release()
}

// StoreBackend is a Backend over a Store: it keeps the catalog of tables
// and operator lists, writes and reads the shared snapshot format
// (FORMAT.md) by scanning the Store one key group at a time, and hands
// restored entries to the Store as they were written, checking them with
// the table's codecs when the operator creates the table.
//
// Operator lists, which are small and not partitioned by key group, are
// kept on the heap as encoded entries.
//
// A StoreBackend is used by its task's goroutine only; see Backend.
type StoreBackend struct {
	cfg   Config
	clock func() time.Time
	store Store

	closed bool
	// err is the first error met where a method could not return one (an
	// iterator); Snapshot and later table calls report it.
	err error

	nextID   uint32
	names    map[string]storeEntry
	tables   []*storeTable // keyed tables in creation order
	expiring []*storeTable // the tables with a TTL, in creation order
	lists    []*storeOpList
	restoring
	// sweep is where ExpireSome resumes: an index into tables and a key
	// group offset.
	sweep      struct{ table, group int }
	onSnapshot []func() error
	// files is what file checkpoints need (storefiles.go).
	files storeFiles
	// cache is the budget of the value tables' caches (storecache.go)
	// and how many tables share it.
	cache struct {
		bytes  int64
		tables int
	}
}

// storeEntry is a name in the catalog: a keyed table or an operator list.
type storeEntry struct {
	table *storeTable
	list  *storeOpList
}

// NewStoreBackend returns a backend for the subtask cfg describes keeping
// its keyed state in s, which must be empty. The backend owns s and closes
// it.
func NewStoreBackend(cfg Config, s Store) (*StoreBackend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("state: NewStoreBackend: Store is nil")
	}
	b := &StoreBackend{cfg: cfg, clock: cfg.Clock, store: s, names: make(map[string]storeEntry), nextID: 1}
	if b.clock == nil {
		b.clock = time.Now
	}
	return b, nil
}

// Config returns the configuration the backend was opened with.
func (b *StoreBackend) Config() Config { return b.cfg }

func (b *StoreBackend) now() int64 { return b.clock().UnixNano() }

// fail keeps the first error met inside an iterator, which has no way to
// return it.
func (b *StoreBackend) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// OnSnapshot implements Backend.
func (b *StoreBackend) OnSnapshot(f func() error) { b.onSnapshot = append(b.onSnapshot, f) }

// Snapshot flushes what tables hold back (a Namespaced slot), takes a view
// of the Store and returns a snapshot that scans it when written out. The
// snapshot has a Release method that frees the view.
func (b *StoreBackend) Snapshot() (Snapshot, error) {
	if err := b.prepareSnapshot(); err != nil {
		return nil, err
	}
	view, err := b.store.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("state: snapshot of the store: %w", err)
	}
	s := &storeSnapshot{hdr: headerOf(b.cfg), now: b.now(), view: view}
	for _, t := range b.tables {
		s.tables = append(s.tables, &frozenStoreTable{view: view, t: t.meta})
	}
	for _, m := range b.files.native {
		s.tables = append(s.tables, &frozenStoreTable{view: view, t: m})
	}
	s.tables = append(s.tables, b.partTables()...)
	slices.SortFunc(s.tables, func(a, b frozenTable) int { return cmp.Compare(a.header().name, b.header().name) })
	return s, nil
}

// prepareSnapshot runs the OnSnapshot functions and writes what tables
// hold back, before the Store is captured.
func (b *StoreBackend) prepareSnapshot() error {
	if b.closed {
		return ErrClosed
	}
	for _, f := range b.onSnapshot {
		if err := f(); err != nil {
			return err
		}
	}
	for _, t := range b.tables {
		if err := t.flush(); err != nil {
			return err
		}
		if t.writeBack != nil {
			if err := t.writeBack(); err != nil {
				return fmt.Errorf("state: table %q: write back cached entries: %w", t.meta.name, err)
			}
		}
	}
	return b.err
}

// SetValueCache gives the value and list tables created afterwards (those
// without a TTL) a cache of decoded entries in front of the Store, of about bytes
// of memory shared among them (see storecache.go); 0, the default, turns
// it off.
func (b *StoreBackend) SetValueCache(bytes int64) { b.cache.bytes = max(bytes, 0) }

type storeSnapshot struct {
	hdr    snapHeader
	now    int64
	tables []frozenTable

	mu   sync.Mutex
	view StoreView // nil once released
}

// WriteTo writes the snapshot; it may be called again, until Release.
func (s *storeSnapshot) WriteTo(w io.Writer) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.view == nil {
		return 0, errors.New("state: snapshot of a store backend written after Release")
	}
	return writeSnapshot(w, s.hdr, s.tables, s.now, nil)
}

// Release frees the Store view the snapshot reads. A snapshot that is
// never released keeps its view until it is garbage: free for a heap
// store, a pinned version for an LSM.
func (s *storeSnapshot) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.view != nil {
		s.view.Release()
		s.view = nil
	}
}

// Restore reads and verifies the snapshots like Memory.Restore. Keyed
// entries go into the Store when the operator creates their table, with
// the table's TTL, so that a table restored with another TTL or kind is
// handled as the memory backend handles it.
func (b *StoreBackend) Restore(snapshots []SnapshotFile) error {
	return b.restoring.restore(b.closed, len(b.names), snapshots, b.cfg)
}

// ExpireSome sweeps the key groups of the tables with a TTL in order,
// resuming where the previous call stopped, with the budget and scan
// limit of Memory.ExpireSome.
func (b *StoreBackend) ExpireSome(budget int) int {
	groups := b.cfg.KeyGroups.Len()
	expiring := b.expiring
	if b.closed || budget <= 0 || len(expiring) == 0 || groups == 0 {
		return 0
	}
	now := b.now()
	removed, examined := 0, 0
	scanLimit := budget * sweepScanFactor
	if budget > math.MaxInt/sweepScanFactor {
		scanLimit = math.MaxInt
	}
	for range len(expiring) * groups {
		if b.sweep.table >= len(expiring) {
			b.sweep.table, b.sweep.group = 0, 0
		}
		r, e, done := expiring[b.sweep.table].expireGroup(b.cfg.KeyGroups.Start+b.sweep.group, now, budget-removed)
		removed += r
		examined += e
		if !done {
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

// Close closes the Store. Snapshots taken before keep their views.
func (b *StoreBackend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.names, b.tables, b.expiring, b.lists, b.raw, b.onSnapshot = nil, nil, nil, nil, nil, nil
	if err := b.store.Close(); err != nil {
		return fmt.Errorf("state: close store: %w", err)
	}
	return nil
}

// storeMeta is what a snapshot needs to know of a keyed table; it does not
// change after the table is created.
type storeMeta struct {
	name string
	id   uint32
	kind tableKind
	ttl  int64
	kgs  KeyGroupRange
	// layout is the table's (see layout.go).
	layout []byte
}

// storeTable is a keyed table's place in a StoreBackend: its key prefix
// and the hooks of its typed adapter.
type storeTable struct {
	meta storeMeta
	b    *StoreBackend
	// hold is a typed adapter's write held back (Namespaced.Slot's value),
	// written before any other use of the table and before a snapshot.
	hold func() error
	// writeBack writes a cached table's dirty entries (storecache.go)
	// into the Store before a snapshot.
	writeBack func() error
}

func (t *storeTable) flush() error {
	if t.hold == nil {
		return nil
	}
	return t.hold()
}

// register adds a created keyed table and moves its restored entries, if
// any, into the Store; check decodes each restored entry with the table's
// codecs so a mismatch fails the creation, as it does in Memory.
func (b *StoreBackend) register(name string, kind tableKind, ttl time.Duration, layout []byte, check func(rr *recordReader, rec record) error) (*storeTable, error) {
	if b.closed {
		return nil, ErrClosed
	}
	if _, ok := b.names[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrExists, name)
	}
	id, native, err := b.claimNative(name, kind, ttl, layout)
	if err != nil {
		return nil, err
	}
	if !native {
		if b.nextID == math.MaxUint32 {
			return nil, fmt.Errorf("state: table %q: too many tables", name)
		}
		id = b.nextID
	}
	t := &storeTable{b: b, meta: storeMeta{name: name, id: id, kind: kind, ttl: int64(ttl), kgs: b.cfg.KeyGroups, layout: layout}}
	raw, restored := b.raw[name]
	if restored && raw.kind != kind {
		return nil, fmt.Errorf("state: table %q was restored as a %s table but is created as a %s table", name, raw.kind, kind)
	}
	if restored {
		var err error
		if raw, err = migrateRaw(raw, layout); err != nil {
			return nil, err
		}
	}
	if !native {
		b.nextID++
		if err := b.writeCatalog(t.meta); err != nil {
			return nil, err
		}
	}
	if restored {
		if err := t.load(raw, check); err != nil {
			return nil, err
		}
		delete(b.raw, name)
	}
	b.names[name] = storeEntry{table: t}
	b.tables = append(b.tables, t)
	if ttl > 0 {
		b.expiring = append(b.expiring, t)
	}
	return t, nil
}

// registerList adds a created operator list with its restored entries.
func (b *StoreBackend) registerList(name string, mode Redistribution, layout []byte) (*storeOpList, [][]byte, error) {
	if b.closed {
		return nil, nil, ErrClosed
	}
	if _, ok := b.names[name]; ok {
		return nil, nil, fmt.Errorf("%w: %q", ErrExists, name)
	}
	l := &storeOpList{b: b, name: name, mode: mode, layout: layout}
	var restored [][]byte
	if raw, ok := b.raw[name]; ok {
		if raw.kind != kindOperatorList {
			return nil, nil, fmt.Errorf("state: table %q was restored as a %s table but is created as a %s table", name, raw.kind, kindOperatorList)
		}
		raw, err := migrateRaw(raw, layout)
		if err != nil {
			return nil, nil, err
		}
		restored = raw.entries
		delete(b.raw, name)
	}
	b.names[name] = storeEntry{list: l}
	b.lists = append(b.lists, l)
	return l, restored, nil
}

// storeOpList is an operator list of a StoreBackend: its entries encoded,
// replaced whole by Update, so a snapshot may hold them.
type storeOpList struct {
	b       *StoreBackend
	name    string
	mode    Redistribution
	layout  []byte
	entries [][]byte
}

// --- physical keys ---

// groupPrefix appends the prefix of key group kg of table id.
func groupPrefix(dst []byte, id uint32, kg int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, id)
	return binary.BigEndian.AppendUint32(dst, uint32(kg))
}

// appendField appends p length-prefixed, as fields are in the snapshot
// format, so that no field's encoding is a prefix of another's.
func appendField(dst, p []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(p)))
	return append(dst, p...)
}

// splitField reads a length-prefixed field from the front of p.
func splitField(p []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}

// storeKey is a physical key taken apart.
type storeKey struct{ ns, key, uk []byte }

// parseKey takes apart the part of a physical key after the group prefix.
func parseKey(suffix []byte, kind tableKind) (storeKey, bool) {
	var k storeKey
	var ok bool
	if k.ns, suffix, ok = splitField(suffix); !ok {
		return k, false
	}
	if k.key, suffix, ok = splitField(suffix); !ok {
		return k, false
	}
	if kind == kindMap {
		if k.uk, suffix, ok = splitField(suffix); !ok {
			return k, false
		}
	}
	return k, len(suffix) == 0
}

// stampedValue splits a stored value into its last-write time (when the
// table has a TTL) and its encoding.
func stampedValue(v []byte, ttl int64) (at int64, enc []byte, ok bool) {
	if ttl == 0 {
		return 0, v, true
	}
	if len(v) < 8 {
		return 0, nil, false
	}
	return int64(binary.LittleEndian.Uint64(v)), v[8:], true
}

func (m *storeMeta) expired(at, now int64) bool { return m.ttl > 0 && now-at >= m.ttl }

func (m *storeMeta) corrupt(kg int, key []byte) error {
	return fmt.Errorf("state: table %q: key group %d: malformed stored entry %x", m.name, kg, key)
}

// load moves a restored table's entries into the Store, with the TTL rules
// of the memory backend: entries of a table written without a TTL count as
// written now, expired ones are dropped.
func (t *storeTable) load(raw *rawTable, check func(rr *recordReader, rec record) error) error {
	now := int64(0)
	if t.meta.ttl > 0 {
		now = t.b.now()
	}
	var key, val []byte
	for _, s := range raw.sections {
		if !t.meta.kgs.Contains(s.kg) {
			return fmt.Errorf("state: table %q: restored key group %d outside the backend's range %s", t.meta.name, s.kg, t.meta.kgs)
		}
		rr := &recordReader{t: raw, s: s}
		for range s.count {
			rec, err := rr.record()
			if err != nil {
				return err
			}
			at := rec.at
			switch {
			case t.meta.ttl == 0:
				at = 0
			case raw.ttl == 0:
				at = now
			case t.meta.expired(at, now):
				continue
			}
			if err := check(rr, rec); err != nil {
				return err
			}
			key = appendField(appendField(groupPrefix(key[:0], t.meta.id, s.kg), rec.ns), rec.key)
			if t.meta.kind == kindMap {
				key = appendField(key, rec.uk)
			}
			val = val[:0]
			if t.meta.ttl > 0 {
				val = binary.LittleEndian.AppendUint64(val, uint64(at))
			}
			if t.meta.kind == kindList {
				val, err = t.loadList(key, val, rec.value)
			} else {
				err = t.b.store.Set(key, append(val, rec.value...))
			}
			if err != nil {
				return fmt.Errorf("state: table %q: restore key group %d: %w", t.meta.name, s.kg, err)
			}
		}
	}
	return nil
}

// expireGroup removes up to budget expired entries of key group kg.
func (t *storeTable) expireGroup(kg int, now int64, budget int) (removed, examined int, done bool) {
	if err := t.flush(); err != nil {
		t.b.fail(err)
		return 0, 0, true
	}
	// dead holds the keys to delete: the expired entries and, in a list
	// table, the elements of each expired list's head, which follow it in
	// the scan and go with it past the budget, so that no element
	// outlives its head. entries counts the expired entries (heads).
	var dead [][]byte
	entries := 0
	done = true
	list := t.meta.kind == kindList
	var deadHead []byte
	err := t.b.store.Scan(groupPrefix(nil, t.meta.id, kg), func(k, v []byte) bool {
		if list && isListElement(k) {
			if deadHead != nil && bytes.HasPrefix(k, deadHead) {
				dead = append(dead, slices.Clone(k))
			}
			return true
		}
		examined++
		deadHead = nil
		at, _, ok := stampedValue(v, t.meta.ttl)
		if ok && !t.meta.expired(at, now) {
			return true
		}
		if entries == budget {
			done = false
			return false
		}
		dead = append(dead, slices.Clone(k))
		entries++
		if list {
			deadHead = dead[len(dead)-1]
		}
		return true
	})
	if err != nil {
		t.b.fail(fmt.Errorf("state: table %q: expire key group %d: %w", t.meta.name, kg, err))
		return 0, examined, true
	}
	for _, k := range dead {
		if err := t.b.store.Delete(k); err != nil {
			t.b.fail(fmt.Errorf("state: table %q: expire key group %d: %w", t.meta.name, kg, err))
			return removed, examined, true
		}
		if !list || !isListElement(k) {
			removed++
		}
	}
	return removed, examined, done
}

// frozenStoreTable is a keyed table in a snapshot: a view of the Store,
// scanned one key group at a time when the snapshot is written.
type frozenStoreTable struct {
	view StoreView
	t    storeMeta
}

func (f *frozenStoreTable) header() tableHeader {
	return tableHeader{name: f.t.name, kind: f.t.kind, ttl: time.Duration(f.t.ttl), layout: f.t.layout}
}

func (f *frozenStoreTable) writeBody(w *snapWriter, now int64) error {
	var prefix []byte
	// The section count comes first, so a first pass finds the key groups
	// with live entries.
	var groups []int
	for kg := f.t.kgs.Start; kg < f.t.kgs.End; kg++ {
		live := false
		prefix = groupPrefix(prefix[:0], f.t.id, kg)
		err := f.view.Scan(prefix, func(k, v []byte) bool {
			if f.t.kind == kindList && isListElement(k) {
				return true
			}
			at, _, ok := stampedValue(v, f.t.ttl)
			live = !ok || !f.t.expired(at, now)
			return !live
		})
		if err != nil {
			return fmt.Errorf("key group %d: %w", kg, err)
		}
		if live {
			groups = append(groups, kg)
		}
	}
	w.keyedHeader(time.Duration(f.t.ttl), len(groups))
	for _, kg := range groups {
		w.sec.reset()
		prefix = groupPrefix(prefix[:0], f.t.id, kg)
		var bad error
		s := &w.sec
		if f.t.kind == kindList {
			err := f.writeLists(s, kg, prefix, now)
			if err == nil {
				err = w.section(kg)
			}
			if err != nil {
				return fmt.Errorf("key group %d: %w", kg, err)
			}
			continue
		}
		err := f.view.Scan(prefix, func(k, v []byte) bool {
			sk, ok := parseKey(k[len(prefix):], f.t.kind)
			at, enc, vok := stampedValue(v, f.t.ttl)
			if !ok || !vok {
				bad = f.t.corrupt(kg, k)
				return false
			}
			if f.t.expired(at, now) {
				return true
			}
			s.begin(nil)
			s.field(sk.key)
			s.field(sk.ns)
			if f.t.kind == kindMap {
				s.field(sk.uk)
			}
			s.keyDone()
			s.field(enc)
			if f.t.ttl > 0 {
				s.stamp(at)
			}
			s.end()
			return true
		})
		if err == nil {
			err = bad
		}
		if err != nil {
			return fmt.Errorf("key group %d: %w", kg, err)
		}
		if err := w.section(kg); err != nil {
			return err
		}
	}
	return w.err
}
