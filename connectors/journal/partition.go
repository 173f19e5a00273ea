package journal

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// segment is a segment file as readers see it: its first offset and its
// committed bytes.
type segment struct {
	base int64
	size int64
}

// partition is one partition: the writer's side, touched only by the
// commit leader, and what is published to readers under mu.
type partition struct {
	j   *Journal
	id  int
	dir string

	// w is the writer's side; only the leader touches it.
	w struct {
		f     *os.File // the active segment, opened for appending
		base  int64    // its first offset
		size  int64    // bytes written to it
		next  int64    // offset of the next record
		buf   []byte   // records of the group being committed, not yet written
		dirty bool
		// first is the append time of the active segment's first record
		// (Unix nanoseconds), 0 while it is empty.
		first int64
		// rolled are the segments this commit closed, with their final
		// sizes, oldest first.
		rolled []segment
	}

	mu struct {
		sync.Mutex
		// segs are the segments kept, oldest first; the last one is
		// active. Its size is what has been committed.
		segs []segment
		// committed is the offset after the last committed record.
		committed int64
		readers   map[*Reader]struct{}
	}
}

func partitionDir(dir string, id int) string { return filepath.Join(dir, fmt.Sprintf("p%05d", id)) }

// openPartition opens a partition's segments, truncating the last one's
// torn tail, and returns how many bytes it cut.
func openPartition(j *Journal, id int) (*partition, int64, error) {
	p := &partition{j: j, id: id, dir: partitionDir(j.cfg.Dir, id)}
	p.mu.readers = map[*Reader]struct{}{}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("journal: %w", err)
	}
	bases, err := listSegments(p.dir)
	if err != nil {
		return nil, 0, fmt.Errorf("journal: partition %d: %w", id, err)
	}
	if len(bases) == 0 {
		if err := p.create(0); err != nil {
			return nil, 0, err
		}
		p.mu.segs = []segment{{base: 0}}
		return p, 0, nil
	}
	for _, base := range bases[:len(bases)-1] {
		fi, err := os.Stat(p.path(base))
		if err != nil {
			return nil, 0, fmt.Errorf("journal: %w", err)
		}
		p.mu.segs = append(p.mu.segs, segment{base: base, size: fi.Size()})
	}
	last := bases[len(bases)-1]
	path := p.path(last)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %w", err)
	}
	count, size, _, err := scanSegment(f, last, make([]byte, 256<<10))
	var truncated int64
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.Size() > size {
			// The tail after the last whole record was never
			// acknowledged: an append was cut short by a crash.
			truncated = fi.Size() - size
			if err = f.Truncate(size); err == nil {
				err = f.Sync()
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("journal: %s: %w", path, err)
	}
	p.w.f, p.w.base, p.w.size, p.w.next = f, last, size, last+count
	if count > 0 {
		var h [headerSize]byte
		if _, err := f.ReadAt(h[:], 0); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("journal: %s: %w", path, err)
		}
		p.w.first = int64(leUint64(h[16:]))
	}
	p.mu.segs = append(p.mu.segs, segment{base: last, size: size})
	p.mu.committed = p.w.next
	return p, truncated, nil
}

func (p *partition) path(base int64) string { return filepath.Join(p.dir, segmentName(base)) }

