package state

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// FileStore is a Store that can capture its contents as the files of its
// own format and be opened again from them: an LSM, whose table files
// never change once written, so that consecutive checkpoints share most of
// them (incremental checkpoints). A StoreBackend over a FileStore keeps its
// catalog of tables in the Store too, under table ID 0, so that the files
// alone say which table is which.
type FileStore interface {
	Store
	// FileFormat names the format of the files ("pebble"); a restore hands
	// a FileStore only files of its format.
	FileFormat() string
	// CheckpointFiles captures the Store's contents as they are now into
	// a new directory and returns it with its files. It runs on the task
	// goroutine at the barrier, so it must be cheap (hard links where it
	// can); the caller removes the directory.
	CheckpointFiles() (dir string, files []StoreFile, err error)
	// ScratchDir returns a new empty directory on the Store's file system,
	// for files to restore; the caller removes it unless it hands it to
	// LoadFiles.
	ScratchDir() (string, error)
	// LoadFiles makes the database in dir, written by CheckpointFiles of
	// a Store of the same format, the Store's contents. The Store must be
	// empty; it takes dir over.
	LoadFiles(dir string) error
	// OpenFiles opens the database in dir read-only; the view's Release
	// closes it and leaves dir.
	OpenFiles(dir string) (StoreView, error)
	// DeleteRange removes every key at or above lower and below upper, at
	// a cost that does not grow with the number of keys (a range
	// tombstone).
	DeleteRange(lower, upper []byte) error
}

// StoreFile is a file of a FileStore's checkpoint.
type StoreFile struct {
	// Name is the file's name in the checkpoint's directory.
	Name string
	// Size is its length in bytes.
	Size int64
	// Immutable says the Store never writes another file of this name with
	// other contents — not after a LoadFiles of it either —, so a
	// checkpoint may refer to the copy an earlier one made.
	Immutable bool
}

// FileSnapshot is a Snapshot that can also be written as the files of its
// backend's own format, which a backend that implements FileRestorer
// restores; WriteTo still writes the snapshot format. A StoreBackend over a
// FileStore takes one for a checkpoint when SetFileCheckpoints is on.
type FileSnapshot interface {
	Snapshot
	// Files describes the files.
	Files() NativeFiles
	// OpenFile opens one of the files for reading.
	OpenFile(name string) (io.ReadCloser, error)
	// WritePart writes, in the snapshot format, what the files leave out:
	// the operator lists and restored tables that the operator has not
	// created.
	WritePart(w io.Writer) (int64, error)
}

// NativeFiles describes a FileSnapshot's files.
type NativeFiles struct {
	// Format names the backend format.
	Format string
	// KeyGroups is the range of the subtask that wrote them.
	KeyGroups KeyGroupRange
	Files     []NativeFile
}

// NativeFile is one file of a native snapshot.
type NativeFile struct {
	// Name is the file's name in the backend's directory.
	Name string
	// Size is its length in bytes.
	Size int64
	// Ref, for a file that can be shared between checkpoints, is a name
	// unique to its contents and valid as a checkpoint file name: the
	// same file in the next snapshot has the same Ref (also after a
	// restore that took the files over), and no other file ever has it.
	// It is empty for a file that must be stored with each checkpoint.
	Ref string
}

// RestoreSource is one old subtask's state for FileRestorer.RestoreFiles:
// a snapshot in the snapshot format, and for a native snapshot its files.
type RestoreSource struct {
	// SnapshotFile is the snapshot, or for a native one the part
	// FileSnapshot.WritePart wrote.
	SnapshotFile
	// Native is nil for a snapshot in the snapshot format.
	Native *NativeSource
}

// NativeSource is the files of a native snapshot to restore.
type NativeSource struct {
	NativeFiles
	// Fetch copies the file f into the file at path, checking what it
	// copies (a size or checksum that differs from what was written is an
	// error naming the file and the checkpoint).
	Fetch func(f NativeFile, path string) error
}

// FileRestorer is implemented by a backend that restores native snapshots
// besides those in the snapshot format.
type FileRestorer interface {
	// RestoreFiles is Backend.Restore for sources of which some are
	// native.
	RestoreFiles(sources []RestoreSource) error
}

