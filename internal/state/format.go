package state

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/codec"
)

// The snapshot format, version 3. FORMAT.md beside this file is the
// specification; this comment is the summary a reader of the code needs.
//
//	snapshot := header tableCount:uvarint table* crc32c:uint32le index footer
//	header   := "WEIRSNAP" version:uvarint operatorID:bytes
//	            maxParallelism:uvarint subtask:uvarint parallelism:uvarint
//	            keyGroupStart:uvarint keyGroupEnd:uvarint
//	table    := name:bytes kind:byte layout:bytes (keyed | operatorList)
//	keyed    := ttlNanos:uvarint sectionCount:uvarint section*
//	section  := keyGroup:uvarint entryCount:uvarint byteLen:uvarint entry*
//	entry    := key:bytes namespace:bytes [userKey:bytes] value:bytes [lastWrite:int64le]
//	operatorList := redistribution:byte entryCount:uvarint (entry:bytes)*
//	bytes    := len:uvarint byte*
//	index    := headLength:uvarint headCRC:uint32le tableCount:uvarint tableIndex*
//	tableIndex := name:bytes kind:byte layout:bytes (ttlNanos:uvarint sectionCount:uvarint
//	              (keyGroup:uvarint entryCount:uvarint offset:uvarint length:uvarint crc32c:uint32le)*
//	            | redistribution:byte offset:uvarint length:uvarint crc32c:uint32le)
//	footer   := indexOffset:uint64le indexCRC:uint32le "WEIRSIDX"
//
// A list table's value is elementCount:uvarint (element:bytes)*. Tables
// come in name order, sections in key-group order, and the entries of a
// section in the byte order of their key part (key, namespace, user key as
// written), so equal state always gives equal bytes. Everything up to the
// index is version 1 with another version number.
//
// Nothing in it depends on how a backend stores state, so an on-disk backend
// can write the same bytes for savepoints. The index locates and checksums
// the head (header and table count), every key-group section and every
// operator list, so a restore reads the footer, the index and the head,
// then only the sections of its key groups, each verified on its own.

const (
	formatMagic = "WEIRSNAP"
	// formatVersion is the version writers write; readers read every
	// version from 1 to it. Version 3 added each table's layout.
	formatVersion = 3
	footerMagic   = "WEIRSIDX"
	// footerLen is indexOffset, indexCRC and footerMagic.
	footerLen = 8 + 4 + len(footerMagic)

	// maxLayoutLen bounds a table's layout, for the same reason as
	// maxNameLen.
	maxLayoutLen = 1 << 20
	// maxNameLen bounds table and operator names so a corrupt length cannot
	// make the reader allocate gigabytes before it notices.
	maxNameLen = 1 << 16
	// readChunk is the most a reader allocates ahead of the bytes actually
	// arriving, for the same reason.
	readChunk = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrChecksum reports a snapshot whose trailing checksum does not match its
// contents: the file was torn, truncated at a table boundary or corrupted.
var ErrChecksum = errors.New("checksum mismatch")

// FormatError reports a snapshot that cannot be read, and where it went
// wrong, so an operator can tell a torn file from a codec that no longer
// matches the state it wrote.
type FormatError struct {
	// Snapshot is the index of the snapshot in the slice given to Restore.
	Snapshot int
	// File is the snapshot's SnapshotFile.Name, or "".
	File string
	// Offset is the byte offset in that snapshot where the problem was found.
	Offset int64
	// Table is the table being read, or "" outside any table.
	Table string
	// KeyGroup is the key group being read, or -1 outside a key-group section.
	KeyGroup int
	// Err says what was wrong; it wraps io.ErrUnexpectedEOF for a snapshot
	// that ends too soon, ErrChecksum for a damaged one, and the codec's
	// error when an entry does not decode.
	Err error
}

func (e *FormatError) Error() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "state: snapshot %d", e.Snapshot)
	if e.File != "" {
		fmt.Fprintf(&b, " (%s)", e.File)
	}
	if e.Table != "" {
		fmt.Fprintf(&b, ": table %q", e.Table)
	}
	if e.KeyGroup >= 0 {
		fmt.Fprintf(&b, ": key group %d", e.KeyGroup)
	}
	fmt.Fprintf(&b, ": byte %d: %v", e.Offset, e.Err)
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// tableKind is the kind of a table as written in snapshots; the values are
// part of the format.
type tableKind uint8

const (
	kindValue        tableKind = 1
	kindList         tableKind = 2
	kindMap          tableKind = 3
	kindOperatorList tableKind = 4
)

