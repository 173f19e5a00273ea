package state

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SnapshotFile is a written snapshot that a backend restores from. Restore
// reads it at the offsets it needs, possibly from several goroutines at
// once, as io.ReaderAt allows; an *os.File or a *bytes.Reader will do.
type SnapshotFile struct {
	// Name identifies the snapshot in errors, e.g. its file name; it may
	// be empty.
	Name string
	// R reads the snapshot's bytes.
	R io.ReaderAt
	// Size is the snapshot's length in bytes.
	Size int64
}

// BytesSnapshot returns a SnapshotFile reading b.
func BytesSnapshot(name string, b []byte) SnapshotFile {
	return SnapshotFile{Name: name, R: bytes.NewReader(b), Size: int64(len(b))}
}

// restoreWorkers is how many goroutines a restore of the backend cfg
// describes may use at once.
func (c Config) restoreWorkers() int {
	if c.RestoreWorkers > 0 {
		return c.RestoreWorkers
	}
	return runtime.GOMAXPROCS(0)
}

// parallel calls fn(0) … fn(n-1) on up to workers goroutines and waits for
// them. Calls are started in index order and none is started after one has
// failed, so the error returned — the failed call's of the lowest index —
// is the one a loop calling fn in order would have stopped at.
func parallel(workers, n int, fn func(i int) error) error {
	if workers <= 1 || n <= 1 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
		// panicked is the first panic of a worker, with its stack, raised
		// again on the caller's goroutine: a codec that panics then fails
		// its task as it would without workers instead of the process.
		panicOnce sync.Once
		panicked  any
	)
	for range min(workers, n) {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					panicOnce.Do(func() { panicked = fmt.Sprintf("%v\n\nrestore worker goroutine:\n%s", p, debug.Stack()) })
					failed.Store(true)
				}
			}()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if errs[i] = fn(i); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// restoring is what a backend keeps of its Restore: the tables read, until
// the operator creates them.
type restoring struct {
	restored bool
	// raw holds restored tables the operator has not created yet.
	raw map[string]*rawTable
}

// restore reads the snapshots into r: once, before the backend (closed
// or not, with tables created so far) has any table.
func (r *restoring) restore(closed bool, tables int, snapshots []SnapshotFile, cfg Config) error {
	switch {
	case closed:
		return ErrClosed
	case tables > 0:
		return errors.New("state: Restore called after tables were created")
	case r.restored:
		return errors.New("state: Restore called twice")
	}
	raw, err := readSnapshots(snapshots, cfg)
	if err != nil {
		return err
	}
	r.raw, r.restored = raw, true
	return nil
}