// SnapshotFor takes b's snapshot for a checkpoint or, with savepoint, a
// savepoint: a checkpoint of a backend with file checkpoints on is a
// FileSnapshot (see StoreBackend.SetFileCheckpoints); a savepoint, and
// anything else, is b.Snapshot, which writes the whole state in the
// snapshot format.
func SnapshotFor(b Backend, savepoint bool) (Snapshot, error) {
	if c, ok := b.(interface{ CheckpointSnapshot() (Snapshot, error) }); ok && !savepoint {
		return c.CheckpointSnapshot()
	}
	return b.Snapshot()
}

// SetFileCheckpoints turns file checkpoints on or off: with them on and a
// FileStore, CheckpointSnapshot returns a FileSnapshot. Restoring files
// works either way.
func (b *StoreBackend) SetFileCheckpoints(on bool) { b.files.on = on }

// storeFiles is what a StoreBackend keeps for file checkpoints.
type storeFiles struct {
	on bool
	// lineage starts the Refs of the files this backend's Store writes:
	// random, so two backends never give one Ref to different files.
	lineage string
	// inherited maps the files LoadFiles took over to their Refs.
	inherited map[string]string
	// native holds the tables restored from files that the operator has
	// not created yet, by name.
	native map[string]storeMeta
}

// catalogID is the table ID under which a StoreBackend over a FileStore
// keeps its catalog: one entry per table, keyed by name, whose value is
// the table's ID, kind, TTL and layout.
const catalogID = 0

func catalogKey(name string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, catalogID), name...)
}

func encodeCatalog(m storeMeta) []byte {
	v := binary.BigEndian.AppendUint32(nil, m.id)
	v = append(v, byte(m.kind))
	v = binary.BigEndian.AppendUint64(v, uint64(m.ttl))
	return append(v, m.layout...)
}

func decodeCatalog(key, v []byte) (storeMeta, error) {
	if len(key) < 4 || len(v) < 13 {
		return storeMeta{}, fmt.Errorf("state: malformed catalog entry %x", key)
	}
	m := storeMeta{
		name:   string(key[4:]),
		id:     binary.BigEndian.Uint32(v),
		kind:   tableKind(v[4]),
		ttl:    int64(binary.BigEndian.Uint64(v[5:])),
		layout: slices.Clone(v[13:]),
	}
	if m.id == catalogID || m.kind < kindValue || m.kind > kindMap {
		return storeMeta{}, fmt.Errorf("state: malformed catalog entry of table %q", m.name)
	}
	return m, nil
}

// readCatalog reads the catalog of a store's files.
func readCatalog(v StoreView) ([]storeMeta, error) {
	var metas []storeMeta
	var bad error
	err := v.Scan(binary.BigEndian.AppendUint32(nil, catalogID), func(k, val []byte) bool {
		m, err := decodeCatalog(k, val)
		if err != nil {
			bad = err
			return false
		}
		metas = append(metas, m)
		return true
	})
	return metas, cmp.Or(err, bad)
}

// writeCatalog records a table in the catalog when the Store is a
// FileStore.
func (b *StoreBackend) writeCatalog(m storeMeta) error {
	if _, ok := b.store.(FileStore); !ok {
		return nil
	}
	if err := b.store.Set(catalogKey(m.name), encodeCatalog(m)); err != nil {
		return fmt.Errorf("state: table %q: catalog: %w", m.name, err)
	}
	return nil
}