func (k tableKind) String() string {
	switch k {
	case kindValue:
		return "value"
	case kindList:
		return "list"
	case kindMap:
		return "map"
	case kindOperatorList:
		return "operator list"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k tableKind) keyed() bool { return k == kindValue || k == kindList || k == kindMap }

// snapHeader identifies the subtask that wrote a snapshot.
type snapHeader struct {
	operatorID           string
	maxParallelism       int
	subtask, parallelism int
	keyGroups            KeyGroupRange
}

func headerOf(c Config) snapHeader {
	return snapHeader{
		operatorID:     c.OperatorID,
		maxParallelism: c.MaxParallelism,
		subtask:        c.Subtask,
		parallelism:    c.Parallelism,
		keyGroups:      c.KeyGroups,
	}
}

// tableHeader is what a snapshot says about a table before its entries.
type tableHeader struct {
	name string
	kind tableKind
	// ttl is positive when every entry carries its last-write time.
	ttl time.Duration
	// mode is meaningful for operator lists only.
	mode Redistribution
	// layout is the fingerprint of the table's types (see layout.go),
	// empty when they are not known: written by a version before 3, or
	// with codecs whose layout the codec package cannot tell.
	layout []byte
}

// frozenTable is one table's part of a snapshot, fixed when the snapshot was
// taken. writeBody runs on the goroutine that writes the snapshot out, so it
// may read only data the task no longer changes; once it has called
// w.passed(i), the task may change key group offset i again.
type frozenTable interface {
	header() tableHeader
	// writeBody writes everything after the table's name and kind. Entries
	// expired at now (Unix nanoseconds) are left out.
	writeBody(w *snapWriter, now int64) error
}

// writeSnapshot writes a whole snapshot: the header, the tables in the
// given order, the checksum of all that, and the index and footer that let
// a reader read only the parts it needs. marks, when not nil, holds a
// progress marker per table (nil for none) that the table's writeBody
// advances past each key group once it has read it for the last time (see
// snapWriter.passed).
func writeSnapshot(dst io.Writer, h snapHeader, tables []frozenTable, now int64, marks []*atomic.Int32) (int64, error) {
	cw := &countingWriter{w: dst}
	w := &snapWriter{bw: bufio.NewWriterSize(cw, 64<<10)}
	w.beginPart()
	w.raw([]byte(formatMagic))
	w.uvarint(formatVersion)
	w.bytes([]byte(h.operatorID))
	w.uvarint(uint64(h.maxParallelism))
	w.uvarint(uint64(h.subtask))
	w.uvarint(uint64(h.parallelism))
	w.uvarint(uint64(h.keyGroups.Start))
	w.uvarint(uint64(h.keyGroups.End))
	w.uvarint(uint64(len(tables)))
	head := w.endPart()
	w.index = make([]tableIndex, 0, len(tables))
	for j, t := range tables {
		th := t.header()
		w.mark = nil
		if marks != nil {
			w.mark = marks[j]
		}
		w.bytes([]byte(th.name))
		w.raw([]byte{byte(th.kind)})
		w.bytes(th.layout)
		w.index = append(w.index, tableIndex{tableHeader: th})
		keyed := th.kind.keyed()
		if !keyed {
			w.beginPart()
		}
		if err := t.writeBody(w, now); err != nil {
			return cw.n, fmt.Errorf("state: write snapshot: table %q: %w", th.name, err)
		}
		if !keyed {
			w.index[len(w.index)-1].body = w.endPart()
		}
		if w.err != nil {
			return cw.n, fmt.Errorf("state: write snapshot: table %q: %w", th.name, w.err)
		}
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], w.crc)
	w.raw(sum[:])
	indexOff := w.off
	idx := appendIndex(nil, head, w.index, formatVersion)
	w.raw(idx)
	var foot [footerLen]byte
	binary.LittleEndian.PutUint64(foot[0:], uint64(indexOff))
	binary.LittleEndian.PutUint32(foot[8:], crc32.Checksum(idx, castagnoli))
	copy(foot[12:], footerMagic)
	w.raw(foot[:])
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
	if w.err != nil {
		return cw.n, fmt.Errorf("state: write snapshot: %w", w.err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// span is a checksummed byte range of a snapshot, as the index records it.
type span struct {
	off, length int64
	crc         uint32
}

// sectionIndex is the index entry of one key-group section: data is the
// range of its entries, after the section's own key group, count and
// length.
type sectionIndex struct {
	kg, count int
	data      span
}

// tableIndex is the index entry of one table.
type tableIndex struct {
	tableHeader
	sections []sectionIndex // keyed tables
	body     span           // operator lists: redistribution, count, entries
}

// appendIndex encodes the index of a snapshot of the given version whose
// head (header and table count) is head.
func appendIndex(b []byte, head span, tables []tableIndex, version uint64) []byte {
	appendSpan := func(b []byte, s span) []byte {
		b = binary.AppendUvarint(b, uint64(s.off))
		b = binary.AppendUvarint(b, uint64(s.length))
		return binary.LittleEndian.AppendUint32(b, s.crc)
	}
	b = binary.AppendUvarint(b, uint64(head.length))
	b = binary.LittleEndian.AppendUint32(b, head.crc)
	b = binary.AppendUvarint(b, uint64(len(tables)))
	for _, t := range tables {
		b = binary.AppendUvarint(b, uint64(len(t.name)))
		b = append(b, t.name...)
		b = append(b, byte(t.kind))
		if version >= 3 {
			b = binary.AppendUvarint(b, uint64(len(t.layout)))
			b = append(b, t.layout...)
		}
		if !t.kind.keyed() {
			b = append(b, byte(t.mode))
			b = appendSpan(b, t.body)
			continue
		}
		b = binary.AppendUvarint(b, uint64(max(t.ttl, 0)))
		b = binary.AppendUvarint(b, uint64(len(t.sections)))
		for _, s := range t.sections {
			b = binary.AppendUvarint(b, uint64(s.kg))
			b = binary.AppendUvarint(b, uint64(s.count))
			b = appendSpan(b, s.data)
		}
	}
	return b
}

// snapWriter checksums everything it writes, and separately each part the
// index locates; its first error sticks, so callers check it once per
// section rather than per field.
type snapWriter struct {
	bw  *bufio.Writer
	crc uint32
	err error
	num [binary.MaxVarintLen64]byte
	sec sectionBuf
	// off is the number of bytes written so far.
	off int64
	// part is the checksummed range being written, while inPart.
	part   span
	inPart bool
	// index collects the index entries of the tables written so far.
	index []tableIndex
	// mark is the progress marker of the table being written, or nil.
	mark *atomic.Int32
}

// passed tells the task that the table being written will not read the
// key group at offset i, nor those before it, again. A keyed table calls
// it once the key group's entries are encoded into w.sec, before they
// are written out.
func (w *snapWriter) passed(i int) {
	if w.mark != nil {
		w.mark.Store(int32(i + 1))
	}
}

// raw writes p. Inside a part only the part's checksum is computed: the
// checksum of everything takes it in when the part ends (see crcCombine),
// so that each byte is checksummed once.
func (w *snapWriter) raw(p []byte) {
	if w.err != nil {
		return
	}
	if w.inPart {
		w.part.crc = crc32.Update(w.part.crc, castagnoli, p)
	} else {
		w.crc = crc32.Update(w.crc, castagnoli, p)
	}
	_, w.err = w.bw.Write(p)
	w.off += int64(len(p))
}

// beginPart starts a range that the index checksums on its own.
func (w *snapWriter) beginPart() {
	w.part, w.inPart = span{off: w.off}, true
}

// endPart ends the range beginPart started and returns it.
func (w *snapWriter) endPart() span {
	w.inPart = false
	w.part.length = w.off - w.part.off
	w.crc = crcCombine(w.crc, w.part.crc, w.part.length)
	return w.part
}

// crcCombine returns the CRC-32C of the concatenation of two byte strings
// given the CRC-32C of each and the length of the second, in time
// logarithmic in that length (the method of zlib's crc32_combine).
func crcCombine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	return crcMultModP(crcX8nModP(len2), crc1) ^ crc2
}

// castagnoliReversed is the CRC-32C polynomial in the bit order of
// hash/crc32.
const castagnoliReversed = 0x82f63b78

// crcMultModP multiplies a and b, polynomials over GF(2) in reflected bit
// order, modulo the CRC-32C polynomial.
func crcMultModP(a, b uint32) uint32 {
	m := uint32(1) << 31
	var p uint32
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ castagnoliReversed
		} else {
			b >>= 1
		}
	}
	return p
}

