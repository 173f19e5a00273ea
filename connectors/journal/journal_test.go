package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, cfg Config) *Journal {
	t.Helper()
	j, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendValues(t *testing.T, j *Journal, p int, vs ...string) {
	t.Helper()
	recs := make([]Record, len(vs))
	for i, v := range vs {
		recs[i] = Record{Partition: p, Value: []byte(v)}
	}
	if err := j.Append(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

type got struct {
	off int64
	v   string
}

// readAll reads partition p from offset to its end.
func readAll(t *testing.T, j *Journal, p int, offset int64, chunk int) ([]got, error) {
	t.Helper()
	r, err := j.NewReader(ReaderConfig{Partition: p, Offset: offset, ChunkBytes: chunk})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []got
	for {
		n, err := r.Read(3, func(off int64, _ time.Time, v []byte) { out = append(out, got{off, string(v)}) })
		if err != nil {
			return out, err
		}
		if n < 3 {
			return out, nil
		}
	}
}

func values(gs []got) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.v
	}
	return out
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// Records appended come back in order with consecutive offsets, across
// segment rolls and a reopen, and Partition is stable.
func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Partitions: 3, SegmentBytes: 200}
	j := open(t, cfg)
	want := numbered("event-", 0, 40)
	for _, v := range want {
		appendValues(t, j, 1, v)
	}
	gs, err := readAll(t, j, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(gs), want) {
		t.Fatalf("read %v, want %v", values(gs), want)
	}
	for i, g := range gs {
		if g.off != int64(i) {
			t.Fatalf("record %d has offset %d", i, g.off)
		}
	}
	if m := j.Metrics(); m.Segments < 5 {
		t.Fatalf("metrics %+v: 40 records of 200-byte segments make more than 4 segments", m)
	}
	// From the middle, in another segment than the first.
	if gs, err := readAll(t, j, 1, 17, 0); err != nil || !slices.Equal(values(gs), want[17:]) {
		t.Fatalf("from offset 17: %v, %v", values(gs), err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = open(t, Config{Dir: dir})
	if j.Partitions() != 3 {
		t.Fatalf("reopened with %d partitions, want 3", j.Partitions())
	}
	appendValues(t, j, 1, "after")
	gs, err = readAll(t, j, 1, 39, 0)
	if err != nil || !slices.Equal(values(gs), []string{"event-39", "after"}) || gs[1].off != 40 {
		t.Fatalf("after reopen: %v, %v", gs, err)
	}
	// XXH64 of the key modulo 3, fixed so that a change of hash is seen.
	for key, want := range map[string]int{"view-1": 0, "view-2": 2, "view-3": 0, "view-4": 2, "view-5": 2, "view-6": 1} {
		if p := j.Partition([]byte(key)); p != want {
			t.Errorf("Partition(%q) = %d, want %d", key, p, want)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	j := open(t, Config{Dir: dir, Partitions: 2})
	if _, err := Open(Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open: %v, want a lock error", err)
	}
	j.Close()
	if _, err := Open(Config{Dir: dir, Partitions: 4}); err == nil || !strings.Contains(err.Error(), "has 2 partitions") {
		t.Fatalf("Open with 4 partitions: %v", err)
	}
	if _, err := Open(Config{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "Partitions is needed") {
		t.Fatalf("Open of an empty directory without Partitions: %v", err)
	}
	if err := (Config{Partitions: -1, MaxRecordBytes: MaxRecordLimit + 1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "Dir is required") || !strings.Contains(err.Error(), "MaxRecordBytes") || !strings.Contains(err.Error(), "Partitions is -1") {
		t.Fatalf("Validate: %v", err)
	}
}

// Concurrent appends share commits: with the first leader held until all
// have queued, one commit and one fsync serve them all.
func TestGroupCommit(t *testing.T) {
	const n = 32
	j := open(t, Config{Dir: t.TempDir(), Partitions: 1})
	var once sync.Once
	j.beforeCommit = func() {
		once.Do(func() {
			for j.pendingAppends() < n {
				time.Sleep(time.Millisecond)
			}
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = j.Append(context.Background(), Record{Value: fmt.Appendf(nil, "r%d", i)})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	m := j.Metrics()
	if m.Appends != n || m.Records != n || m.Commits != 1 || m.Syncs != 1 {
		t.Fatalf("metrics %+v: want %d appends and records in 1 commit with 1 sync", m, n)
	}
	gs, err := readAll(t, j, 0, 0, 0)
	if err != nil || len(gs) != n {
		t.Fatalf("read %d records (%v), want %d", len(gs), err, n)
	}
}

// Appends beyond MaxPendingBytes fail with ErrBacklog instead of queuing.
func TestBacklog(t *testing.T) {
	j := open(t, Config{Dir: t.TempDir(), Partitions: 1, MaxRecordBytes: 100, MaxPendingBytes: 350})
	release := make(chan struct{})
	var once sync.Once
	j.beforeCommit = func() { once.Do(func() { <-release }) }
	first := make(chan error, 1)
	go func() { first <- j.Append(context.Background(), Record{Value: make([]byte, 100)}) }()
	// The first append leads, held; two more queue and fill it (the leader has not taken its own yet).
	for j.pendingAppends() < 1 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	queued := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { queued[i] = j.Append(context.Background(), Record{Value: make([]byte, 100)}) })
	}
	for j.pendingAppends() < 3 {
		time.Sleep(time.Millisecond)
	}
	err := j.Append(context.Background(), Record{Value: make([]byte, 100)})
	if !errors.Is(err, ErrBacklog) || !strings.Contains(err.Error(), "MaxPendingBytes (350)") {
		t.Fatalf("append into a full queue: %v, want ErrBacklog naming the limit", err)
	}
	close(release)
	wg.Wait()
	if err := errors.Join(<-first, queued[0], queued[1]); err != nil {
		t.Fatal(err)
	}
	if m := j.Metrics(); m.Backlog != 1 || m.Records != 3 {
		t.Fatalf("metrics %+v: want 1 refused, 3 records", m)
	}
	if err := j.Append(context.Background(), Record{Value: make([]byte, 101)}); err == nil || !strings.Contains(err.Error(), "101 bytes is above MaxRecordBytes (100)") {
		t.Fatalf("a record too large: %v", err)
	}
}

// A torn or damaged tail of the last segment is cut on open; what was
// before it stays, and appends go on from there.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
		keep   int // records left of 10
	}{
		{"half a header", func(t *testing.T, path string, _ int64) { appendBytes(t, path, []byte{9, 0, 0, 0, 1, 2}) }, 10},
		{"a header without its value", func(t *testing.T, path string, _ int64) {
			appendBytes(t, path, appendRecord(nil, 10, 0, []byte("lost"))[:headerSize+2])
		}, 10},
		{"zeros", func(t *testing.T, path string, _ int64) { appendBytes(t, path, make([]byte, 100)) }, 10},
		{"last record cut in half", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size-4); err != nil {
				t.Fatal(err)
			}
		}, 9},
		{"a byte of the last record flipped", func(t *testing.T, path string, size int64) { flip(t, path, size-2) }, 9},
		{"a byte of the 8th record flipped", func(t *testing.T, path string, size int64) {
			flip(t, path, 7*int64(headerSize+len("value-0"))+headerSize)
		}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := open(t, Config{Dir: dir, Partitions: 1})
			want := numbered("value-", 0, 10)
			appendValues(t, j, 0, want...)
			j.Close()
			path := filepath.Join(partitionDir(dir, 0), segmentName(0))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, fi.Size())
			damaged, _ := os.Stat(path)
			j = open(t, Config{Dir: dir})
			m := j.Metrics()
			if wantCut := damaged.Size() - int64(tc.keep*(headerSize+len("value-0"))); m.TruncatedBytes != wantCut {
				t.Fatalf("TruncatedBytes = %d, want %d", m.TruncatedBytes, wantCut)
			}
			appendValues(t, j, 0, "next")
			gs, err := readAll(t, j, 0, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if w := append(want[:tc.keep:tc.keep], "next"); !slices.Equal(values(gs), w) || gs[tc.keep].off != int64(tc.keep) {
				t.Fatalf("after recovery read %v, want %v", gs, w)
			}
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func flip(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Damage in a closed segment is not a torn tail: a reader reaching it
// fails, naming the file, the byte and the offset.
func TestDamagedSegmentFailsReader(t *testing.T) {
	dir := t.TempDir()
	j := open(t, Config{Dir: dir, Partitions: 1, SegmentBytes: 100})
	appendValues(t, j, 0, numbered("value-", 0, 10)...)
	j.Close()
	flip(t, filepath.Join(partitionDir(dir, 0), segmentName(0)), headerSize+int64(headerSize+len("value-0"))+1)
	j = open(t, Config{Dir: dir})
	gs, err := readAll(t, j, 0, 0, 0)
	if err == nil || !strings.Contains(err.Error(), segmentName(0)+" at byte 31 (offset 1)") || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("reading a damaged segment: %v, want an error naming the file, byte and offset", err)
	}
	if len(gs) != 1 {
		t.Fatalf("read %v before the damage, want 1 record", gs)
	}
}

// A record larger than a reader's chunk is read whole; chunks bound the
// rest.
func TestLargeRecords(t *testing.T) {
	j := open(t, Config{Dir: t.TempDir(), Partitions: 1, MaxRecordBytes: 64 << 10})
	big := strings.Repeat("x", 20<<10)
	want := []string{"a", big, "b", big + "y", "c"}
	appendValues(t, j, 0, want...)
	gs, err := readAll(t, j, 0, 0, 4<<10)
	if err != nil || !slices.Equal(values(gs), want) {
		t.Fatalf("read %d records (%v), want %d", len(gs), err, len(want))
	}
}

// Retention deletes a partition's oldest segments once wholly outside the
// policy, never the active one, and never because they were read.
func TestRetention(t *testing.T) {
	rec := int64(headerSize + len("value-0"))
	setup := func(t *testing.T, ret Retention) *Journal {
		t.Helper()
		// Two records per segment: offsets 0-1, 2-3, …, 8-9 (active).
		// The policy is set once the segments are written: rolls apply it.
		j := open(t, Config{Dir: t.TempDir(), Partitions: 1, SegmentBytes: 2 * rec})
		for _, v := range numbered("value-", 0, 10) {
			appendValues(t, j, 0, v)
		}
		j.cfg.Retention = ret
		if m := j.Metrics(); m.Segments != 5 || m.DeletedSegments != 0 {
			t.Fatalf("metrics %+v: want 5 segments, none deleted yet", m)
		}
		return j
	}
	first := func(t *testing.T, j *Journal) int64 {
		t.Helper()
		f, _, err := j.Bounds(0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	t.Run("bytes", func(t *testing.T) {
		// The active segment and the two before it hold 6 records; the
		// third before it is wholly outside 5 records' bytes, the second
		// is not.
		j := setup(t, Retention{MaxBytes: 5 * rec, Interval: time.Hour})
		if _, err := readAll(t, j, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := j.Enforce(); err != nil {
			t.Fatal(err)
		}
		if f := first(t, j); f != 4 {
			t.Fatalf("after retention the first offset is %d, want 4", f)
		}
		if m := j.Metrics(); m.DeletedSegments != 2 || m.DiskBytes != 6*rec {
			t.Fatalf("metrics %+v: want 2 deleted, 6 records kept", m)
		}
		var oe *OffsetError
		if _, err := readAll(t, j, 0, 3, 0); !errors.As(err, &oe) || !oe.Deleted() ||
			!strings.Contains(err.Error(), "offset 3 was deleted by retention; the partition keeps offsets 4 to 9") {
			t.Fatalf("reading a deleted offset: %v", err)
		}
		if gs, err := readAll(t, j, 0, 4, 0); err != nil || len(gs) != 6 {
			t.Fatalf("from the first kept offset: %v, %v", gs, err)
		}
	})
	t.Run("age", func(t *testing.T) {
		j := setup(t, Retention{MaxAge: time.Hour, Interval: time.Hour})
		old := time.Now().Add(-2 * time.Hour)
		p := j.parts[0]
		// The first two segments are old; so is the active one, which is
		// kept anyway.
		for _, base := range []int64{0, 2, 8} {
			if err := os.Chtimes(p.path(base), old, old); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Enforce(); err != nil {
			t.Fatal(err)
		}
		if f := first(t, j); f != 4 {
			t.Fatalf("after retention the first offset is %d, want 4", f)
		}
	})
	t.Run("read segments stay", func(t *testing.T) {
		j := setup(t, Retention{MaxBytes: 100 * rec, MaxAge: time.Hour, Interval: time.Hour})
		if _, err := readAll(t, j, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := j.Enforce(); err != nil {
			t.Fatal(err)
		}
		if f := first(t, j); f != 0 {
			t.Fatalf("segments inside the policy were deleted: the first offset is %d", f)
		}
	})
	t.Run("a reader in a deleted segment reads on, then fails", func(t *testing.T) {
		j := setup(t, Retention{MaxBytes: 2 * rec, Interval: time.Hour})
		r, err := j.NewReader(ReaderConfig{Partition: 0, Offset: 0})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := j.Enforce(); err != nil {
			t.Fatal(err)
		}
		var vs []string
		_, err = r.Read(10, func(_ int64, _ time.Time, v []byte) { vs = append(vs, string(v)) })
		var oe *OffsetError
		if !slices.Equal(vs, []string{"value-0", "value-1"}) || !errors.As(err, &oe) || oe.Offset != 2 || oe.First != 8 {
			t.Fatalf("read %v then %v; want the open segment's 2 records, then offset 2 deleted", vs, err)
		}
	})
}

// A quiet partition's active segment is rolled once older than
// SegmentAge, and retention, run at once after a roll, then deletes the
// old one when it is outside MaxAge.
func TestSegmentAge(t *testing.T) {
	j := open(t, Config{Dir: t.TempDir(), Partitions: 1, Retention: Retention{MaxAge: time.Hour, Interval: time.Hour}})
	if j.cfg.SegmentAge != 6*time.Minute {
		t.Fatalf("SegmentAge defaults to %v, want a tenth of MaxAge", j.cfg.SegmentAge)
	}
	appendValues(t, j, 0, "old")
	p := j.parts[0]
	// As if the record had been appended two hours ago, its file last
	// written then.
	p.w.first = time.Now().Add(-2 * time.Hour).UnixNano()
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p.path(0), old, old); err != nil {
		t.Fatal(err)
	}
	appendValues(t, j, 0, "new")
	if f, next, _ := j.Bounds(0); f != 1 || next != 2 {
		t.Fatalf("after the roll the partition keeps offsets [%d, %d), want [1, 2)", f, next)
	}
	if m := j.Metrics(); m.DeletedSegments != 1 || m.Segments != 1 {
		t.Fatalf("metrics %+v: want the old segment deleted", m)
	}
}

// Readers see only committed records and are woken by commits; an open
// reader's lag is the journal's MaxLag.
func TestReaderWakeAndLag(t *testing.T) {
	j := open(t, Config{Dir: t.TempDir(), Partitions: 2})
	r, err := j.NewReader(ReaderConfig{Partition: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	woken := make(chan struct{}, 10)
	r.SetWake(func() { woken <- struct{}{} })
	appendValues(t, j, 0, "other partition")
	appendValues(t, j, 1, "a", "b", "c")
	if len(woken) != 1 {
		t.Fatalf("woken %d times by one commit to the reader's partition, want 1", len(woken))
	}
	if lag := j.MaxLag(); lag != 3 {
		t.Fatalf("MaxLag = %d, want 3", lag)
	}
	var vs []string
	if n, err := r.Read(2, func(_ int64, _ time.Time, v []byte) { vs = append(vs, string(v)) }); n != 2 || err != nil {
		t.Fatalf("Read(2) = %d, %v", n, err)
	}
	if lag := j.MaxLag(); lag != 1 || r.Offset() != 2 {
		t.Fatalf("MaxLag = %d, offset %d after reading 2 of 3; want 1, 2", lag, r.Offset())
	}
	if _, err := j.NewReader(ReaderConfig{Partition: 1, Offset: 4}); err == nil || !strings.Contains(err.Error(), "offset 4 is beyond the partition's end (its next record gets offset 3)") {
		t.Fatalf("reader beyond the end: %v", err)
	}
	if !bytes.Equal([]byte(vs[0]), []byte("a")) {
		t.Fatalf("read %v", vs)
	}
}

// Readers opened at any offset, with small chunks, read the right records
// whatever their sizes: headers and records cross chunk ends.
func TestReadFromAnyOffset(t *testing.T) {
	j := open(t, Config{Dir: t.TempDir(), Partitions: 1, SegmentBytes: 256 << 10, MaxRecordBytes: 16 << 10})
	rnd := rand.New(rand.NewPCG(1, 2))
	var want []string
	for i := range 600 {
		v := fmt.Sprintf("%d:%s", i, strings.Repeat("x", rnd.IntN(12<<10)))
		want = append(want, v)
	}
	appendValues(t, j, 0, want...)
	for _, off := range []int64{0, 1, 2, 99, 100, 101, 333, 598, 599, 600} {
		gs, err := readAll(t, j, 0, off, 4<<10)
		if err != nil {
			t.Fatalf("from offset %d: %v", off, err)
		}
		if !slices.Equal(values(gs), want[off:]) {
			t.Fatalf("from offset %d: read %d records, want %d", off, len(gs), len(want)-int(off))
		}
	}
}