// CheckpointSnapshot returns the snapshot for a checkpoint: with file
// checkpoints on and a FileStore, a FileSnapshot of the Store's files;
// otherwise Snapshot.
func (b *StoreBackend) CheckpointSnapshot() (Snapshot, error) {
	fs, ok := b.store.(FileStore)
	if !ok || !b.files.on {
		return b.Snapshot()
	}
	if err := b.prepareSnapshot(); err != nil {
		return nil, err
	}
	dir, files, err := fs.CheckpointFiles()
	if err != nil {
		return nil, fmt.Errorf("state: checkpoint the store's files: %w", err)
	}
	if b.files.lineage == "" {
		var r [8]byte
		rand.Read(r[:])
		b.files.lineage = fmt.Sprintf("%s-%d-%s", refSafe(b.cfg.OperatorID), b.cfg.Subtask, hex.EncodeToString(r[:]))
	}
	s := &fileSnapshot{hdr: headerOf(b.cfg), now: b.now(), store: fs, dir: dir}
	s.native = NativeFiles{Format: fs.FileFormat(), KeyGroups: b.cfg.KeyGroups}
	for _, f := range files {
		nf := NativeFile{Name: f.Name, Size: f.Size}
		if f.Immutable {
			nf.Ref = b.files.inherited[f.Name]
			if nf.Ref == "" {
				nf.Ref = b.files.lineage + "-" + f.Name
			}
		}
		s.native.Files = append(s.native.Files, nf)
	}
	for _, t := range b.tables {
		s.metas = append(s.metas, t.meta)
	}
	for _, m := range b.files.native {
		s.metas = append(s.metas, m)
	}
	s.part = b.partTables()
	return s, nil
}

// refSafe keeps the bytes of s that are safe in a checkpoint file name and
// replaces the others, and shortens it.
func refSafe(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s) && sb.Len() < 48; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' {
			sb.WriteByte(c)
		} else {
			sb.WriteByte('~')
		}
	}
	return sb.String()
}

// partTables returns the tables a snapshot holds outside the Store: the
// operator lists and the restored tables not created yet.
func (b *StoreBackend) partTables() []frozenTable {
	var tables []frozenTable
	for _, l := range b.lists {
		tables = append(tables, &rawTable{tableHeader: tableHeader{name: l.name, kind: kindOperatorList, mode: l.mode, layout: l.layout}, entries: l.entries})
	}
	for _, t := range b.raw {
		tables = append(tables, t)
	}
	return tables
}

// fileSnapshot is a StoreBackend's FileSnapshot: a directory of the
// Store's files, removed by Release.
type fileSnapshot struct {
	hdr    snapHeader
	now    int64
	store  FileStore
	native NativeFiles
	metas  []storeMeta   // keyed tables in the files
	part   []frozenTable // what the files leave out

	mu  sync.Mutex
	dir string // "" once released
}

func (s *fileSnapshot) Files() NativeFiles { return s.native }

func (s *fileSnapshot) OpenFile(name string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return nil, errors.New("state: file snapshot read after Release")
	}
	if !slices.ContainsFunc(s.native.Files, func(f NativeFile) bool { return f.Name == name }) {
		return nil, fmt.Errorf("state: %q is not a file of the snapshot", name)
	}
	return os.Open(s.dir + string(os.PathSeparator) + name)
}

func (s *fileSnapshot) WritePart(w io.Writer) (int64, error) {
	return writeSnapshot(w, s.hdr, sortTables(slices.Clone(s.part)), s.now, nil)
}

// WriteTo writes the whole snapshot in the snapshot format, reading the
// files through a read-only database opened on them.
func (s *fileSnapshot) WriteTo(w io.Writer) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return 0, errors.New("state: file snapshot written after Release")
	}
	view, err := s.store.OpenFiles(s.dir)
	if err != nil {
		return 0, fmt.Errorf("state: open the snapshot's files: %w", err)
	}
	defer view.Release()
	tables := slices.Clone(s.part)
	for _, m := range s.metas {
		tables = append(tables, &frozenStoreTable{view: view, t: m})
	}
	return writeSnapshot(w, s.hdr, sortTables(tables), s.now, nil)
}

func sortTables(ts []frozenTable) []frozenTable {
	slices.SortFunc(ts, func(a, b frozenTable) int { return cmp.Compare(a.header().name, b.header().name) })
	return ts
}

