package connector

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
)

// Segment files are named seg-<number>.log; the number orders them.
const (
	segPrefix = "seg-"
	segExt    = ".log"
)

// SegmentName returns the file name of segment n.
func SegmentName(n int) string { return fmt.Sprintf("%s%06d%s", segPrefix, n, segExt) }

// segmentNumber returns the number of the segment file name, or false when
// name is not a segment's.
func segmentNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, segExt); !ok || s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// SegmentSource reads the segment files of a directory: each is a split,
// each line of it a record, and a segment is read as it grows. It is
// unbounded and implements weir.SplitDiscoverer: segments that appear
// while the job runs are found and read.
type SegmentSource struct {
	dir   string
	watch time.Duration
}

// Segments returns a source of the segments in dir. Each reader looks at
// its file's size every watch (default 100 ms) while it has read all of
// it, and wakes its task when it has grown.
func Segments(dir string, watch time.Duration) *SegmentSource {
	if watch <= 0 {
		watch = 100 * time.Millisecond
	}
	return &SegmentSource{dir: dir, watch: watch}
}

// list returns the segments of the directory numbered above after, in
// order.
func (s *SegmentSource) list(after int) ([]weir.Split, int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, after, fmt.Errorf("segments: %w", err)
	}
	type seg struct {
		n    int
		name string
	}
	var segs []seg
	for _, e := range entries {
		if n, ok := segmentNumber(e.Name()); ok && n > after && e.Type().IsRegular() {
			segs = append(segs, seg{n, e.Name()})
		}
	}
	slices.SortFunc(segs, func(a, b seg) int { return a.n - b.n })
	out := make([]weir.Split, len(segs))
	last := after
	for i, sg := range segs {
		out[i] = weir.Split{ID: sg.name}
		last = sg.n
	}
	return out, last, nil
}

// Splits implements weir.Source: the segments there when the job starts.
func (s *SegmentSource) Splits(context.Context) ([]weir.Split, error) {
	splits, _, err := s.list(-1)
	return splits, err
}

// Bounded implements weir.Source: segments grow and new ones appear.
func (s *SegmentSource) Bounded() bool { return false }

// OffsetName implements weir.OffsetNamer: offsets are line numbers.
func (s *SegmentSource) OffsetName() string { return "line" }

// OpenSplit implements weir.Source. A position is the byte offset of the
// next line and the number of lines read, as two uvarints.
func (s *SegmentSource) OpenSplit(_ context.Context, split weir.Split, pos []byte) (weir.SplitReader[string], error) {
	if _, ok := segmentNumber(split.ID); !ok || filepath.Base(split.ID) != split.ID {
		return nil, fmt.Errorf("segments: %q is not a segment file name", split.ID)
	}
	f, err := os.Open(filepath.Join(s.dir, split.ID))
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	r := &segmentReader{f: f, watch: s.watch, stop: make(chan struct{})}
	if pos != nil {
		off, n := binary.Uvarint(pos)
		line, m := binary.Uvarint(pos[max(n, 0):])
		if n <= 0 || m <= 0 {
			f.Close()
			return nil, fmt.Errorf("segments: %s: bad position %x", split.ID, pos)
		}
		if _, err := f.Seek(int64(off), io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("segments: %s: %w", split.ID, err)
		}
		r.off, r.line = int64(off), int64(line)
	}
	r.read.Store(r.off)
	return r, nil
}

// segmentReader tails one segment file. Poll and Position run on the
// task's goroutine; the watcher goroutine only reads the file's size and
// read, the bytes of the file read so far.
type segmentReader struct {
	f     *os.File
	off   int64  // byte offset of the next line
	line  int64  // lines emitted
	buf   []byte // read from the file, beginning at off: a partial line
	chunk [32 << 10]byte
	read  atomic.Int64

	watch time.Duration
	stop  chan struct{}
	wg    sync.WaitGroup
}

// SetWake implements weir.WakingReader: a goroutine wakes the task while
// the file holds bytes the reader has not read.
func (r *segmentReader) SetWake(wake func()) {
	r.wg.Go(func() {
		t := time.NewTicker(r.watch)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				if fi, err := r.f.Stat(); err != nil || fi.Size() > r.read.Load() {
					// A failed stat wakes the reader too, to report it.
					wake()
				}
			}
		}
	})
}

// Poll implements weir.SplitReader: it emits the complete lines read, up
// to max, and waits at the end of the file.
func (r *segmentReader) Poll(out weir.SourceOutput[string], max int) (weir.PollStatus, error) {
	for emitted := 0; emitted < max; {
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			n, err := r.f.Read(r.chunk[:])
			r.buf = append(r.buf, r.chunk[:n]...)
			r.read.Add(int64(n))
			if errors.Is(err, io.EOF) || (err == nil && n == 0) {
				return weir.Wait, nil
			}
			if err != nil {
				return weir.Wait, fmt.Errorf("segments: %s line %d: %w", r.f.Name(), r.line+1, err)
			}
			continue
		}
		line := r.buf[:i]
		r.buf = r.buf[i+1:]
		r.off += int64(i) + 1
		r.line++
		emitted++
		out.Emit(string(bytes.TrimSuffix(line, []byte{'\r'})), r.line)
	}
	return weir.More, nil
}

// Position implements weir.SplitReader.
func (r *segmentReader) Position() []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, uint64(r.off)), uint64(r.line))
}

// Close implements weir.SplitReader: it stops the watcher and closes the
// file.
func (r *segmentReader) Close() error {
	close(r.stop)
	r.wg.Wait()
	return r.f.Close()
}

// Enumerator implements weir.SplitDiscoverer. The enumerator lists the
// directory for segments numbered above the last it found; its state is
// that number.
func (s *SegmentSource) Enumerator(_ context.Context, state []byte) (weir.SplitEnumerator, error) {
	e := &segmentEnumerator{s: s, last: -1}
	if state != nil {
		n, err := strconv.Atoi(string(state))
		if err != nil {
			return nil, fmt.Errorf("segments: enumerator state %q: %w", state, err)
		}
		e.last = n
	}
	return e, nil
}

type segmentEnumerator struct {
	s    *SegmentSource
	last int
}

// Discover implements weir.SplitEnumerator.
func (e *segmentEnumerator) Discover(context.Context) ([]weir.Split, error) {
	splits, last, err := e.s.list(e.last)
	if err != nil {
		return nil, err
	}
	e.last = last
	return splits, nil
}

// State implements weir.SplitEnumerator.
func (e *segmentEnumerator) State() ([]byte, error) {
	return strconv.AppendInt(nil, int64(e.last), 10), nil
}

// Close implements weir.SplitEnumerator.
func (e *segmentEnumerator) Close() error { return nil }