// crcX2n holds x^(2^k) modulo the CRC-32C polynomial, for k < 32.
var crcX2n = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = crcMultModP(p, p)
	}
	return t
}()

// crcX8nModP returns x^(8n) modulo the CRC-32C polynomial: the operator
// that shifts a CRC past n zero bytes.
func crcX8nModP(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = crcMultModP(crcX2n[k&31], p)
		}
	}
	return p
}

func (w *snapWriter) uvarint(v uint64) {
	w.raw(w.num[:binary.PutUvarint(w.num[:], v)])
}

func (w *snapWriter) bytes(p []byte) {
	w.uvarint(uint64(len(p)))
	w.raw(p)
}

// keyedHeader starts the body of a keyed table.
func (w *snapWriter) keyedHeader(ttl time.Duration, sections int) {
	w.uvarint(uint64(max(ttl, 0)))
	w.uvarint(uint64(sections))
	if len(w.index) > 0 {
		t := &w.index[len(w.index)-1]
		t.ttl = max(ttl, 0)
		t.sections = make([]sectionIndex, 0, sections)
	}
}

// section writes the entries collected in w.sec as the section of key group
// kg, sorted by their key bytes so that equal state always gives equal
// snapshots and an on-disk backend can ingest a section as a sorted run.
func (w *snapWriter) section(kg int) error {
	s := &w.sec
	s.sort()
	// The sorted entries are gathered into one buffer, so the section is
	// checksummed and written in one call each rather than one per entry.
	s.out = reserve(s.out, len(s.buf))
	if s.ordered {
		for _, k := range s.order {
			r := &s.recs[k.idx]
			s.out = append(s.out, s.buf[r.start:r.end]...)
		}
	} else {
		for _, r := range s.recs {
			s.out = append(s.out, s.buf[r.start:r.end]...)
		}
	}
	w.sectionData(kg, len(s.recs), s.out)
	return w.err
}

// rawSection writes a section exactly as it was read.
func (w *snapWriter) rawSection(s rawSection) error {
	w.sectionData(s.kg, s.count, s.data)
	return w.err
}

// sectionData writes a section of count entries and records it in the
// index.
func (w *snapWriter) sectionData(kg, count int, data []byte) {
	w.uvarint(uint64(kg))
	w.uvarint(uint64(count))
	w.uvarint(uint64(len(data)))
	w.beginPart()
	w.raw(data)
	d := w.endPart()
	if len(w.index) > 0 {
		t := &w.index[len(w.index)-1]
		t.sections = append(t.sections, sectionIndex{kg: kg, count: count, data: d})
	}
}

// sectionBuf collects the encoded entries of one key-group section so they
// can be sorted before they are written.
type sectionBuf struct {
	buf  []byte
	recs []recSpan
	tmp  []byte
	out  []byte // the entries in order, as written
	// spare and counts are sort's second buffer and byte histograms.
	spare  []recSpan
	counts [16][256]int
	// order, when ordered, is the order sort found: recs stay as they
	// were appended. keys is its second buffer.
	order, keys []sortKey
	ordered     bool
}

// sortKey is an entry in the compact radix sort: the bytes of its 16-byte
// prefix that differ between the section's entries, packed into one
// integer in their order, and its index in sectionBuf.recs. Each pass of
// the sort moves 16 bytes per entry instead of a recSpan's 40.
type sortKey struct {
	key uint64
	idx uint32
}

// recSpan locates one entry in sectionBuf.buf; [start,keyEnd) holds the
// key, namespace and user key, which order the entries. hi and lo hold the
// first 16 bytes of that range, big-endian and zero-padded, so that most
// comparisons while sorting read neither buf nor another cache line: they
// order entries as the bytes do, and only equal prefixes compare the bytes.
type recSpan struct {
	start, keyEnd, end int
	hi, lo             uint64
}

// radixMin is the number of entries from which sort uses a radix sort:
// below it, a comparison sort is as fast and needs no second buffer.
const radixMin = 512