// Release removes the snapshot's directory.
func (s *fileSnapshot) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// RestoreFiles implements FileRestorer: the sources in the snapshot format
// and the parts of the native ones are read as Restore reads them; of the
// native ones, those whose key groups overlap the backend's go into the
// Store. When exactly one does and its key groups are the backend's, its
// files become the Store's database as they are (LoadFiles); otherwise
// each is opened read-only and the entries of the backend's key groups are
// copied, table by table (a key group of a table is one key range), under
// table IDs of this backend's own, since each old subtask numbered its
// tables itself.
func (b *StoreBackend) RestoreFiles(sources []RestoreSource) error {
	files := make([]SnapshotFile, len(sources))
	var natives []*NativeSource
	for i, s := range sources {
		files[i] = s.SnapshotFile
		if s.Native != nil && s.Native.KeyGroups.Start < b.cfg.KeyGroups.End && b.cfg.KeyGroups.Start < s.Native.KeyGroups.End {
			natives = append(natives, s.Native)
		}
	}
	if err := b.restoring.restore(b.closed, len(b.names), files, b.cfg); err != nil {
		return err
	}
	if len(natives) == 0 {
		return nil
	}
	fs, ok := b.store.(FileStore)
	if !ok {
		return fmt.Errorf("state: the checkpoint holds this operator's state in the %s backend's own files (an incremental checkpoint), which this backend cannot read: restore it on that backend, or restore a savepoint, which every backend reads", natives[0].Format)
	}
	for _, n := range natives {
		if n.Format != fs.FileFormat() {
			return fmt.Errorf("state: the checkpoint holds files of the %q format; this backend reads %q", n.Format, fs.FileFormat())
		}
	}
	b.files.native = map[string]storeMeta{}
	if len(natives) == 1 && natives[0].KeyGroups == b.cfg.KeyGroups {
		return b.loadFiles(fs, natives[0])
	}
	for _, n := range natives {
		if err := b.copyFiles(fs, n); err != nil {
			return err
		}
	}
	return nil
}

