package weir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/pebble"
)

var countsDesc = state.TableDesc[int64, uint8, int64]{Name: "counts", Key: codec.Int64(), Namespace: codec.Uint8(), Value: codec.Int64()}

// incrementalBackend opens subtask i of p of operator op on an
// incremental Pebble backend.
func incrementalBackend(t testing.TB, op string, i, p int) *state.StoreBackend {
	b, _ := incrementalStore(t, op, i, p)
	return b
}

// incrementalStore is incrementalBackend that also returns the Store.
// Automatic compactions are off, so that a database's files change only
// when a checkpoint flushes it: the tests assert on which files each
// checkpoint holds.
func incrementalStore(t testing.TB, op string, i, p int) (*state.StoreBackend, *pebble.Store) {
	return openIncremental(t, pebble.Options{Dir: t.TempDir(), NoAutomaticCompactions: true}, op, i, p)
}

// openIncremental opens subtask i of p of operator op on an incremental
// Pebble backend with options o.
func openIncremental(t testing.TB, o pebble.Options, op string, i, p int) (*state.StoreBackend, *pebble.Store) {
	t.Helper()
	s, err := pebble.Open(o, op)
	if err != nil {
		t.Fatal(err)
	}
	b, err := state.NewStoreBackend(state.Config{
		OperatorID: op, KeyGroups: keygroup.RangeFor(keygroup.DefaultMaxParallelism, p, i),
		MaxParallelism: keygroup.DefaultMaxParallelism, Subtask: i, Parallelism: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	b.SetFileCheckpoints(true)
	t.Cleanup(func() { b.Close() })
	return b, s
}

func kgOf(k int64) int {
	return keygroup.Of(codec.Int64().Append(nil, k), keygroup.DefaultMaxParallelism)
}

// checkpointOnce snapshots the backends of the operator's subtasks for
// checkpoint id, writes and completes it, and returns its metadata.
func checkpointOnce(t testing.TB, s *checkpointStore, op string, id int64, bs ...state.Backend) *checkpoint.Metadata {
	t.Helper()
	ctx := context.Background()
	var states []runtime.WrittenState
	for i, b := range bs {
		snap, err := state.SnapshotFor(b, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := snap.(state.FileSnapshot); !ok {
			t.Fatalf("checkpoint snapshot %T is not a file snapshot", snap)
		}
		st := runtime.OperatorState{OperatorID: op, Subtask: i, State: snap}
		file, size, err := s.WriteState(ctx, id, false, st)
		snap.(interface{ Release() }).Release()
		if err != nil {
			t.Fatal(err)
		}
		st.State = nil
		states = append(states, runtime.WrittenState{OperatorState: st, File: file, Size: size})
	}
	if err := s.Complete(ctx, runtime.CompletedCheckpoint{ID: id, Time: time.Now(), States: states}); err != nil {
		t.Fatal(err)
	}
	m, err := s.dir.ReadMetadata(ctx, checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// shared returns the shared files of m by name with their sizes.
func sharedOf(m *checkpoint.Metadata) map[string]int64 {
	out := map[string]int64{}
	for _, op := range m.Operators {
		for _, f := range op.Subtasks {
			if f.Native != nil {
				for _, nf := range f.Native.Files {
					if nf.Shared != "" {
						out[nf.Shared] = nf.Size
					}
				}
			}
		}
	}
	return out
}

// restoreInto restores subtask i of p of the operator from checkpoint id
// into a new incremental backend and returns the backend's counts.
func restoreInto(t testing.TB, s *checkpointStore, op string, id int64, i, p int) (map[int64]int64, error) {
	t.Helper()
	path := filepath.Join(s.dir.Location(), checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id}.String())
	rc, closer, err := loadCheckpoint(context.Background(), path, s)
	if err != nil {
		return nil, err
	}
	defer closer()
	b, store := incrementalStore(t, op, i, p)
	if err := rc.ops[op].share(rc.open, i, p).into(b); err != nil {
		return nil, err
	}
	// The Store holds the catalog (table 0) and the owned key groups
	// only.
	stored := 0
	if err := store.Scan([]byte{0, 0, 0, 1}, func(k, _ []byte) bool {
		stored++
		return true
	}); err != nil {
		return nil, err
	}
	tbl, err := state.NewValue(b, countsDesc)
	if err != nil {
		return nil, err
	}
	got := map[int64]int64{}
	for k := range tbl.Keys(0) {
		v, ok, err := tbl.Get(kgOf(k), k, 0)
		if err != nil || !ok {
			return nil, fmt.Errorf("key %d: %v %v", k, ok, err)
		}
		got[k] = v
	}
	if stored != len(got) {
		return nil, fmt.Errorf("subtask %d of %d: the store holds %d entries of table 1, the table %d", i, p, stored, len(got))
	}
	return got, nil
}

// An incremental checkpoint after a small change uploads only the table
// file its flush wrote and refers to the earlier ones; a restore from it
// at the same parallelism, and at another, gives the state as it was at
// the barrier; retention keeps the shared files retained checkpoints
// refer to and deletes the others.
func TestIncrementalCheckpointUploadsOnlyNewFiles(t *testing.T) {
	s, op := storeForTest(t, 1)
	s.retain = 1
	b := incrementalBackend(t, op, 0, 1)
	tbl, err := state.NewValue(b, countsDesc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]int64{}
	put := func(from, to, v int64) {
		for k := from; k < to; k++ {
			if err := tbl.Put(kgOf(k), k, 0, v); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
	}
	put(0, 5000, 1)
	m1 := checkpointOnce(t, s, op, 1, b)
	first := sharedOf(m1)
	if len(first) == 0 {
		t.Fatal("checkpoint 1 has no shared files")
	}
	stats := map[string]os.FileInfo{}
	for n := range first {
		fi, err := os.Stat(filepath.Join(s.dir.Location(), "shared", n))
		if err != nil {
			t.Fatal(err)
		}
		stats[n] = fi
	}
	put(100, 110, 2)
	m2 := checkpointOnce(t, s, op, 2, b)
	for n, before := range stats {
		fi, err := os.Stat(filepath.Join(s.dir.Location(), "shared", n))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(fi, before) || !fi.ModTime().Equal(before.ModTime()) {
			t.Errorf("checkpoint 2 wrote %s of checkpoint 1 again", n)
		}
	}
	second := sharedOf(m2)
	var added []string
	var addedBytes, firstBytes int64
	for n, size := range second {
		if _, ok := first[n]; !ok {
			added = append(added, n)
			addedBytes += size
		}
	}
	for _, size := range first {
		firstBytes += size
	}
	if len(added) != 1 || addedBytes*10 > firstBytes {
		t.Fatalf("checkpoint 2 uploaded %v (%d bytes; checkpoint 1: %d bytes); want one small table file", added, addedBytes, firstBytes)
	}
	for n := range first {
		if _, ok := second[n]; !ok {
			t.Errorf("checkpoint 2 does not refer to %s of checkpoint 1", n)
		}
	}
	listed, err := s.dir.(checkpoint.SharedStorage).ListShared(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(second) {
		t.Fatalf("shared area holds %d files, want the %d of checkpoint 2", len(listed), len(second))
	}
	snapshot := maps.Clone(want)

	// Restores: the same parallelism takes the files over; 1 → 2 copies
	// each subtask's key groups.
	got, err := restoreInto(t, s, op, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, snapshot) {
		t.Fatalf("restored at parallelism 1: %d keys, want %d", len(got), len(snapshot))
	}
	merged := map[int64]int64{}
	for i := range 2 {
		part, err := restoreInto(t, s, op, 2, i, 2)
		if err != nil {
			t.Fatal(err)
		}
		r := keygroup.RangeFor(keygroup.DefaultMaxParallelism, 2, i)
		for k, v := range part {
			if !r.Contains(kgOf(k)) {
				t.Fatalf("subtask %d of 2 restored key %d of key group %d", i, k, kgOf(k))
			}
			merged[k] = v
		}
	}
	if !maps.Equal(merged, snapshot) {
		t.Fatalf("restored at parallelism 2: %d keys, want %d", len(merged), len(snapshot))
	}

	// Rewrite everything a few times: compactions replace the files of
	// checkpoint 1, and retention (keep 1) deletes them once no retained
	// checkpoint refers to them.
	for id := int64(3); id <= 8; id++ {
		put(0, 5000, id)
		checkpointOnce(t, s, op, id, b)
	}
	infos, err := s.dir.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, in := range infos {
		m, err := s.dir.ReadMetadata(context.Background(), in.Ref)
		if err != nil {
			t.Fatal(err)
		}
		for n := range sharedOf(m) {
			used[n] = true
		}
		if err := s.dir.Verify(context.Background(), in.Ref); err != nil {
			t.Fatalf("retained %v: %v", in.Ref, err)
		}
	}
	listed, err = s.dir.(checkpoint.SharedStorage).ListShared(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range listed {
		if !used[f.Name] {
			t.Errorf("shared file %s is referred to by no retained checkpoint", f.Name)
		}
	}
	if len(infos) != 1 || len(listed) != len(used) {
		t.Fatalf("%d checkpoints and %d shared files left, want 1 and the %d it refers to", len(infos), len(listed), len(used))
	}
	got, err = restoreInto(t, s, op, 8, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("restored checkpoint 8: %d keys, want %d", len(got), len(want))
	}
}

// A shared file that is damaged or missing fails the restore of the
// checkpoint with an error naming the file and the checkpoint; the
// earlier checkpoint, which does not refer to it, still restores.
func TestIncrementalRestoreNamesBadSharedFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(path string) error
		want  string
	}{
		{"damaged", func(path string) error {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			data[len(data)/2] ^= 0x40
			return os.WriteFile(path, data, 0o644)
		}, "CRC-32C"},
		{"missing", os.Remove, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, op := storeForTest(t, 1)
			b := incrementalBackend(t, op, 0, 1)
			tbl, err := state.NewValue(b, countsDesc)
			if err != nil {
				t.Fatal(err)
			}
			for k := range int64(1000) {
				if err := tbl.Put(kgOf(k), k, 0, k); err != nil {
					t.Fatal(err)
				}
			}
			m1 := checkpointOnce(t, s, op, 1, b)
			if err := tbl.Put(kgOf(7), 7, 0, -7); err != nil {
				t.Fatal(err)
			}
			m2 := checkpointOnce(t, s, op, 2, b)
			var spoilt string
			for n := range sharedOf(m2) {
				if _, ok := sharedOf(m1)[n]; !ok {
					spoilt = n
				}
			}
			if spoilt == "" {
				t.Fatal("checkpoint 2 uploaded no file of its own")
			}
			if err := tc.spoil(filepath.Join(s.dir.Location(), "shared", spoilt)); err != nil {
				t.Fatal(err)
			}
			_, err = restoreInto(t, s, op, 2, 0, 1)
			if err == nil || !strings.Contains(err.Error(), spoilt) || !strings.Contains(err.Error(), "chk-0000000000000000002") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore with a %s shared file: %v; want an error naming %s, the checkpoint and %q", tc.name, err, spoilt, tc.want)
			}
			got, err := restoreInto(t, s, op, 1, 0, 1)
			if err != nil {
				t.Fatalf("restore of checkpoint 1: %v", err)
			}
			if len(got) != 1000 || got[7] != 7 {
				t.Fatalf("checkpoint 1 restored %d keys, key 7 = %d; want 1000 and 7", len(got), got[7])
			}
		})
	}
}

// A savepoint of an incremental backend is a full snapshot in the shared
// format, with no native files, so any backend restores it.
func TestSavepointOfIncrementalBackendIsFull(t *testing.T) {
	_, op := storeForTest(t, 1)
	b := incrementalBackend(t, op, 0, 1)
	tbl, err := state.NewValue(b, countsDesc)
	if err != nil {
		t.Fatal(err)
	}
	for k := range int64(100) {
		if err := tbl.Put(kgOf(k), k, 0, k); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := state.SnapshotFor(b, true)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.(interface{ Release() }).Release()
	if _, ok := snap.(state.FileSnapshot); ok {
		t.Fatal("a savepoint's snapshot is a file snapshot")
	}
	var buf strings.Builder
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	mem, err := state.NewMemory(b.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if err := mem.Restore([]state.SnapshotFile{state.BytesSnapshot("sp", []byte(buf.String()))}); err != nil {
		t.Fatal(err)
	}
	mt, err := state.NewValue(mem, countsDesc)
	if err != nil {
		t.Fatal(err)
	}
	if n := mt.Len(); n != 100 {
		t.Fatalf("the memory backend restored %d keys, want 100", n)
	}
}

// timersAt is a pending timer as the test sees it.
type timersAt struct {
	key  int64
	d    uint8
	time int64
}

// restoreTimers restores subtask i of p of the operator from checkpoint
// id into a new incremental backend, creates its timers and returns them
// with the backend and the number of entries its Store holds outside the
// catalog.
func restoreTimers(t *testing.T, s *checkpointStore, op string, id int64, i, p int) (*state.StoreBackend, state.Timers[int64], int) {
	t.Helper()
	path := filepath.Join(s.dir.Location(), checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id}.String())
	rc, closer, err := loadCheckpoint(context.Background(), path, s)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	b, store := incrementalStore(t, op, i, p)
	if err := rc.ops[op].share(rc.open, i, p).into(b); err != nil {
		t.Fatalf("restore subtask %d of %d from checkpoint %d: %v", i, p, id, err)
	}
	timers, ok, err := state.NewTimers(b, codec.Int64())
	if err != nil || !ok {
		t.Fatalf("NewTimers = %v, %v", ok, err)
	}
	stored := 0
	if err := store.Scan(nil, func(k, _ []byte) bool {
		if k[0]|k[1]|k[2]|k[3] != 0 {
			stored++
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return b, timers, stored
}

// popAll pops every timer of both domains, checking each domain fires in
// time order.
func popAll(t *testing.T, timers state.Timers[int64]) map[timersAt]bool {
	t.Helper()
	got := map[timersAt]bool{}
	for d := range uint8(state.TimeDomains) {
		last := int64(-1 << 63)
		for {
			tm, ok, err := timers.Pop(d)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if tm.Time < last {
				t.Fatalf("domain %d: timer at %d fired after one at %d", d, tm.Time, last)
			}
			last = tm.Time
			if tm.KeyGroup != kgOf(tm.Key) {
				t.Fatalf("timer of key %d in key group %d, want %d", tm.Key, tm.KeyGroup, kgOf(tm.Key))
			}
			got[timersAt{tm.Key, d, tm.Time}] = true
		}
	}
	return got
}

// Timers pending at an incremental checkpoint fire after a restore from
// it, at the same parallelism (the files become the database) and at
// others (key-group ranges copied), and again after a second checkpoint
// and restore of the restored backends. The Store of a restored backend
// holds each timer twice (its row and its index entry) and nothing of the
// old index.
func TestIncrementalRestoreKeepsTimers(t *testing.T) {
	s, op := storeForTest(t, 2)
	want := map[timersAt]bool{}
	var srcs []state.Backend
	for i := range 2 {
		b := incrementalBackend(t, op, i, 2)
		timers, ok, err := state.NewTimers(b, codec.Int64())
		if err != nil || !ok {
			t.Fatalf("NewTimers = %v, %v", ok, err)
		}
		for k := range int64(400) {
			if !b.Config().KeyGroups.Contains(kgOf(k)) {
				continue
			}
			for _, tm := range []timersAt{{k, 0, (k * 7919) % 1000}, {k, 1, 5000 - k}} {
				if _, err := timers.Register(tm.d, kgOf(k), k, tm.time); err != nil {
					t.Fatal(err)
				}
				want[tm] = true
			}
		}
		srcs = append(srcs, b)
	}
	checkpointOnce(t, s, op, 1, srcs...)

	owned := func(i, p int) map[timersAt]bool {
		kgs := keygroup.RangeFor(keygroup.DefaultMaxParallelism, p, i)
		out := map[timersAt]bool{}
		for tm := range want {
			if kgs.Contains(kgOf(tm.key)) {
				out[tm] = true
			}
		}
		return out
	}
	for _, p := range []int{2, 1, 3} {
		t.Run(fmt.Sprintf("p2 to p%d", p), func(t *testing.T) {
			for i := range p {
				_, timers, stored := restoreTimers(t, s, op, 1, i, p)
				w := owned(i, p)
				if stored != 2*len(w) {
					t.Errorf("subtask %d of %d: the store holds %d entries besides the catalog; want %d, a row and an index entry per timer", i, p, stored, 2*len(w))
				}
				if got := popAll(t, timers); !maps.Equal(got, w) {
					t.Fatalf("subtask %d of %d: %d timers fired, want %d", i, p, len(got), len(w))
				}
			}
		})
	}

	// A second generation: restore at 2, register one more timer each,
	// checkpoint, restore at 2 again.
	var restored []state.Backend
	for i := range 2 {
		b, timers, _ := restoreTimers(t, s, op, 1, i, 2)
		k := int64(1000 + i)
		for !b.Config().KeyGroups.Contains(kgOf(k)) {
			k += 2
		}
		if _, err := timers.Register(0, kgOf(k), k, -1); err != nil {
			t.Fatal(err)
		}
		want[timersAt{k, 0, -1}] = true
		restored = append(restored, b)
	}
	checkpointOnce(t, s, op, 2, restored...)
	for i := range 2 {
		_, timers, stored := restoreTimers(t, s, op, 2, i, 2)
		w := owned(i, 2)
		if stored != 2*len(w) {
			t.Errorf("second restore, subtask %d: the store holds %d entries besides the catalog; want %d", i, stored, 2*len(w))
		}
		if got := popAll(t, timers); !maps.Equal(got, w) {
			t.Fatalf("second restore, subtask %d: %d timers fired, want %d", i, len(got), len(w))
		}
	}
}

// fullDisk is a Dir whose shared files cannot be written while full is
// set: a writer takes a few KiB, then fails with ENOSPC as a full file
// system does.
type fullDisk struct {
	*checkpoint.Dir
	full atomic.Bool
}

func (d *fullDisk) CreateShared(ctx context.Context, name string) (io.WriteCloser, error) {
	w, err := d.Dir.CreateShared(ctx, name)
	if err != nil || !d.full.Load() {
		return w, err
	}
	return &enospcWriter{w: w, path: filepath.Join(d.Path(), "shared", name)}, nil
}

type enospcWriter struct {
	w    io.WriteCloser
	path string
	n    int
}

func (e *enospcWriter) Write(p []byte) (int, error) {
	if e.n+len(p) > 4096 {
		return 0, &os.PathError{Op: "write", Path: e.path, Err: syscall.ENOSPC}
	}
	e.n += len(p)
	return e.w.Write(p)
}

func (e *enospcWriter) Close() error { return e.w.Close() }
func (e *enospcWriter) Abort() error { return checkpoint.Abort(e.w) }

// A checkpoint during which the disk fills up fails with the file system's
// error naming the file; it leaves no shared file behind once discarded,
// the earlier checkpoint restores, and the next checkpoint, with space
// again, uploads what the failed one could not and restores.
func TestIncrementalCheckpointDiskFull(t *testing.T) {
	ctx := context.Background()
	s, op := storeForTest(t, 1)
	disk := &fullDisk{Dir: s.dir.(*checkpoint.Dir)}
	s.dir = disk
	b := incrementalBackend(t, op, 0, 1)
	tbl, err := state.NewValue(b, countsDesc)
	if err != nil {
		t.Fatal(err)
	}
	for k := range int64(1000) {
		if err := tbl.Put(kgOf(k), k, 0, k); err != nil {
			t.Fatal(err)
		}
	}
	m1 := checkpointOnce(t, s, op, 1, b)
	for k := range int64(1000) {
		if err := tbl.Put(kgOf(k), k, 0, -k); err != nil {
			t.Fatal(err)
		}
	}

	disk.full.Store(true)
	snap, err := state.SnapshotFor(b, false)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.WriteState(ctx, 2, false, runtime.OperatorState{OperatorID: op, Subtask: 0, State: snap})
	snap.(interface{ Release() }).Release()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), filepath.Join(disk.Path(), "shared")) {
		t.Fatalf("checkpoint 2 on a full disk: %v; want ENOSPC naming the shared file", err)
	}
	if err := s.Discard(ctx, 2, false); err != nil {
		t.Fatal(err)
	}
	infos, err := disk.ListShared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(sharedOf(m1)) {
		t.Errorf("after the failed checkpoint was discarded: %d shared files, want checkpoint 1's %d", len(infos), len(sharedOf(m1)))
	}
	if err := disk.Verify(ctx, checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 1}); err != nil {
		t.Fatal(err)
	}
	got, err := restoreInto(t, s, op, 1, 0, 1)
	if err != nil || len(got) != 1000 || got[7] != 7 {
		t.Fatalf("checkpoint 1 after the failure restored %d keys, key 7 = %d, %v; want 1000 and 7", len(got), got[7], err)
	}

	disk.full.Store(false)
	checkpointOnce(t, s, op, 3, b)
	got, err = restoreInto(t, s, op, 3, 0, 1)
	if err != nil || len(got) != 1000 || got[7] != -7 {
		t.Fatalf("checkpoint 3 with space again restored %d keys, key 7 = %d, %v; want 1000 and -7", len(got), got[7], err)
	}
}

// BenchmarkIncrementalCheckpoint measures incremental checkpoints of a
// keyed table of WEIR_BENCH_INCR_KEYS keys (default 1 M) with 100-byte
// values on Pebble: 10 intervals, each changing 1 % of the keys (spread
// uniformly) then checkpointing. It reports the bytes uploaded per
// checkpoint beside the full state (the files of the last checkpoint),
// the duration of a checkpoint (snapshot at the barrier, upload, metadata)
// and of a restore at parallelism 1 → 2 (both subtasks, one after the
// other). Run it with -benchtime=1x.
func BenchmarkIncrementalCheckpoint(b *testing.B) {
	keys := int64(1_000_000)
	if v := os.Getenv("WEIR_BENCH_INCR_KEYS"); v != "" {
		if _, err := fmt.Sscan(v, &keys); err != nil {
			b.Fatalf("WEIR_BENCH_INCR_KEYS: %v", err)
		}
	}
	const intervals = 10
	desc := state.TableDesc[int64, uint8, string]{Name: "values", Key: codec.Int64(), Namespace: codec.Uint8(), Value: codec.String()}
	value := func(k, gen int64) string { return fmt.Sprintf("%096d%04d", k, gen) }
	for b.Loop() {
		s, op := storeForTest(b, 1)
		// Compactions on, as in a job: their rewritten files are part of
		// what a checkpoint uploads.
		be, _ := openIncremental(b, pebble.Options{Dir: b.TempDir()}, op, 0, 1)
		tbl, err := state.NewValue(be, desc)
		if err != nil {
			b.Fatal(err)
		}
		for k := range keys {
			if err := tbl.Put(kgOf(k), k, 0, value(k, 0)); err != nil {
				b.Fatal(err)
			}
		}
		prev := sharedOf(checkpointOnce(b, s, op, 1, be))
		var uploaded, full int64
		var took time.Duration
		for i := range int64(intervals) {
			for j := range keys / 100 {
				k := (j*100 + i*37) % keys
				if err := tbl.Put(kgOf(k), k, 0, value(k, i+1)); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			m := checkpointOnce(b, s, op, i+2, be)
			took += time.Since(start)
			cur := sharedOf(m)
			full = 0
			for n, size := range cur {
				full += size
				if _, ok := prev[n]; !ok {
					uploaded += size
				}
			}
			prev = cur
		}
		start := time.Now()
		for i := range 2 {
			path := filepath.Join(s.dir.Location(), checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: intervals + 1}.String())
			rc, closer, err := loadCheckpoint(context.Background(), path, s)
			if err != nil {
				b.Fatal(err)
			}
			nb, _ := openIncremental(b, pebble.Options{Dir: b.TempDir()}, op, i, 2)
			if err := rc.ops[op].share(rc.open, i, 2).into(nb); err != nil {
				b.Fatal(err)
			}
			closer()
		}
		restore := time.Since(start)
		b.ReportMetric(float64(full)/1e6, "full-MB")
		b.ReportMetric(float64(uploaded)/intervals/1e6, "uploaded-MB/ckpt")
		b.ReportMetric(100*float64(uploaded)/intervals/float64(full), "uploaded-%")
		b.ReportMetric(took.Seconds()/intervals, "s/ckpt")
		b.ReportMetric(restore.Seconds(), "restore-p1-p2-s")
	}
}