// sort orders the entries by the bytes of their key parts: s.recs itself,
// or, when it sets s.ordered, s.order. Large sections are radix sorted on
// the 16-byte prefixes (least significant byte first, skipping the bytes
// every entry shares, such as length prefixes and the high bytes of small
// integers), which reads each entry's prefix a few times in order instead
// of comparing random pairs of entries; entries whose prefixes are equal
// are then compared on their whole key parts. When the bytes that differ
// lie within 8 consecutive ones, sortCompact sorts those alone.
func (s *sectionBuf) sort() {
	byBytes := func(a, b recSpan) int {
		return bytes.Compare(s.buf[a.start:a.keyEnd], s.buf[b.start:b.keyEnd])
	}
	recs := s.recs
	s.ordered = false
	if len(recs) < radixMin {
		slices.SortFunc(recs, func(a, b recSpan) int {
			if c := cmp.Compare(a.hi, b.hi); c != 0 {
				return c
			}
			if c := cmp.Compare(a.lo, b.lo); c != 0 {
				return c
			}
			return byBytes(a, b)
		})
		return
	}
	// The bytes that differ between entries: those set in diff.
	first := recs[0]
	var diffHi, diffLo uint64
	for _, r := range recs {
		diffHi |= r.hi ^ first.hi
		diffLo |= r.lo ^ first.lo
	}
	lo, hi := 16, -1 // the first and last byte that differ
	for b := range 16 {
		if prefixByte(recSpan{hi: diffHi, lo: diffLo}, b) != 0 {
			lo, hi = min(lo, b), b
		}
	}
	if hi < lo {
		lo, hi = 15, 15 // all prefixes are equal
	}
	if hi-lo < 8 && len(recs) <= math.MaxUint32 {
		s.sortCompact(lo, hi, byBytes)
		return
	}
	counts := &s.counts
	*counts = [16][256]int{}
	for _, r := range recs {
		for b := range 8 {
			counts[b][byte(r.hi>>(56-8*b))]++
			counts[8+b][byte(r.lo>>(56-8*b))]++
		}
	}
	s.spare = slices.Grow(s.spare[:0], len(recs))[:len(recs)]
	src, dst := recs, s.spare
	for b := 15; b >= 0; b-- {
		c := &counts[b]
		if c[prefixByte(src[0], b)] == len(src) {
			continue
		}
		sum := 0
		for i, n := range c {
			c[i] = sum
			sum += n
		}
		for _, r := range src {
			k := prefixByte(r, b)
			dst[c[k]] = r
			c[k]++
		}
		src, dst = dst, src
	}
	if &src[0] != &recs[0] {
		copy(recs, src)
	}
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].hi == recs[i].hi && recs[j].lo == recs[i].lo {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(recs[i:j], byBytes)
		}
		i = j
	}
}

// sortCompact is sort for sections whose entries' 16-byte prefixes differ
// only in bytes first to last, at most 8 of them, the common case of
// integer keys and of string keys with a shared stem: it radix sorts
// sortKeys holding those bytes and leaves the order in s.order.
func (s *sectionBuf) sortCompact(first, last int, byBytes func(a, b recSpan) int) {
	recs := s.recs
	s.order = reserve(s.order, len(recs))[:len(recs)]
	s.keys = reserve(s.keys, len(recs))[:len(recs)]
	width := last - first + 1 // bytes
	shift := uint(8 * (15 - last))
	counts := (*[8][256]int)(s.counts[:8])
	*counts = [8][256]int{}
	for i := range recs {
		r := &recs[i]
		// The 16 prefix bytes as one 128-bit integer, shifted right so
		// that byte last is the lowest and masked to width bytes.
		var k uint64
		if shift >= 64 {
			k = r.hi >> (shift - 64)
		} else {
			k = r.lo>>shift | r.hi<<(64-shift)
		}
		if width < 8 {
			k &= 1<<(8*width) - 1
		}
		s.order[i] = sortKey{key: k, idx: uint32(i)}
		for j := range width {
			counts[j][byte(k>>(8*j))]++
		}
	}
	src, dst := s.order, s.keys
	for j := range width {
		c := &counts[j]
		if c[byte(src[0].key>>(8*j))] == len(src) {
			continue // the same in every entry
		}
		sum := 0
		for i, n := range c {
			c[i] = sum
			sum += n
		}
		for _, k := range src {
			d := byte(k.key >> (8 * j))
			dst[c[d]] = k
			c[d]++
		}
		src, dst = dst, src
	}
	s.order, s.keys, s.ordered = src, dst, true
	order := s.order
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && order[j].key == order[i].key {
			j++
		}
		if j-i > 1 {
			// Equal packed bytes mean equal prefixes: the rest of the
			// key parts decides.
			slices.SortFunc(order[i:j], func(a, b sortKey) int { return byBytes(recs[a.idx], recs[b.idx]) })
		}
		i = j
	}
}

// reserve returns b emptied, with room for n elements; when it must
// allocate, it leaves a quarter more, so that a run of sections each a
// little larger than the one before does not allocate for every one.
func reserve[T any](b []T, n int) []T {
	if cap(b) >= n {
		return b[:0]
	}
	return make([]T, 0, n+n/4)
}

// prefixByte returns byte b (0 the most significant) of r's 16-byte prefix.
func prefixByte(r recSpan, b int) byte {
	if b < 8 {
		return byte(r.hi >> (56 - 8*b))
	}
	return byte(r.lo >> (56 - 8*(b-8)))
}

func (s *sectionBuf) reset() {
	s.buf = s.buf[:0]
	s.recs = s.recs[:0]
}

// begin starts an entry whose key part is the already encoded prefix.
func (s *sectionBuf) begin(prefix []byte) {
	s.recs = append(s.recs, recSpan{start: len(s.buf)})
	s.buf = append(s.buf, prefix...)
}