// create starts a new, empty active segment at base.
func (p *partition) create(base int64) error {
	f, err := os.OpenFile(p.path(base), os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	// The new file's name must be durable before records in it are
	// acknowledged.
	if err := syncDir(p.dir); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	p.w.f, p.w.base, p.w.size, p.w.next = f, base, 0, base
	return nil
}

// add encodes a record into the group's buffer, rolling to a new segment
// first when it would pass SegmentBytes.
func (p *partition) add(v []byte, nanos int64) error {
	used := p.w.size + int64(len(p.w.buf))
	full := used+int64(headerSize+len(v)) > p.j.cfg.SegmentBytes
	old := p.j.cfg.SegmentAge > 0 && nanos-p.w.first > int64(p.j.cfg.SegmentAge)
	if used > 0 && (full || old) {
		if err := p.roll(); err != nil {
			return err
		}
	}
	if p.w.size+int64(len(p.w.buf)) == 0 {
		p.w.first = nanos
	}
	p.w.buf = appendRecord(p.w.buf, p.w.next, nanos, v)
	p.w.next++
	return nil
}

// roll writes and syncs what the active segment has buffered, closes it
// and starts the next.
func (p *partition) roll() error {
	if err := p.flush(); err != nil {
		return err
	}
	p.j.m.syncs.Add(1)
	if err := p.w.f.Close(); err != nil {
		return fmt.Errorf("%s: %w", p.path(p.w.base), err)
	}
	p.w.f = nil
	p.w.rolled = append(p.w.rolled, segment{base: p.w.base, size: p.w.size})
	return p.create(p.w.next)
}

// flush writes the buffered records in one write and syncs the file.
func (p *partition) flush() error {
	if len(p.w.buf) > 0 {
		n, err := p.w.f.Write(p.w.buf)
		p.w.size += int64(n)
		p.w.buf = p.w.buf[:0]
		if err != nil {
			return fmt.Errorf("%s: %w", p.path(p.w.base), err)
		}
	}
	if err := p.w.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", p.path(p.w.base), err)
	}
	return nil
}

// publish makes a commit's records visible to readers and wakes them.
func (p *partition) publish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	segs := p.mu.segs
	if len(p.w.rolled) > 0 {
		segs[len(segs)-1].size = p.w.rolled[0].size
		segs = append(segs, p.w.rolled[1:]...)
		segs = append(segs, segment{base: p.w.base})
	}
	segs[len(segs)-1].size = p.w.size
	p.mu.segs = segs
	p.mu.committed = p.w.next
	for r := range p.mu.readers {
		if r.wake != nil {
			r.wake()
		}
	}
}

// retainLocked deletes the segments wholly outside the retention policy;
// the caller holds the leadership (or is Open).
func (j *Journal) retainLocked(now time.Time) error {
	j.lastRetention, j.rolled = now.UnixNano(), false
	ret := j.cfg.Retention
	if ret.MaxAge == 0 && ret.MaxBytes == 0 {
		return nil
	}
	type closed struct {
		p     *partition
		seg   segment
		mtime time.Time
	}
	var segs []closed
	var active int64 // bytes of the active segments, always kept
	for _, p := range j.parts {
		p.mu.Lock()
		all := slices.Clone(p.mu.segs)
		p.mu.Unlock()
		active += all[len(all)-1].size
		for _, s := range all[:len(all)-1] {
			fi, err := os.Stat(p.path(s.base))
			if err != nil {
				return fmt.Errorf("journal: retention: %w", err)
			}
			segs = append(segs, closed{p: p, seg: s, mtime: fi.ModTime()})
		}
	}
	// Newest first: a segment is wholly outside the policy when the
	// segments newer than it already hold MaxBytes, or its newest record
	// is older than MaxAge.
	// Within a partition, later segments are newer even when the clock
	// gives them the same time.
	slices.SortStableFunc(segs, func(a, b closed) int {
		if c := b.mtime.Compare(a.mtime); c != 0 {
			return c
		}
		return cmp.Compare(b.seg.base, a.seg.base)
	})
	newer := active
	doomed := map[*partition]map[int64]bool{}
	for _, s := range segs {
		if (ret.MaxBytes > 0 && newer >= ret.MaxBytes) || (ret.MaxAge > 0 && now.Sub(s.mtime) > ret.MaxAge) {
			if doomed[s.p] == nil {
				doomed[s.p] = map[int64]bool{}
			}
			doomed[s.p][s.seg.base] = true
		}
		newer += s.seg.size
	}
	var errs []error
	for _, p := range j.parts {
		d := doomed[p]
		// Only a partition's oldest segments go, so what it keeps is one
		// run of offsets.
		p.mu.Lock()
		n := 0
		for n < len(p.mu.segs)-1 && d[p.mu.segs[n].base] {
			n++
		}
		gone := slices.Clone(p.mu.segs[:n])
		// Forgotten first, so that no new reader opens them; a reader
		// that has one open reads on (the file lives until closed).
		p.mu.segs = slices.Delete(p.mu.segs, 0, n)
		p.mu.Unlock()
		for _, s := range gone {
			if err := os.Remove(p.path(s.base)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("journal: retention: %w", err))
				continue
			}
			j.m.deleted.Add(1)
		}
	}
	return errors.Join(errs...)
}
