package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// OffsetError is the error of a reader asked for an offset its partition
// does not hold: deleted by retention, or not written yet.
type OffsetError struct {
	Partition int
	// Offset is the offset asked for; First and Next are the partition's
	// first kept offset and the offset of its next record.
	Offset, First, Next int64
}

func (e *OffsetError) Error() string {
	if e.Offset < e.First {
		return fmt.Sprintf("journal partition %d: offset %d was deleted by retention; the partition keeps offsets %d to %d",
			e.Partition, e.Offset, e.First, e.Next-1)
	}
	return fmt.Sprintf("journal partition %d: offset %d is beyond the partition's end (its next record gets offset %d)",
		e.Partition, e.Offset, e.Next)
}

// Deleted reports whether the offset was deleted by retention.
func (e *OffsetError) Deleted() bool { return e.Offset < e.First }

// ReaderConfig says where a reader reads.
type ReaderConfig struct {
	// Partition is the partition to read.
	Partition int
	// Offset is the offset of the first record to read: from the
	// partition's first kept offset to the offset of its next record.
	Offset int64
	// ChunkBytes is how much a read takes from the file at once (default
	// 256 KiB; a record larger than it is read whole): a reader's memory.
	ChunkBytes int
}

const (
	defaultChunkBytes = 256 << 10
	minChunkBytes     = 4 << 10
)

// Reader reads one partition from an offset: the committed records only,
// in bounded chunks. Its methods are for one goroutine, but SetWake's
// function is called from the appending ones.
type Reader struct {
	j    *Journal
	p    *partition
	next atomic.Int64 // offset of the next record to read
	wake func()       // guarded by p.mu

	f       *os.File
	segBase int64 // the first offset of the segment f holds
	segSize int64 // its size once known to be closed, else -1
	pos     int64 // the byte position of record next in f
	buf     []byte
	chunk   int
	// need is the size of a record larger than a chunk, to read whole.
	need   int64
	closed bool
}

// NewReader opens a reader. An offset below the partition's first kept
// offset or above its next record fails with an *OffsetError.
func (j *Journal) NewReader(cfg ReaderConfig) (*Reader, error) {
	if j.isClosed() {
		return nil, ErrClosed
	}
	if cfg.Partition < 0 || cfg.Partition >= len(j.parts) {
		return nil, fmt.Errorf("journal: partition %d is outside [0, %d)", cfg.Partition, len(j.parts))
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = defaultChunkBytes
	}
	cfg.ChunkBytes = max(cfg.ChunkBytes, minChunkBytes)
	p := j.parts[cfg.Partition]
	r := &Reader{j: j, p: p, chunk: cfg.ChunkBytes, segSize: -1}
	r.next.Store(cfg.Offset)

	p.mu.Lock()
	first, committed := p.mu.segs[0].base, p.mu.committed
	var seg segment
	last := false
	for i, s := range p.mu.segs {
		if s.base <= cfg.Offset {
			seg, last = s, i == len(p.mu.segs)-1
		}
	}
	if cfg.Offset >= first && cfg.Offset <= committed {
		p.mu.readers[r] = struct{}{}
	}
	p.mu.Unlock()
	if cfg.Offset < first || cfg.Offset > committed {
		return nil, &OffsetError{Partition: cfg.Partition, Offset: cfg.Offset, First: first, Next: committed}
	}
	if !last {
		r.segSize = seg.size
	}
	if err := r.openSegment(seg.base); err != nil {
		r.Close()
		if errors.Is(err, os.ErrNotExist) {
			// Retention deleted it since: say so.
			first, next, _ := j.Bounds(cfg.Partition)
			return nil, &OffsetError{Partition: cfg.Partition, Offset: cfg.Offset, First: first, Next: next}
		}
		return nil, err
	}
	if err := r.seek(cfg.Offset, seg.size); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reader) openSegment(base int64) error {
	f, err := os.Open(r.p.path(base))
	if err != nil {
		return fmt.Errorf("journal partition %d: %w", r.p.id, err)
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.segBase, r.pos = f, base, 0
	return nil
}

// seek moves from the start of the segment to offset, reading headers
// only, within the segment's first size bytes.
func (r *Reader) seek(offset, size int64) error {
	var data []byte
	for cur := r.segBase; cur < offset; cur++ {
		if len(data) < headerSize {
			var err error
			if data, err = r.readAt(r.pos, min(int64(r.chunk), size-r.pos)); err != nil {
				return err
			}
		}
		n, err := recordSize(data)
		if err == nil && int64(leUint64(data[8:])) != cur {
			err = fmt.Errorf("%w: offset %d, want %d", errDamaged, leUint64(data[8:]), cur)
		}
		if err != nil {
			return r.damaged(cur, err)
		}
		r.pos += int64(n)
		if n <= len(data) {
			data = data[n:]
		} else {
			data = nil
		}
	}
	return nil
}

// readAt reads n bytes of the segment at pos into the reader's buffer.
func (r *Reader) readAt(pos, n int64) ([]byte, error) {
	if int64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := r.f.ReadAt(b, pos); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: the file ends before byte %d", errDamaged, pos+n)
		}
		return nil, r.damaged(r.next.Load(), err)
	}
	return b, nil
}