func (s *sectionBuf) keyDone() {
	r := &s.recs[len(s.recs)-1]
	r.keyEnd = len(s.buf)
	n := r.keyEnd - r.start
	switch {
	case n >= 16:
		r.hi = binary.BigEndian.Uint64(s.buf[r.start:])
		r.lo = binary.BigEndian.Uint64(s.buf[r.start+8:])
	case cap(s.buf)-r.start >= 16:
		// Read 16 bytes, those past the key from the buffer's spare
		// capacity, and clear those.
		b := s.buf[r.start : r.start+16]
		r.hi = binary.BigEndian.Uint64(b)
		r.lo = binary.BigEndian.Uint64(b[8:])
		if n < 8 {
			r.hi &^= math.MaxUint64 >> (8 * n)
			r.lo = 0
		} else {
			r.lo &^= math.MaxUint64 >> (8 * (n - 8))
		}
	default:
		var p [16]byte
		copy(p[:], s.buf[r.start:r.keyEnd])
		r.hi = binary.BigEndian.Uint64(p[:8])
		r.lo = binary.BigEndian.Uint64(p[8:])
	}
}

// beginEntry starts an entry whose fields follow.
func (s *sectionBuf) beginEntry() {
	s.recs = append(s.recs, recSpan{start: len(s.buf)})
}

// encodeEntry appends an entry of a value table: key, namespace and value.
func encodeEntry[K, N, V any](s *sectionBuf, kc codec.Codec[K], k K, nc codec.Codec[N], n N, vc codec.Codec[V], v V) {
	s.beginEntry()
	encodeField(s, kc, k)
	encodeField(s, nc, n)
	s.keyDone()
	encodeField(s, vc, v)
	s.end()
}

// encodeField appends v as one length-prefixed field, encoded by c
// straight into the buffer: a field shorter than 128 bytes, whose length
// takes one byte, is not copied.
func encodeField[T any](s *sectionBuf, c codec.Codec[T], v T) {
	p := len(s.buf)
	s.buf = c.Append(append(s.buf, 0), v)
	n := len(s.buf) - p - 1
	if n < 0x80 {
		s.buf[p] = byte(n)
		return
	}
	var num [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(num[:], uint64(n))
	s.buf = append(s.buf, num[:k-1]...)
	copy(s.buf[p+k:], s.buf[p+1:p+1+n])
	copy(s.buf[p:], num[:k])
}

func (s *sectionBuf) end() { s.recs[len(s.recs)-1].end = len(s.buf) }

// field appends one length-prefixed field whose encoding is in s.tmp.
func (s *sectionBuf) field(enc []byte) {
	s.buf = binary.AppendUvarint(s.buf, uint64(len(enc)))
	s.buf = append(s.buf, enc...)
}

func (s *sectionBuf) stamp(t int64) {
	s.buf = binary.LittleEndian.AppendUint64(s.buf, uint64(t))
}

// rawSection is one key-group section as read from a snapshot: its entries
// are still encoded, because a table's codecs are known only when the
// operator creates the table after Restore.
type rawSection struct {
	kg    int
	count int
	data  []byte
	// snap, file and off locate data in the snapshot it came from, for
	// errors.
	snap int
	file string
	off  int64
}

// rawTable is a table read from snapshots and not yet created by the
// operator. It is immutable once Restore returns, so snapshots may carry it
// on another goroutine.
type rawTable struct {
	tableHeader
	// snap is the first snapshot the table was found in, for errors.
	snap     int
	sections []rawSection // keyed tables, by key group
	entries  [][]byte     // operator lists, already redistributed
}

func (t *rawTable) header() tableHeader { return t.tableHeader }

func (t *rawTable) writeBody(w *snapWriter, _ int64) error {
	if t.kind == kindOperatorList {
		w.raw([]byte{byte(t.mode)})
		w.uvarint(uint64(len(t.entries)))
		for _, e := range t.entries {
			w.bytes(e)
		}
		return w.err
	}
	// Entries are carried as they were read; any that expired since are
	// dropped when the table is created again and read with its TTL.
	w.keyedHeader(t.ttl, len(t.sections))
	for _, s := range t.sections {
		if err := w.rawSection(s); err != nil {
			return err
		}
	}
	return w.err
}

// parsedSnapshot is one snapshot read and verified, reduced to the key
// groups of the restoring backend.
type parsedSnapshot struct {
	hdr    snapHeader
	tables []*rawTable
}

// snapReader checksums everything it reads and knows where it is, so every
// error can say where.
type snapReader struct {
	br    *bufio.Reader
	crc   uint32
	off   int64
	snap  int
	file  string
	table string
	kg    int
	// verify is set by VerifySnapshot: readTable checks every section's
	// entries and records the index the tables imply, keeping no data.
	verify bool
	index  []tableIndex
	// part, while inPart, is the checksum of the range being read, for
	// the index.
	part   uint32
	inPart bool
	// version is the snapshot's format version, once its header is read.
	version uint64
}

// sum adds p to the checksums.
func (r *snapReader) sum(p []byte) {
	r.crc = crc32.Update(r.crc, castagnoli, p)
	if r.inPart {
		r.part = crc32.Update(r.part, castagnoli, p)
	}
}

func (r *snapReader) fail(off int64, format string, args ...any) error {
	return &FormatError{Snapshot: r.snap, File: r.file, Offset: off, Table: r.table, KeyGroup: r.kg, Err: fmt.Errorf(format, args...)}
}

func (r *snapReader) wrap(off int64, what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// The usual way a snapshot gets torn; say so plainly.
		err = fmt.Errorf("snapshot truncated: %w", io.ErrUnexpectedEOF)
	}
	return &FormatError{Snapshot: r.snap, File: r.file, Offset: off, Table: r.table, KeyGroup: r.kg, Err: fmt.Errorf("%s: %w", what, err)}
}