// fetchAll copies the files of n into a new scratch directory.
func fetchAll(fs FileStore, n *NativeSource) (string, error) {
	dir, err := fs.ScratchDir()
	if err != nil {
		return "", err
	}
	for _, f := range n.Files {
		if err := n.Fetch(f, dir+string(os.PathSeparator)+f.Name); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// loadFiles takes the files of n over as the Store's database.
func (b *StoreBackend) loadFiles(fs FileStore, n *NativeSource) error {
	dir, err := fetchAll(fs, n)
	if err != nil {
		return err
	}
	if err := fs.LoadFiles(dir); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("state: open the restored files: %w", err)
	}
	view, err := b.store.Snapshot()
	if err != nil {
		return err
	}
	metas, err := readCatalog(view)
	view.Release()
	if err != nil {
		return err
	}
	if err := b.dropUncataloged(fs, metas); err != nil {
		return err
	}
	b.files.inherited = map[string]string{}
	for _, f := range n.Files {
		if f.Ref != "" {
			b.files.inherited[f.Name] = f.Ref
		}
	}
	for _, m := range metas {
		m.kgs = b.cfg.KeyGroups
		b.files.native[m.name] = m
		b.nextID = max(b.nextID, m.id+1)
	}
	return nil
}

// dropUncataloged deletes from the Store the key ranges of the table IDs
// that no catalog entry names: the timers' index (see NewTimers), which the
// files hold under the ID the old backend gave it. NewTimers writes the
// index again under an ID of this backend's, so the old one would be
// garbage forever, and its ID one a later table might be given.
func (b *StoreBackend) dropUncataloged(fs FileStore, metas []storeMeta) error {
	known := make(map[uint32]bool, len(metas))
	for _, m := range metas {
		known[m.id] = true
	}
	lower := binary.BigEndian.AppendUint32(nil, catalogID+1)
	for {
		key, _, ok, err := fs.First(lower, nil)
		if err != nil {
			return fmt.Errorf("state: restored files: find tables: %w", err)
		}
		if !ok {
			return nil
		}
		if len(key) < 4 {
			return fmt.Errorf("state: restored files: malformed key %x", key)
		}
		id := binary.BigEndian.Uint32(key)
		if id == math.MaxUint32 {
			// No table is given this ID (register stops below it).
			return fmt.Errorf("state: restored files: key %x of table ID %d, which no backend gives", key, id)
		}
		upper := binary.BigEndian.AppendUint32(nil, id+1)
		if !known[id] {
			if err := fs.DeleteRange(binary.BigEndian.AppendUint32(nil, id), upper); err != nil {
				return fmt.Errorf("state: restored files: drop the entries of table ID %d, which the catalog does not name: %w", id, err)
			}
		}
		lower = upper
	}
}

// copyFiles copies the entries of the backend's key groups from the files
// of n into the Store. It copies the tables the catalog names only, so
// never the timers' index, which NewTimers writes again.
func (b *StoreBackend) copyFiles(fs FileStore, n *NativeSource) (err error) {
	dir, err := fetchAll(fs, n)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	view, err := fs.OpenFiles(dir)
	if err != nil {
		return fmt.Errorf("state: open restored files: %w", err)
	}
	defer view.Release()
	metas, err := readCatalog(view)
	if err != nil {
		return err
	}
	from := max(b.cfg.KeyGroups.Start, n.KeyGroups.Start)
	to := min(b.cfg.KeyGroups.End, n.KeyGroups.End)
	var key []byte
	for _, old := range metas {
		m, ok := b.files.native[old.name]
		if !ok {
			if b.nextID == math.MaxUint32 {
				return fmt.Errorf("state: table %q: too many tables", old.name)
			}
			m = old
			m.id, m.kgs = b.nextID, b.cfg.KeyGroups
			b.nextID++
			b.files.native[m.name] = m
			if err := b.writeCatalog(m); err != nil {
				return err
			}
		} else if m.kind != old.kind || m.ttl != old.ttl || !bytes.Equal(m.layout, old.layout) {
			return fmt.Errorf("state: table %q differs between the old subtasks' files (kind, TTL or layout)", old.name)
		}
		for kg := from; kg < to; kg++ {
			var werr error
			err := view.Scan(groupPrefix(nil, old.id, kg), func(k, v []byte) bool {
				key = append(groupPrefix(key[:0], m.id, kg), k[8:]...)
				werr = b.store.Set(key, v)
				return werr == nil
			})
			if err = cmp.Or(err, werr); err != nil {
				return fmt.Errorf("state: table %q: restore key group %d: %w", old.name, kg, err)
			}
		}
	}
	return nil
}

// claimNative gives a table being created the ID its entries have in the
// Store after RestoreFiles. A table created with another TTL or layout
// than it was written with is moved into the snapshot format and loaded
// as a restored one, so it is migrated as Restore migrates.
func (b *StoreBackend) claimNative(name string, kind tableKind, ttl time.Duration, layout []byte) (id uint32, ok bool, err error) {
	m, ok := b.files.native[name]
	if !ok {
		return 0, false, nil
	}
	if m.kind != kind {
		return 0, false, fmt.Errorf("state: table %q was restored as a %s table but is created as a %s table", name, m.kind, kind)
	}
	delete(b.files.native, name)
	if m.ttl == int64(ttl) && (len(layout) == 0 || len(m.layout) == 0 || bytes.Equal(m.layout, layout)) {
		return m.id, true, nil
	}
	// Write the table out in the snapshot format and read it back as a
	// restored table, then drop its entries from the Store.
	view, err := b.store.Snapshot()
	if err != nil {
		return 0, false, err
	}
	var buf bytes.Buffer
	_, err = writeSnapshot(&buf, headerOf(b.cfg), []frozenTable{&frozenStoreTable{view: view, t: m}}, b.now(), nil)
	view.Release()
	if err != nil {
		return 0, false, fmt.Errorf("state: table %q: migrate: %w", name, err)
	}
	raw, err := readSnapshots([]SnapshotFile{BytesSnapshot(name, buf.Bytes())}, b.cfg)
	if err != nil {
		return 0, false, fmt.Errorf("state: table %q: migrate: %w", name, err)
	}
	if b.raw == nil {
		b.raw = map[string]*rawTable{}
	}
	if old, ok := b.raw[name]; ok {
		raw[name].sections = append(raw[name].sections, old.sections...)
	}
	b.raw[name] = raw[name]
	for kg := m.kgs.Start; kg < m.kgs.End; kg++ {
		var dead [][]byte
		if err := b.store.Scan(groupPrefix(nil, m.id, kg), func(k, _ []byte) bool {
			dead = append(dead, slices.Clone(k))
			return true
		}); err != nil {
			return 0, false, err
		}
		for _, k := range dead {
			if err := b.store.Delete(k); err != nil {
				return 0, false, err
			}
		}
	}
	return 0, false, b.store.Delete(catalogKey(name))
}