func (r *Reader) damaged(offset int64, err error) error {
	return fmt.Errorf("journal partition %d: %s at byte %d (offset %d): %w",
		r.p.id, r.p.path(r.segBase), r.pos, offset, err)
}

// SetWake registers a function called, from the appending goroutine,
// each time records are committed to the reader's partition. It must not
// block.
func (r *Reader) SetWake(wake func()) {
	r.p.mu.Lock()
	r.wake = wake
	r.p.mu.Unlock()
}

// Offset returns the offset of the next record the reader reads.
func (r *Reader) Offset() int64 { return r.next.Load() }

// Partition returns the partition the reader reads.
func (r *Reader) Partition() int { return r.p.id }

// limit returns how many bytes of the reader's segment are committed and
// whether it is the partition's active segment.
func (r *Reader) limit() (size int64, active bool, err error) {
	if r.segSize >= 0 {
		return r.segSize, false, nil
	}
	r.p.mu.Lock()
	segs := r.p.mu.segs
	for i, s := range segs {
		if s.base == r.segBase {
			r.p.mu.Unlock()
			if i < len(segs)-1 {
				r.segSize = s.size
			}
			return s.size, i == len(segs)-1, nil
		}
	}
	r.p.mu.Unlock()
	// Deleted by retention while open: it was closed, so whole.
	fi, err := r.f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("journal partition %d: %w", r.p.id, err)
	}
	r.segSize = fi.Size()
	return r.segSize, false, nil
}

// advance moves to the segment after the reader's, which must begin at
// the reader's next offset.
func (r *Reader) advance() error {
	next := r.next.Load()
	r.p.mu.Lock()
	var seg segment
	found, last := false, false
	for i, s := range r.p.mu.segs {
		if s.base > r.segBase {
			seg, found, last = s, true, i == len(r.p.mu.segs)-1
			break
		}
	}
	first, committed := r.p.mu.segs[0].base, r.p.mu.committed
	r.p.mu.Unlock()
	if first > next {
		return &OffsetError{Partition: r.p.id, Offset: next, First: first, Next: committed}
	}
	if !found || seg.base != next {
		return r.damaged(next, fmt.Errorf("%w: the segment ends at offset %d and the next one begins at %d", errDamaged, next, seg.base))
	}
	if err := r.openSegment(seg.base); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			first, committed, _ := r.j.Bounds(r.p.id)
			return &OffsetError{Partition: r.p.id, Offset: next, First: first, Next: committed}
		}
		return err
	}
	r.segSize = -1
	if !last {
		r.segSize = seg.size
	}
	return nil
}

// Read calls fn for the next committed records, in order, up to maxRecords
// of them, and returns how many it read: fewer than max only when it has read
// everything committed. value is only valid during the call. A record
// that fails its checksum fails the read with an error naming the
// segment file, the byte and the offset.
func (r *Reader) Read(maxRecords int, fn func(offset int64, appended time.Time, value []byte)) (int, error) {
	if r.closed {
		return 0, errors.New("journal: read from a closed reader")
	}
	if r.j.isClosed() {
		return 0, ErrClosed
	}
	n := 0
	for n < maxRecords {
		limit, active, err := r.limit()
		if err != nil {
			return n, err
		}
		if r.pos >= limit {
			if active {
				return n, nil
			}
			if err := r.advance(); err != nil {
				return n, err
			}
			continue
		}
		data, err := r.readAt(r.pos, min(max(int64(r.chunk), r.need), limit-r.pos))
		if err != nil {
			return n, err
		}
		r.need = 0
		for n < maxRecords {
			rec, err := parseRecord(data, r.next.Load())
			if errors.Is(err, errShort) {
				if len(data) == 0 {
					break // the next chunk
				}
				if r.pos+int64(len(data)) >= limit {
					return n, r.damaged(r.next.Load(), fmt.Errorf("%w: the committed bytes end inside a record", errDamaged))
				}
				if size, serr := recordSize(data); serr == nil && size > len(data) {
					// A record larger than a chunk is read whole.
					r.need = int64(size)
				}
				break
			}
			if err != nil {
				return n, r.damaged(r.next.Load(), err)
			}
			fn(rec.off, time.Unix(0, rec.nanos), rec.value)
			n++
			r.pos += int64(rec.size)
			r.next.Store(rec.off + 1)
			data = data[rec.size:]
		}
	}
	return n, nil
}

// Close closes the reader.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.p.mu.Lock()
	delete(r.p.mu.readers, r)
	r.p.mu.Unlock()
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

func leUint64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func (r *Reader) wakeFunc() func() {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.wake
}