// ReadByte lets binary.ReadUvarint read through the checksum.
func (r *snapReader) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.sum([]byte{c})
	r.off++
	return c, nil
}

func (r *snapReader) uvarint(what string) (uint64, error) {
	off := r.off
	v, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, r.wrap(off, what, err)
	}
	return v, nil
}

// int reads a uvarint that must be at most limit.
func (r *snapReader) int(what string, limit int) (int, error) {
	off := r.off
	v, err := r.uvarint(what)
	if err != nil {
		return 0, err
	}
	if v > uint64(limit) {
		return 0, r.fail(off, "%s %d is above %d", what, v, limit)
	}
	return int(v), nil
}

// full reads n bytes, allocating only as fast as they arrive so that a
// corrupt length fails with a short read instead of a huge allocation.
func (r *snapReader) full(what string, n int) ([]byte, error) {
	off := r.off
	p := make([]byte, 0, min(n, readChunk))
	for len(p) < n {
		k := min(n-len(p), readChunk)
		p = slices.Grow(p, k)
		m, err := io.ReadFull(r.br, p[len(p):len(p)+k])
		r.sum(p[len(p) : len(p)+m])
		r.off += int64(m)
		p = p[:len(p)+m]
		if err != nil {
			return nil, r.wrap(off, what, err)
		}
	}
	return p, nil
}

// skip reads and checksums n bytes without keeping them.
func (r *snapReader) skip(what string, n int) error {
	off := r.off
	var buf [4096]byte
	for n > 0 {
		k := min(n, len(buf))
		m, err := io.ReadFull(r.br, buf[:k])
		r.sum(buf[:m])
		r.off += int64(m)
		n -= m
		if err != nil {
			return r.wrap(off, what, err)
		}
	}
	return nil
}

func (r *snapReader) bytes(what string, limit int) ([]byte, error) {
	n, err := r.int(what+" length", limit)
	if err != nil {
		return nil, err
	}
	return r.full(what, n)
}

// readHeader reads the header and the table count, through the version,
// which must be one of versions.
// A nil cfg checks the header against no backend.
func (r *snapReader) readHeader(cfg *Config, versions ...uint64) (snapHeader, int, error) {
	var h snapHeader
	magic, err := r.full("magic", len(formatMagic))
	if err != nil {
		return h, 0, err
	}
	if string(magic) != formatMagic {
		return h, 0, r.fail(0, "not a Weir state snapshot (magic %q)", magic)
	}
	off := r.off
	version, err := r.uvarint("format version")
	if err != nil {
		return h, 0, err
	}
	if !slices.Contains(versions, version) {
		return h, 0, r.fail(off, "format version %d not supported (this build reads versions 1 to %d)", version, formatVersion)
	}
	r.version = version
	op, err := r.bytes("operator ID", maxNameLen)
	if err != nil {
		return h, 0, err
	}
	h.operatorID = string(op)
	off = r.off
	if h.maxParallelism, err = r.int("max parallelism", math.MaxInt32); err != nil {
		return h, 0, err
	}
	if cfg != nil && h.maxParallelism != cfg.MaxParallelism {
		return h, 0, r.fail(off, "max parallelism %d, but the backend has %d: key groups would not match", h.maxParallelism, cfg.MaxParallelism)
	}
	if cfg != nil && h.operatorID != cfg.OperatorID {
		return h, 0, r.fail(off, "written by operator %q, restoring operator %q", h.operatorID, cfg.OperatorID)
	}
	off = r.off
	if h.subtask, err = r.int("subtask", h.maxParallelism); err != nil {
		return h, 0, err
	}
	if h.parallelism, err = r.int("parallelism", h.maxParallelism); err != nil {
		return h, 0, err
	}
	if h.subtask >= h.parallelism {
		return h, 0, r.fail(off, "subtask %d of parallelism %d", h.subtask, h.parallelism)
	}
	off = r.off
	if h.keyGroups.Start, err = r.int("key group start", h.maxParallelism); err != nil {
		return h, 0, err
	}
	if h.keyGroups.End, err = r.int("key group end", h.maxParallelism); err != nil {
		return h, 0, err
	}
	if h.keyGroups.Start > h.keyGroups.End {
		return h, 0, r.fail(off, "key group range %s starts after it ends", h.keyGroups)
	}
	ntables, err := r.int("table count", math.MaxInt32)
	if err != nil {
		return h, 0, err
	}
	return h, ntables, nil
}

// readSnapshotV1 reads and verifies one snapshot of version 1 from its
// first byte to its last, keeping the key-group sections inside own. It
// returns nothing unless the checksum matches, so a torn file never
// half-restores.
func readSnapshotV1(src io.Reader, snap int, file string, cfg Config) (*parsedSnapshot, error) {
	r := &snapReader{br: bufio.NewReaderSize(src, 64<<10), snap: snap, file: file, kg: -1}
	p := &parsedSnapshot{}
	h, ntables, err := r.readHeader(&cfg, 1)
	if err != nil {
		return nil, err
	}
	p.hdr = h
	seen := make(map[string]bool)
	for range ntables {
		t, err := r.readTable(&p.hdr, cfg.KeyGroups)
		if err != nil {
			return nil, err
		}
		if seen[t.name] {
			return nil, r.fail(r.off, "table %q appears twice", t.name)
		}
		seen[t.name] = true
		// A table without sections in range is kept all the same: it is
		// still a table, and its kind is checked when it is created.
		p.tables = append(p.tables, t)
	}
	r.table, r.kg = "", -1
	sum := r.crc
	off := r.off
	var trailer [4]byte
	if _, err := io.ReadFull(r.br, trailer[:]); err != nil {
		return nil, r.wrap(off, "checksum", err)
	}
	if got := binary.LittleEndian.Uint32(trailer[:]); got != sum {
		return nil, r.wrap(off, fmt.Sprintf("stored %08x, computed %08x", got, sum), ErrChecksum)
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		return nil, r.fail(off+4, "data after the checksum")
	}
	return p, nil
}