// readSnapshots reads the snapshots of a restore, one per old subtask in
// old subtask order, and merges the key groups in cfg's range, so that a
// backend keeps nothing unless every part it reads is whole. Snapshots of
// version 2 are read through their index: the head, the operator lists
// and the sections of cfg's key groups, each verified against its own
// checksum, on up to cfg.restoreWorkers() goroutines. Those of version 1
// are read whole, one goroutine per snapshot, and verified against their
// trailing checksum.
func readSnapshots(files []SnapshotFile, cfg Config) (map[string]*rawTable, error) {
	workers := cfg.restoreWorkers()
	ps := make([]*parsedSnapshot, len(files))
	reads := make([][]sectionRead, len(files))
	err := parallel(workers, len(files), func(i int) error {
		f := files[i]
		if f.R == nil {
			return fmt.Errorf("state: restore: snapshot %d is nil", i)
		}
		var err error
		ps[i], reads[i], err = openSnapshot(f, i, cfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	all := slices.Concat(reads...)
	if err := parallel(workers, len(all), func(j int) error { return all[j].run(files[all[j].snap]) }); err != nil {
		return nil, err
	}
	for _, p := range ps {
		for _, t := range p.tables {
			// Sections without entries are kept by nothing, as in version 1.
			t.sections = slices.DeleteFunc(t.sections, func(s rawSection) bool { return s.count == 0 })
		}
	}
	return mergeSnapshots(ps, cfg)
}

// openSnapshot reads what a restore needs of a snapshot besides its
// key-group sections — all of it for version 1 — and returns the reads of
// the sections in cfg's range still to be done.
func openSnapshot(f SnapshotFile, snap int, cfg Config) (*parsedSnapshot, []sectionRead, error) {
	fail := func(off int64, err error) error {
		return &FormatError{Snapshot: snap, File: f.Name, Offset: off, KeyGroup: -1, Err: err}
	}
	// The magic and the version, to choose the reader.
	var lead [len(formatMagic) + binary.MaxVarintLen64]byte
	n, err := f.R.ReadAt(lead[:min(int64(len(lead)), max(f.Size, 0))], 0)
	if err != nil && err != io.EOF {
		return nil, nil, fail(0, fmt.Errorf("read: %w", err))
	}
	version, k := uint64(0), 0
	if n > len(formatMagic) && string(lead[:len(formatMagic)]) == formatMagic {
		version, k = binary.Uvarint(lead[len(formatMagic):n])
	}
	if k <= 0 || version == 1 {
		// Version 1, or not a snapshot: the stream reader says which.
		p, err := readSnapshotV1(io.NewSectionReader(f.R, 0, f.Size), snap, f.Name, cfg)
		return p, nil, err
	}
	if version < 2 || version > formatVersion {
		return nil, nil, fail(int64(len(formatMagic)), fmt.Errorf("format version %d not supported (this build reads versions 1 to %d)", version, formatVersion))
	}
	return openSnapshotV2(f, snap, cfg, version)
}

// skipRangeChecksums lets the fuzz test of the version 2 reader reach the
// parsing of ranges it damaged; nothing else sets it.
var skipRangeChecksums bool

// readRange reads and verifies the checksummed range s of a snapshot.
func readRange(f SnapshotFile, s span, what string, fail func(off int64, err error) error) ([]byte, error) {
	b := make([]byte, s.length)
	if _, err := f.R.ReadAt(b, s.off); err != nil && !(err == io.EOF && int64(len(b)) == s.length) {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("snapshot truncated: %w", io.ErrUnexpectedEOF)
		}
		return nil, fail(s.off, fmt.Errorf("read %s: %w", what, err))
	}
	if got := crc32.Checksum(b, castagnoli); got != s.crc && !skipRangeChecksums {
		return nil, fail(s.off, fmt.Errorf("%s of %d bytes: stored checksum %08x, computed %08x: %w", what, s.length, s.crc, got, ErrChecksum))
	}
	return b, nil
}

// sliceReader returns a snapReader over b, which starts at offset off of
// the snapshot, for parsing a range already read and verified.
func sliceReader(b []byte, off int64, snap int, file string) *snapReader {
	return &snapReader{br: bufio.NewReaderSize(bytes.NewReader(b), 16), off: off, snap: snap, file: file, kg: -1}
}

// openSnapshotV2 reads the footer, the index, the head and the operator
// lists of a version 2 or 3 snapshot, and returns the reads of the
// sections in cfg's range.
func openSnapshotV2(f SnapshotFile, snap int, cfg Config, version uint64) (*parsedSnapshot, []sectionRead, error) {
	var (
		table = ""
		kg    = -1
	)
	fail := func(off int64, err error) error {
		return &FormatError{Snapshot: snap, File: f.Name, Offset: off, Table: table, KeyGroup: kg, Err: err}
	}
	footOff := f.Size - int64(footerLen)
	if footOff < int64(len(formatMagic)) {
		return nil, nil, fail(max(footOff, 0), fmt.Errorf("no index footer in %d bytes: snapshot truncated: %w", f.Size, io.ErrUnexpectedEOF))
	}
	var foot [footerLen]byte
	if _, err := f.R.ReadAt(foot[:], footOff); err != nil && err != io.EOF {
		return nil, nil, fail(footOff, fmt.Errorf("read the footer: %w", err))
	}
	if string(foot[12:]) != footerMagic {
		return nil, nil, fail(footOff, fmt.Errorf("no index footer (it reads %q): snapshot truncated or damaged: %w", foot[12:], io.ErrUnexpectedEOF))
	}
	indexOff := binary.LittleEndian.Uint64(foot[0:])
	// The body's checksum sits just before the index.
	if indexOff < uint64(len(formatMagic))+4 || indexOff > uint64(footOff) {
		return nil, nil, fail(footOff, fmt.Errorf("index offset %d outside the snapshot's %d bytes: %w", indexOff, f.Size, ErrChecksum))
	}
	bodyEnd := int64(indexOff) - 4
	idx, err := readRange(f, span{off: int64(indexOff), length: footOff - int64(indexOff), crc: binary.LittleEndian.Uint32(foot[8:])}, "index", fail)
	if err != nil {
		return nil, nil, err
	}
	ir := sliceReader(idx, int64(indexOff), snap, f.Name)
	ir.version = version
	ix, err := parseIndex(ir)
	if err != nil {
		return nil, nil, err
	}
	if ix.head.length > bodyEnd {
		return nil, nil, fail(int64(indexOff), fmt.Errorf("head of %d bytes runs past the tables' end at byte %d", ix.head.length, bodyEnd))
	}
	headBytes, err := readRange(f, ix.head, "header", fail)
	if err != nil {
		return nil, nil, err
	}
	hr := sliceReader(headBytes, 0, snap, f.Name)
	p := &parsedSnapshot{}
	var ntables int
	if p.hdr, ntables, err = hr.readHeader(&cfg, version); err != nil {
		return nil, nil, err
	}
	if hr.off != ix.head.length {
		return nil, nil, fail(hr.off, fmt.Errorf("header ends at byte %d, the index says %d", hr.off, ix.head.length))
	}
	if ntables != len(ix.tables) {
		return nil, nil, fail(int64(indexOff), fmt.Errorf("index lists %d tables, the header %d", len(ix.tables), ntables))
	}
	inBody := func(s span) bool { return s.off >= ix.head.length && s.length >= 0 && s.off <= bodyEnd-s.length }
	var reads []sectionRead
	seen := make(map[string]bool)
	for _, ti := range ix.tables {
		table, kg = ti.name, -1
		if seen[ti.name] {
			return nil, nil, fail(int64(indexOff), fmt.Errorf("table %q appears twice", ti.name))
		}
		seen[ti.name] = true
		t := &rawTable{tableHeader: ti.tableHeader, snap: snap}
		p.tables = append(p.tables, t)
		if !ti.kind.keyed() {
			if !inBody(ti.body) {
				return nil, nil, fail(int64(indexOff), fmt.Errorf("operator list at byte %d of %d bytes outside the tables", ti.body.off, ti.body.length))
			}
			b, err := readRange(f, ti.body, "operator list", fail)
			if err != nil {
				return nil, nil, err
			}
			if t.entries, err = parseOperatorList(sliceReader(b, ti.body.off, snap, f.Name), ti); err != nil {
				return nil, nil, err
			}
			continue
		}
		if len(ti.sections) > p.hdr.keyGroups.Len() {
			return nil, nil, fail(int64(indexOff), fmt.Errorf("%d key group sections, more than the snapshot's range %s holds", len(ti.sections), p.hdr.keyGroups))
		}
		last := -1
		for _, s := range ti.sections {
			kg = s.kg
			switch {
			case !p.hdr.keyGroups.Contains(s.kg):
				return nil, nil, fail(s.data.off, fmt.Errorf("key group %d outside the snapshot's range %s", s.kg, p.hdr.keyGroups))
			case s.kg <= last:
				return nil, nil, fail(s.data.off, fmt.Errorf("key group %d after key group %d: sections must be in increasing order", s.kg, last))
			case !inBody(s.data):
				return nil, nil, fail(s.data.off, fmt.Errorf("section of %d bytes outside the tables, which end at byte %d", s.data.length, bodyEnd))
			}
			last = s.kg
			if cfg.KeyGroups.Contains(s.kg) {
				reads = append(reads, sectionRead{snap: snap, t: t, slot: len(t.sections), ix: s})
				t.sections = append(t.sections, rawSection{})
			}
		}
	}
	return p, reads, nil
}

// index is a parsed snapshot index.
type index struct {
	head   span
	tables []tableIndex
}

// parseIndex parses an index already verified against the footer's
// checksum; it still checks every field, as the checksum guards against
// damage, not against a wrong writer.
func parseIndex(r *snapReader) (*index, error) {
	ix := &index{}
	n, err := r.int("head length", math.MaxInt)
	if err != nil {
		return nil, err
	}
	ix.head.length = int64(n)
	if ix.head.crc, err = r.uint32("head checksum"); err != nil {
		return nil, err
	}
	ntables, err := r.int("table count", math.MaxInt32)
	if err != nil {
		return nil, err
	}
	for range ntables {
		r.table = ""
		th, err := r.readTableHeader()
		if err != nil {
			return nil, err
		}
		t := tableIndex{tableHeader: th}
		switch {
		case t.kind == kindOperatorList:
			off := r.off
			m, err := r.ReadByte()
			if err != nil {
				return nil, r.wrap(off, "redistribution", err)
			}
			t.mode = Redistribution(m)
			if t.mode != Split && t.mode != Broadcast {
				return nil, r.fail(off, "unknown redistribution %d", m)
			}
			if t.body, err = r.span("operator list"); err != nil {
				return nil, err
			}
		case t.kind.keyed():
			ttl, err := r.uvarint("TTL")
			if err != nil {
				return nil, err
			}
			if ttl > 1<<63-1 {
				return nil, r.fail(r.off, "TTL %d out of range", ttl)
			}
			t.ttl = time.Duration(ttl)
			// Bounded by the index's size: each section takes at least
			// eight bytes of it.
			n, err := r.int("key group section count", math.MaxInt32)
			if err != nil {
				return nil, err
			}
			for range n {
				var s sectionIndex
				if s.kg, err = r.int("key group", math.MaxInt32); err != nil {
					return nil, err
				}
				if s.count, err = r.int("entry count", math.MaxInt32); err != nil {
					return nil, err
				}
				if s.data, err = r.span("section"); err != nil {
					return nil, err
				}
				t.sections = append(t.sections, s)
			}
		}
		ix.tables = append(ix.tables, t)
	}
	r.table = ""
	if _, err := r.br.ReadByte(); err != io.EOF {
		return nil, r.fail(r.off, "data after the index")
	}
	return ix, nil
}

// uint32 reads a uint32le.
func (r *snapReader) uint32(what string) (uint32, error) {
	b, err := r.full(what, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// span reads an index's offset, length and checksum of a range.
func (r *snapReader) span(what string) (span, error) {
	var s span
	off, err := r.int(what+" offset", math.MaxInt64)
	if err != nil {
		return s, err
	}
	n, err := r.int(what+" length", math.MaxInt64)
	if err != nil {
		return s, err
	}
	s.off, s.length = int64(off), int64(n)
	s.crc, err = r.uint32(what + " checksum")
	return s, err
}

// parseOperatorList parses an operator list's body, which must fill the
// range the index gives it.
func parseOperatorList(r *snapReader, ti tableIndex) ([][]byte, error) {
	r.table = ti.name
	off := r.off
	m, err := r.ReadByte()
	if err != nil {
		return nil, r.wrap(off, "redistribution", err)
	}
	if Redistribution(m) != ti.mode {
		return nil, r.fail(off, "redistribution %d, the index says %d", m, ti.mode)
	}
	// Each entry takes at least one byte of the verified range.
	n, err := r.int("entry count", int(ti.body.length))
	if err != nil {
		return nil, err
	}
	entries := make([][]byte, 0, n)
	for range n {
		e, err := r.bytes("operator list entry", math.MaxInt32)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if r.off != ti.body.off+ti.body.length {
		return nil, r.fail(r.off, "operator list ends at byte %d, the index says %d", r.off, ti.body.off+ti.body.length)
	}
	return entries, nil
}

// sectionRead is one key-group section a restore reads: slot is its place
// in t.sections.
type sectionRead struct {
	snap int
	t    *rawTable
	slot int
	ix   sectionIndex
}

// run reads the section, verifies its checksum and checks that its entries
// fill it.
func (sr sectionRead) run(f SnapshotFile) error {
	fail := func(off int64, err error) error {
		return &FormatError{Snapshot: sr.snap, File: f.Name, Offset: off, Table: sr.t.name, KeyGroup: sr.ix.kg, Err: err}
	}
	data, err := readRange(f, sr.ix.data, "section", fail)
	if err != nil {
		return err
	}
	s := rawSection{kg: sr.ix.kg, count: sr.ix.count, data: data, snap: sr.snap, file: f.Name, off: sr.ix.data.off}
	if err := checkSection(sr.t, s); err != nil {
		return err
	}
	sr.t.sections[sr.slot] = s
	return nil
}

// VerifySnapshot reads a whole snapshot and checks every byte of it: the
// header, every table down to the boundaries of each entry, the checksum
// after the tables and, in version 2, that the index and the footer are
// exactly those the tables imply. Restore checks only the ranges it reads;
// this is for tools that check the files of a checkpoint. It holds one
// section in memory at a time.
func VerifySnapshot(f SnapshotFile) error {
	if f.R == nil {
		return errors.New("state: verify: no snapshot")
	}
	r := &snapReader{br: bufio.NewReaderSize(io.NewSectionReader(f.R, 0, f.Size), 64<<10), file: f.Name, kg: -1, verify: true}
	r.inPart = true
	h, ntables, err := r.readHeader(nil, 1, 2, formatVersion)
	if err != nil {
		return err
	}
	head := span{length: r.off, crc: r.part}
	r.inPart = false
	seen := make(map[string]bool)
	for range ntables {
		t, err := r.readTable(&h, h.keyGroups)
		if err != nil {
			return err
		}
		if seen[t.name] {
			return r.fail(r.off, "table %q appears twice", t.name)
		}
		seen[t.name] = true
	}
	r.table, r.kg = "", -1
	sum, off := r.crc, r.off
	var trailer [4]byte
	if _, err := io.ReadFull(r.br, trailer[:]); err != nil {
		return r.wrap(off, "checksum", err)
	}
	if got := binary.LittleEndian.Uint32(trailer[:]); got != sum {
		return r.wrap(off, fmt.Sprintf("stored %08x, computed %08x", got, sum), ErrChecksum)
	}
	indexOff := off + 4
	rest, err := io.ReadAll(r.br)
	if err != nil {
		return r.wrap(indexOff, "index", err)
	}
	var want []byte
	if r.version >= 2 {
		want = appendIndex(nil, head, r.index, r.version)
		sum := crc32.Checksum(want, castagnoli)
		want = binary.LittleEndian.AppendUint64(want, uint64(indexOff))
		want = binary.LittleEndian.AppendUint32(want, sum)
		want = append(want, footerMagic...)
	}
	for i := range max(len(rest), len(want)) {
		switch {
		case i >= len(want):
			return r.fail(indexOff+int64(i), "data after the end of the snapshot")
		case i >= len(rest):
			return r.wrap(indexOff+int64(i), "index and footer", io.ErrUnexpectedEOF)
		case rest[i] != want[i]:
			return r.wrap(indexOff+int64(i), "the index or footer does not match the tables", ErrChecksum)
		}
	}
	return nil
}