// readTableHeader reads what a table starts with, in its body and in the
// index alike: its name (which later errors name), its kind and, from
// version 3, its layout.
func (r *snapReader) readTableHeader() (tableHeader, error) {
	name, err := r.bytes("table name", maxNameLen)
	if err != nil {
		return tableHeader{}, err
	}
	r.table = string(name)
	h := tableHeader{name: r.table}
	off := r.off
	k, err := r.ReadByte()
	if err != nil {
		return h, r.wrap(off, "table kind", err)
	}
	h.kind = tableKind(k)
	if h.kind != kindOperatorList && !h.kind.keyed() {
		return h, r.fail(off, "unknown table kind %d", k)
	}
	if r.version >= 3 {
		if h.layout, err = r.bytes("table layout", maxLayoutLen); err != nil {
			return h, err
		}
	}
	return h, nil
}

// table reads one table; its sections outside own are checksummed and
// dropped.
func (r *snapReader) readTable(h *snapHeader, own KeyGroupRange) (*rawTable, error) {
	r.table, r.kg = "", -1
	th, err := r.readTableHeader()
	if err != nil {
		return nil, err
	}
	t := &rawTable{tableHeader: th, snap: r.snap}
	var ix *tableIndex
	if r.verify {
		r.index = append(r.index, tableIndex{tableHeader: t.tableHeader})
		ix = &r.index[len(r.index)-1]
	}
	if t.kind == kindOperatorList {
		off := r.off
		r.part, r.inPart = 0, r.verify
		m, err := r.ReadByte()
		if err != nil {
			return nil, r.wrap(off, "redistribution", err)
		}
		t.mode = Redistribution(m)
		if t.mode != Split && t.mode != Broadcast {
			return nil, r.fail(off, "unknown redistribution %d", m)
		}
		n, err := r.int("entry count", math.MaxInt32)
		if err != nil {
			return nil, err
		}
		for range n {
			e, err := r.bytes("operator list entry", math.MaxInt32)
			if err != nil {
				return nil, err
			}
			t.entries = append(t.entries, e)
		}
		r.inPart = false
		if ix != nil {
			ix.mode = t.mode
			ix.body = span{off: off, length: r.off - off, crc: r.part}
		}
		return t, nil
	}
	ttl, err := r.uvarint("TTL")
	if err != nil {
		return nil, err
	}
	if ttl > 1<<63-1 {
		return nil, r.fail(r.off, "TTL %d out of range", ttl)
	}
	t.ttl = time.Duration(ttl)
	n, err := r.int("key group section count", h.keyGroups.Len())
	if err != nil {
		return nil, err
	}
	last := -1
	for range n {
		r.kg = -1
		off := r.off
		kg, err := r.int("key group", h.maxParallelism)
		if err != nil {
			return nil, err
		}
		if !h.keyGroups.Contains(kg) {
			return nil, r.fail(off, "key group %d outside the snapshot's range %s", kg, h.keyGroups)
		}
		if kg <= last {
			return nil, r.fail(off, "key group %d after key group %d: sections must be in increasing order", kg, last)
		}
		last = kg
		r.kg = kg
		count, err := r.int("entry count", math.MaxInt32)
		if err != nil {
			return nil, err
		}
		size, err := r.int("section length", math.MaxInt)
		if err != nil {
			return nil, err
		}
		start := r.off
		if !own.Contains(kg) && !r.verify {
			if err := r.skip("section", size); err != nil {
				return nil, err
			}
			continue
		}
		r.part, r.inPart = 0, r.verify
		data, err := r.full("section", size)
		r.inPart = false
		if err != nil {
			return nil, err
		}
		s := rawSection{kg: kg, count: count, data: data, snap: r.snap, file: r.file, off: start}
		if err := checkSection(t, s); err != nil {
			return nil, err
		}
		if ix != nil {
			ix.ttl = t.ttl
			ix.sections = append(ix.sections, sectionIndex{kg: kg, count: count, data: span{off: start, length: int64(size), crc: r.part}})
			continue
		}
		if count > 0 {
			t.sections = append(t.sections, s)
		}
	}
	if ix != nil {
		ix.ttl = t.ttl
	}
	r.kg = -1
	return t, nil
}

// checkSection walks the entries of a section to check that they fill it
// exactly, without decoding them: codecs are not known yet.
func checkSection(t *rawTable, s rawSection) error {
	rr := recordReader{t: t, s: s}
	for range s.count {
		if _, err := rr.record(); err != nil {
			return err
		}
	}
	if rr.pos != len(s.data) {
		return rr.fail(rr.pos, "%d bytes after the last of %d entries", len(s.data)-rr.pos, s.count)
	}
	return nil
}

// record is one entry of a keyed table, still encoded.
type record struct {
	key, ns, uk, value []byte
	// at is the entry's last-write time; 0 when the table had no TTL.
	at int64
	// off is where the entry starts in the section, for errors.
	off int
}

// recordReader splits a raw section into entries.
type recordReader struct {
	t   *rawTable
	s   rawSection
	pos int
}

func (rr *recordReader) fail(pos int, format string, args ...any) error {
	return &FormatError{Snapshot: rr.s.snap, File: rr.s.file, Offset: rr.s.off + int64(pos), Table: rr.t.name, KeyGroup: rr.s.kg, Err: fmt.Errorf(format, args...)}
}

func (rr *recordReader) field(what string) ([]byte, error) {
	n, k := binary.Uvarint(rr.s.data[rr.pos:])
	if k <= 0 {
		return nil, rr.fail(rr.pos, "%s length: malformed or truncated uvarint", what)
	}
	if n > uint64(len(rr.s.data)-rr.pos-k) {
		return nil, rr.fail(rr.pos, "%s length %d runs past the end of the section", what, n)
	}
	start := rr.pos + k
	rr.pos = start + int(n)
	return rr.s.data[start:rr.pos:rr.pos], nil
}

func (rr *recordReader) record() (record, error) {
	rec := record{off: rr.pos}
	var err error
	if rec.key, err = rr.field("key"); err != nil {
		return rec, err
	}
	if rec.ns, err = rr.field("namespace"); err != nil {
		return rec, err
	}
	if rr.t.kind == kindMap {
		if rec.uk, err = rr.field("user key"); err != nil {
			return rec, err
		}
	}
	if rec.value, err = rr.field("value"); err != nil {
		return rec, err
	}
	if rr.t.ttl > 0 {
		if len(rr.s.data)-rr.pos < 8 {
			return rec, rr.fail(rr.pos, "last-write time runs past the end of the section")
		}
		rec.at = int64(binary.LittleEndian.Uint64(rr.s.data[rr.pos:]))
		rr.pos += 8
	}
	return rec, nil
}

// decodeField decodes one field of an entry with its codec, which must use
// the whole field.
func decodeField[T any](rr *recordReader, rec record, what string, c codec.Codec[T], b []byte) (T, error) {
	v, n, err := c.Decode(b)
	if err == nil && n != len(b) {
		err = fmt.Errorf("codec used %d of its %d bytes", n, len(b))
	}
	if err != nil {
		var zero T
		return zero, rr.fail(rec.off, "entry %s: %w", what, err)
	}
	return v, nil
}

// mergeSnapshots combines verified snapshots of the old subtasks into the
// raw tables of the restoring subtask: keyed sections are already limited
// to its key groups, and operator lists are redistributed here.
func mergeSnapshots(ps []*parsedSnapshot, cfg Config) (map[string]*rawTable, error) {
	out := make(map[string]*rawTable)
	if len(ps) == 0 {
		return out, nil
	}
	oldP := ps[0].hdr.parallelism
	for i, p := range ps {
		if p.hdr.parallelism != oldP {
			return nil, fmt.Errorf("state: restore: snapshot %d was written at parallelism %d, snapshot 0 at %d", i, p.hdr.parallelism, oldP)
		}
		if i > 0 && p.hdr.subtask <= ps[i-1].hdr.subtask {
			return nil, fmt.Errorf("state: restore: snapshot %d is of old subtask %d, after old subtask %d: snapshots must be given once each in old subtask order", i, p.hdr.subtask, ps[i-1].hdr.subtask)
		}
	}
	// Entries of each operator list, per snapshot, in snapshot order.
	lists := make(map[string][][][]byte)
	type tableKG struct {
		name string
		kg   int
	}
	from := make(map[tableKG]int) // which snapshot a section came from, for errors
	for i, p := range ps {
		for _, t := range p.tables {
			prev, ok := out[t.name]
			if !ok {
				prev = &rawTable{tableHeader: t.tableHeader, snap: i}
				out[t.name] = prev
			}
			switch {
			case prev.kind != t.kind:
				return nil, fmt.Errorf("state: restore: table %q is a %s table in snapshot %d but a %s table in snapshot %d", t.name, prev.kind, prev.snap, t.kind, i)
			case t.kind == kindOperatorList && prev.mode != t.mode:
				return nil, fmt.Errorf("state: restore: operator list %q is %s in snapshot %d but %s in snapshot %d", t.name, prev.mode, prev.snap, t.mode, i)
			case t.kind.keyed() && prev.ttl != t.ttl:
				return nil, fmt.Errorf("state: restore: table %q has TTL %v in snapshot %d but %v in snapshot %d", t.name, prev.ttl, prev.snap, t.ttl, i)
			case !bytes.Equal(prev.layout, t.layout):
				return nil, fmt.Errorf("state: restore: table %q has layout %s in snapshot %d but %s in snapshot %d", t.name, describeLayout(prev.layout), prev.snap, describeLayout(t.layout), i)
			}
			if t.kind == kindOperatorList {
				for len(lists[t.name]) < i {
					lists[t.name] = append(lists[t.name], nil)
				}
				lists[t.name] = append(lists[t.name], t.entries)
				continue
			}
			for _, s := range t.sections {
				key := tableKG{t.name, s.kg}
				if j, dup := from[key]; dup {
					return nil, fmt.Errorf("state: restore: table %q key group %d is in both snapshot %d and snapshot %d", t.name, s.kg, j, i)
				}
				from[key] = i
				prev.sections = append(prev.sections, s)
			}
		}
	}
	for name, perSnap := range lists {
		if len(ps) != oldP {
			return nil, fmt.Errorf("state: restore: operator list %q: redistributing needs the snapshots of all %d old subtasks, got %d", name, oldP, len(ps))
		}
		t := out[name]
		switch t.mode {
		case Broadcast:
			t.entries = perSnap[0]
		case Split:
			j := 0
			for _, es := range perSnap {
				for _, e := range es {
					if j%cfg.Parallelism == cfg.Subtask {
						t.entries = append(t.entries, e)
					}
					j++
				}
			}
		}
	}
	for _, t := range out {
		slices.SortFunc(t.sections, func(a, b rawSection) int { return a.kg - b.kg })
	}
	return out, nil
}
