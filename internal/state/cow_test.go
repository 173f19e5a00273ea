package state

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
)

func identity(m any) uintptr { return reflect.ValueOf(m).Pointer() }

func release(t *testing.T, s Snapshot) {
	t.Helper()
	r, ok := s.(interface{ Release() })
	if !ok {
		t.Fatal("a memory snapshot has no Release")
	}
	r.Release()
}

// The suite checks that snapshots are isolated; this checks that the
// isolation costs what the design says: a write while a snapshot is held
// copies no key group, only the nested map it writes to; after Release the
// next write folds the key group's overlay into its map in place; and only
// a snapshot taken while an older one is held copies the key groups
// written since.
func TestCopyOnWriteGranularity(t *testing.T) {
	b, err := NewMemory(Config{KeyGroups: KeyGroupRange{Start: 0, End: 4}, MaxParallelism: 4, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMap(b, MapDesc[string, string, string, string]{Name: "m", Key: codec.String(), Namespace: codec.String(), UserKey: codec.String(), Value: codec.String()})
	if err != nil {
		t.Fatal(err)
	}
	put := func(kg int, k, uk, v string) {
		t.Helper()
		if err := m.Put(kg, k, "", uk, v); err != nil {
			t.Fatal(err)
		}
	}
	for kg := range 4 {
		for _, k := range []string{"a", "b"} {
			put(kg, k, "u", "v")
		}
	}
	mt := m.(*memMap[string, string, string, string])
	groups := func() (ids []uintptr) {
		for _, g := range mt.groups {
			ids = append(ids, identity(g.m))
		}
		return ids
	}
	overlays := func() (ns []int) {
		for _, g := range mt.groups {
			ns = append(ns, len(g.ov)+len(g.dead))
		}
		return ns
	}
	key := func(k string) ck[string, string] { return ck[string, string]{"", k} }
	baseNested := func(kg int, k string) uintptr { return identity(mt.groups[kg].m[key(k)].m) }
	liveNested := func(kg int, k string) uintptr {
		e, _ := mt.get(kg, key(k))
		return identity(e.m)
	}

	before := groups()
	beforeA, beforeB := baseNested(2, "a"), baseNested(2, "b")
	s, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := groups(); !reflect.DeepEqual(got, before) {
		t.Fatal("Snapshot itself copied key groups")
	}
	put(2, "a", "u", "w")
	if got := groups(); !reflect.DeepEqual(got, before) {
		t.Error("a write while a snapshot is held copied a key group")
	}
	if got, want := overlays(), []int{0, 0, 1, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("overlay sizes after one write to key group 2 = %v; want %v", got, want)
	}
	if baseNested(2, "a") != beforeA || baseNested(2, "b") != beforeB {
		t.Error("the snapshot's nested maps changed")
	}
	if liveNested(2, "a") == beforeA || liveNested(2, "b") != beforeB {
		t.Error("only the nested map written to should be copied")
	}
	// A second write in the same epoch copies nothing more.
	nestedA := liveNested(2, "a")
	put(2, "a", "u2", "x")
	put(2, "c", "u", "x")
	if liveNested(2, "a") != nestedA {
		t.Error("a second write after the same snapshot copied the nested map again")
	}
	if got, want := overlays(), []int{0, 0, 2, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("overlay sizes = %v; want %v", got, want)
	}

	// After Release, the next write folds the overlay into the key group's
	// own map, in place, and writes nested maps in place.
	release(t, s)
	release(t, s)
	put(2, "b", "u", "y")
	if got := groups(); !reflect.DeepEqual(got, before) {
		t.Error("folding the overlay after Release copied a key group")
	}
	if got, want := overlays(), []int{0, 0, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("overlay sizes after Release and a write = %v; want %v", got, want)
	}
	if baseNested(2, "a") != nestedA || baseNested(2, "b") != beforeB {
		t.Error("folding moved other nested maps than the overlay's, or copied the one written after Release")
	}
	if v, _, _ := m.Get(2, "a", "", "u2"); v != "x" {
		t.Errorf("after the fold, a/u2 = %q; want x", v)
	}

	// A snapshot taken while an older one is held copies the key groups
	// written since (and only those), so the older one keeps its maps.
	s2, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	put(1, "a", "u", "z")
	if got, want := overlays(), []int{0, 1, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("overlay sizes = %v; want %v", got, want)
	}
	s3, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	after := groups()
	for kg := range 4 {
		if copied := after[kg] != before[kg]; copied != (kg == 1) {
			t.Errorf("key group %d copied = %v by a snapshot taken while an older one is held", kg, copied)
		}
	}
	if got, want := overlays(), []int{0, 0, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("overlay sizes after the second snapshot = %v; want %v", got, want)
	}
	release(t, s2)
	release(t, s3)
}

// entries is the size of the key group the per-entry tests write to: large
// enough that copying it would allocate megabytes.
const entries = 100_000

// perEntryBudget is what one write after a snapshot may allocate: an
// overlay map and the entry, never a copy of the key group.
const perEntryBudget = 64 << 10

func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// watch gives a test the identity of key group 0's map and the size of its
// overlay, whatever the table's types.
func watch[MK comparable, E any](k *keyed[MK, E]) (base func() uintptr, overlay func() int) {
	return func() uintptr { return identity(k.groups[0].m) },
		func() int { return len(k.groups[0].ov) + len(k.groups[0].dead) }
}

// TestWriteAfterSnapshotIsPerEntry checks, for every keyed table type,
// that a write after a snapshot costs what the write needs, not a copy of
// its key group, and that Release lets the next write fold the overlay
// away.
func TestWriteAfterSnapshotIsPerEntry(t *testing.T) {
	str, i64 := codec.String(), codec.Int64()
	key := func(i int) string { return fmt.Sprint("key-", i) }
	cases := []struct {
		name string
		// fill creates a table holding entries entries in key group 0 and
		// returns a function that writes entry i.
		fill func(t *testing.T, b *Memory) (write func(i int) error, base func() uintptr, overlay func() int)
	}{
		{"value", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			v, err := NewValue(b, TableDesc[string, string, int64]{Name: "t", Key: str, Namespace: str, Value: i64})
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&v.(*memValue[string, string, int64]).keyed)
			return func(i int) error { return v.Put(0, key(i), "", int64(i)) }, base, overlay
		}},
		{"unit value", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			v, err := NewValue(b, TableDesc[string, struct{}, int64]{Name: "t", Key: str, Namespace: codec.MustFor[struct{}](), Value: i64})
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&v.(*memUnitValue[string, int64]).keyed)
			return func(i int) error { return v.Put(0, key(i), struct{}{}, int64(i)) }, base, overlay
		}},
		{"value with TTL", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			v, err := NewValue(b, TableDesc[string, string, int64]{Name: "t", Key: str, Namespace: str, Value: i64, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&v.(*memValueTTL[string, string, int64]).keyed)
			return func(i int) error { return v.Put(0, key(i), "", int64(i)) }, base, overlay
		}},
		{"list", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			l, err := NewList(b, TableDesc[string, string, int64]{Name: "t", Key: str, Namespace: str, Value: i64})
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&l.(*memList[string, string, int64]).keyed)
			return func(i int) error { return l.Add(0, key(i), "", int64(i)) }, base, overlay
		}},
		{"map", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			m, err := NewMap(b, MapDesc[string, string, string, int64]{Name: "t", Key: str, Namespace: str, UserKey: str, Value: i64})
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&m.(*memMap[string, string, string, int64]).keyed)
			return func(i int) error { return m.Put(0, key(i), "", "u", int64(i)) }, base, overlay
		}},
		{"namespaced, one namespace per entry", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			n, err := NewNamespaced(b, TableDesc[string, string, int64]{Name: "t", Key: str, Namespace: str, Value: i64})
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&n.(*memNamespaced[string, string, int64]).keyed)
			return func(i int) error { return n.Put(0, "k", key(i), int64(i)) }, base, overlay
		}},
		{"namespaced, one namespace", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			n, err := NewNamespaced(b, TableDesc[string, string, int64]{Name: "t", Key: str, Namespace: str, Value: i64})
			if err != nil {
				t.Fatal(err)
			}
			mt := n.(*memNamespaced[string, string, int64])
			entries := func() *nsEntries[string, int64] { return mt.lookup(0, "w") }
			// The namespace's index stands for the namespace: a copy of
			// the namespace would make a new one.
			base := func() uintptr { return identity(entries().idx) }
			overlay := func() int {
				if ov := entries().ov; ov != nil {
					return len(ov.added) + len(ov.vals)
				}
				return 0
			}
			return func(i int) error {
				p, _, _, err := n.Slot(0, key(i), "w")
				if err == nil {
					*p += int64(i)
				}
				return err
			}, base, overlay
		}},
		{"key-first", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			n, err := NewKeyFirst(b, TableDesc[string, string, int64]{Name: "t", Key: str, Namespace: str, Value: i64})
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&n.(*memKeyFirst[string, string, int64]).keyed)
			return func(i int) error { return n.Put(0, key(i), "w", int64(i)) }, base, overlay
		}},
		{"split-key", func(t *testing.T, b *Memory) (func(int) error, func() uintptr, func() int) {
			type tk struct {
				K string
				T int64
			}
			v, err := NewSplitValue(b, TableDesc[tk, string, int64]{Name: "t", Key: codec.MustFor[tk](), Namespace: str, Value: i64},
				func(k tk) (string, int64) { return k.K, k.T }, func(k string, ts int64) tk { return tk{k, ts} })
			if err != nil {
				t.Fatal(err)
			}
			base, overlay := watch(&v.(*memSplitValue[tk, string, int64, string, int64]).keyed)
			return func(i int) error { return v.Put(0, tk{key(i), 1}, "", int64(i)) }, base, overlay
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := NewMemory(Config{KeyGroups: KeyGroupRange{Start: 0, End: 1}, MaxParallelism: 1, Parallelism: 1})
			if err != nil {
				t.Fatal(err)
			}
			write, base, overlay := c.fill(t, b)
			for i := range entries {
				if err := write(i); err != nil {
					t.Fatal(err)
				}
			}
			m := base()
			s, err := b.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			if n := allocatedBy(func() { werr = write(7) }); n > perEntryBudget {
				t.Errorf("the first write after a snapshot allocated %d bytes; want at most %d", n, perEntryBudget)
			}
			if werr != nil {
				t.Fatal(werr)
			}
			if n := allocatedBy(func() { werr = write(entries + 1) }); n > perEntryBudget {
				t.Errorf("a new entry after a snapshot allocated %d bytes; want at most %d", n, perEntryBudget)
			}
			if werr != nil {
				t.Fatal(werr)
			}
			if base() != m {
				t.Error("a write while a snapshot is held copied the key group")
			}
			if got := overlay(); got != 2 {
				t.Errorf("overlay holds %d entries after two writes; want 2", got)
			}
			release(t, s)
			if n := allocatedBy(func() { werr = write(8) }); n > perEntryBudget {
				t.Errorf("the first write after Release allocated %d bytes; want at most %d", n, perEntryBudget)
			}
			if werr != nil {
				t.Fatal(werr)
			}
			if base() != m || overlay() != 0 {
				t.Errorf("after Release and a write: key group copied = %v, overlay = %d; want false, 0", base() != m, overlay())
			}
		})
	}
}

// TestReleaseFromAnotherGoroutine releases snapshots on other goroutines
// while the task writes, as the runtime does; the race detector checks the
// hand-over, and the backend ends up holding no epoch.
func TestReleaseFromAnotherGoroutine(t *testing.T) {
	b, err := NewMemory(Config{KeyGroups: KeyGroupRange{Start: 0, End: 8}, MaxParallelism: 8, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValue(b, TableDesc[int64, string, int64]{Name: "v", Key: codec.Int64(), Namespace: codec.String(), Value: codec.Int64()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for round := range 20 {
		s, err := b.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := s.WriteTo(discard{}); err != nil {
				t.Error(err)
			}
			release(t, s)
		})
		for i := range int64(500) {
			if err := v.Put(int(i%8), i, "", i+int64(round)); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	if n := b.held.newest.Load(); n != 0 {
		t.Errorf("after every snapshot was released, epoch %d is still held", n)
	}
	if got := v.Len(); got != 500 {
		t.Errorf("Len = %d; want 500", got)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestUnreleasedSnapshotReleasedWhenGarbage: a snapshot dropped without
// Release stops holding its epoch once collected.
func TestUnreleasedSnapshotReleasedWhenGarbage(t *testing.T) {
	b, err := NewMemory(Config{KeyGroups: KeyGroupRange{Start: 0, End: 1}, MaxParallelism: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if b.held.newest.Load() == 0 {
		t.Fatal("a snapshot just taken holds no epoch")
	}
	// Cleanups run on a goroutine of the runtime after a collection.
	for i := 0; i < 1000 && b.held.newest.Load() != 0; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := b.held.newest.Load(); n != 0 {
		t.Errorf("a dropped snapshot still holds epoch %d after collections", n)
	}
}

// pausing encodes int64 values as codec.Int64 does and, before encoding
// the value pause, tells the test (at) and waits until it resumes the
// writer: a hook inside the encoding of one key group's section.
type pausing struct {
	codec.Codec[int64]
	pause      int64
	at, resume chan struct{}
}

func (c pausing) Append(dst []byte, v int64) []byte {
	if v == c.pause {
		c.at <- struct{}{}
		<-c.resume
	}
	return c.Codec.Append(dst, v)
}

type writeAndReleaser interface {
	WriteAndRelease(w io.Writer) (int64, error)
}

// TestWriteAndReleaseReleasesEachKeyGroupOnceWritten pauses a
// WriteAndRelease in the middle of a key group's section, in each of two
// tables, and checks there that writes go in place to exactly the key
// groups already written (their overlays folded) and to the overlay
// everywhere else, the key group being encoded included; then that the
// snapshot written is, byte for byte, what a plain WriteTo of a backend
// with the same state writes, and that the snapshot ends released.
func TestWriteAndReleaseReleasesEachKeyGroupOnceWritten(t *testing.T) {
	const groups, keys = 16, 64 // keys per key group
	const pauseMap, pauseValue = 5, 11
	cfg := Config{KeyGroups: KeyGroupRange{Start: 0, End: groups}, MaxParallelism: groups, Parallelism: 1}
	i64, str := codec.Int64(), codec.String()
	at, resume := make(chan struct{}), make(chan struct{})
	type tables struct {
		v *memUnitValue[int64, int64]
		m *memMap[int64, string, int64, int64]
	}
	// fill creates "z" (a value table) before "a" (a map table), so the
	// tables' creation order is not the order they are written in, and
	// gives one entry of each the value its pausing codec pauses at.
	fill := func(vc, mc codec.Codec[int64]) (*Memory, tables) {
		b, err := NewMemory(cfg)
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewValue(b, TableDesc[int64, struct{}, int64]{Name: "z", Key: i64, Namespace: codec.MustFor[struct{}](), Value: vc})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMap(b, MapDesc[int64, string, int64, int64]{Name: "a", Key: i64, Namespace: str, UserKey: i64, Value: mc})
		if err != nil {
			t.Fatal(err)
		}
		for kg := range groups {
			for j := range int64(keys) {
				k := int64(kg)*1000 + j
				val := k
				if j == keys/2 && kg == pauseValue {
					val = -1
				}
				if err := v.Put(kg, k, struct{}{}, val); err != nil {
					t.Fatal(err)
				}
				for uk := range int64(2) {
					val := k + uk
					if j == keys/2 && uk == 1 && kg == pauseMap {
						val = -2
					}
					if err := m.Put(kg, k, "", uk, val); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		return b, tables{v.(*memUnitValue[int64, int64]), m.(*memMap[int64, string, int64, int64])}
	}
	// The reference wraps the codecs as the paused tables do, so that
	// neither has a layout to write.
	ref, _ := fill(pausing{Codec: i64, pause: -3}, pausing{Codec: i64, pause: -3})
	refSnap, err := ref.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := refSnap.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	b, tb := fill(pausing{i64, -1, at, resume}, pausing{i64, -2, at, resume})

	// A write after the snapshot, to one key of each key group, so that
	// every key group has an overlay before the writer starts.
	round := int64(0)
	write := func() {
		t.Helper()
		round++
		for kg := range groups {
			k := int64(kg) * 1000
			if err := tb.v.Put(kg, k, struct{}{}, 1_000_000*round); err != nil {
				t.Fatal(err)
			}
			if err := tb.m.Put(kg, k, "", 0, 1_000_000*round); err != nil {
				t.Fatal(err)
			}
		}
	}
	// nestedAt is the identity of a nested map, per key group, that only
	// check writes.
	var nestedAt [groups]uintptr
	for kg := range groups {
		nestedAt[kg] = identity(tb.m.groups[kg].m[ck[int64, string]{"", int64(kg)*1000 + 1}].m)
	}
	s, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	write()
	var got bytes.Buffer
	var n int64
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, werr = s.(writeAndReleaser).WriteAndRelease(&got)
	}()
	// check writes once more and reports, per key group of each table,
	// whether the write went in place.
	check := func(when string, mapWritten, valueWritten int) {
		t.Helper()
		write()
		for kg := range groups {
			if err := tb.m.Put(kg, int64(kg)*1000+1, "", 1, 1_000_000*round); err != nil {
				t.Fatal(err)
			}
		}
		for kg := range groups {
			g := &tb.m.groups[kg]
			if inPlace, want := g.ov == nil && g.epoch == b.epoch, kg < mapWritten; inPlace != want {
				t.Errorf("%s: map table, key group %d: written in place = %v, want %v", when, kg, inPlace, want)
			}
			// The nested map is first written by the first check.
			if e, _ := tb.m.get(kg, ck[int64, string]{"", int64(kg)*1000 + 1}); round == 2 {
				if inPlace, want := identity(e.m) == nestedAt[kg], kg < mapWritten; inPlace != want {
					t.Errorf("%s: map table, key group %d: nested map written in place = %v, want %v", when, kg, inPlace, want)
				}
			}
			h := &tb.v.groups[kg]
			if inPlace, want := h.ov == nil && h.epoch == b.epoch, kg < valueWritten; inPlace != want {
				t.Errorf("%s: value table, key group %d: written in place = %v, want %v", when, kg, inPlace, want)
			}
		}
	}
	<-at
	check("writer in key group 5 of the map table, the first written", pauseMap, 0)
	resume <- struct{}{}
	<-at
	check("writer in key group 11 of the value table", groups, pauseValue)
	resume <- struct{}{}
	<-done
	if werr != nil {
		t.Fatal(werr)
	}
	if n != int64(got.Len()) {
		t.Errorf("WriteAndRelease returned %d; wrote %d bytes", n, got.Len())
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("WriteAndRelease wrote %d bytes that differ from the %d of WriteTo of the same state", got.Len(), want.Len())
	}
	if e := b.held.newest.Load(); e != 0 {
		t.Errorf("after WriteAndRelease, epoch %d is still held", e)
	}
	check("after WriteAndRelease", groups, groups)
	if _, err := s.(writeAndReleaser).WriteAndRelease(io.Discard); err == nil {
		t.Error("a second WriteAndRelease did not fail")
	}
}

// TestWriteAndReleaseWhileTheTaskWrites writes snapshots with
// WriteAndRelease on another goroutine while the task changes every kind
// of table, as the runtime does: each must equal, byte for byte, a plain
// WriteTo of the state it was taken from, and the race detector checks
// that no key group is written in place while the writer may still read
// it.
func TestWriteAndReleaseWhileTheTaskWrites(t *testing.T) {
	const groups = 8
	b, err := NewMemory(Config{KeyGroups: KeyGroupRange{Start: 0, End: groups}, MaxParallelism: groups, Parallelism: 1,
		Clock: func() time.Time { return time.Unix(1, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	i64, str, unit := codec.Int64(), codec.String(), codec.MustFor[struct{}]()
	v, err := NewValue(b, TableDesc[int64, string, int64]{Name: "value", Key: i64, Namespace: str, Value: i64})
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewValue(b, TableDesc[int64, struct{}, int64]{Name: "unit", Key: i64, Namespace: unit, Value: i64})
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := NewValue(b, TableDesc[int64, string, int64]{Name: "ttl", Key: i64, Namespace: str, Value: i64, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewList(b, TableDesc[int64, string, int64]{Name: "list", Key: i64, Namespace: str, Value: i64})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMap(b, MapDesc[int64, string, int64, int64]{Name: "map", Key: i64, Namespace: str, UserKey: i64, Value: i64})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := NewNamespaced(b, TableDesc[int64, int64, int64]{Name: "namespaced", Key: i64, Namespace: i64, Value: i64})
	if err != nil {
		t.Fatal(err)
	}
	kf, err := NewKeyFirst(b, TableDesc[int64, int64, int64]{Name: "keyfirst", Key: i64, Namespace: i64, Value: i64})
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ A, B int64 }
	sp, err := NewSplitValue(b, TableDesc[pair, string, int64]{Name: "split", Key: codec.MustFor[pair](), Namespace: str, Value: i64},
		func(p pair) (int64, int64) { return p.A, p.B }, func(a, b int64) pair { return pair{a, b} })
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	op := func() error {
		k := rng.Int64N(400)
		kg := int(k % groups)
		x := rng.Int64N(1000)
		switch rng.IntN(12) {
		case 0:
			return v.Put(kg, k, "", x)
		case 1:
			return v.Delete(kg, k, "")
		case 2:
			return u.Put(kg, k, struct{}{}, x)
		case 3:
			return ttl.Put(kg, k, "", x)
		case 4:
			return l.Add(kg, k, "", x)
		case 5:
			return m.Put(kg, k, "", x%8, x)
		case 6:
			return m.Delete(kg, k, "", x%8)
		case 7:
			p, _, _, err := ns.Slot(kg, k, x%4)
			if err == nil {
				*p += x
			}
			return err
		case 8:
			if x%8 == 0 {
				return ns.Drop(kg, x%4)
			}
			return ns.Delete(kg, k, x%4)
		case 9:
			return kf.Put(kg, k, x%4, x)
		case 10:
			return kf.Delete(kg, k, x%4)
		default:
			return sp.Put(kg, pair{k, x % 4}, "", x)
		}
	}
	for range 5000 {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 30 {
		var want bytes.Buffer
		before, err := b.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := before.WriteTo(&want); err != nil {
			t.Fatal(err)
		}
		release(t, before)
		s, err := b.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		var werr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, werr = WriteOnce(s, &got)
		}()
	writing:
		for {
			select {
			case <-done:
				break writing
			default:
			}
			if err := op(); err != nil {
				t.Fatal(err)
			}
		}
		if werr != nil {
			t.Fatal(werr)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("round %d: the snapshot written while the task wrote differs from WriteTo of the state it was taken from", round)
		}
		if e := b.held.newest.Load(); e != 0 {
			t.Fatalf("round %d: after WriteOnce, epoch %d is still held", round, e)
		}
	}
}

// TestWriteToReleasesNothing: a plain WriteTo, which may be called again,
// leaves every key group held until Release.
func TestWriteToReleasesNothing(t *testing.T) {
	const groups = 4
	b, err := NewMemory(Config{KeyGroups: KeyGroupRange{Start: 0, End: groups}, MaxParallelism: groups, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValue(b, TableDesc[int64, struct{}, int64]{Name: "v", Key: codec.Int64(), Namespace: codec.MustFor[struct{}](), Value: codec.Int64()})
	if err != nil {
		t.Fatal(err)
	}
	vt := v.(*memUnitValue[int64, int64])
	write := func(x int64) {
		t.Helper()
		for kg := range groups {
			if err := v.Put(kg, int64(kg), struct{}{}, x); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(1)
	s, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if _, err := s.WriteTo(&first); err != nil {
		t.Fatal(err)
	}
	write(2)
	for kg := range groups {
		if vt.groups[kg].ov == nil {
			t.Errorf("after WriteTo, key group %d was written in place", kg)
		}
	}
	if _, err := s.WriteTo(&second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("a second WriteTo before Release wrote other bytes")
	}
	release(t, s)
	write(3)
	for kg := range groups {
		if vt.groups[kg].ov != nil {
			t.Errorf("after Release, key group %d was not folded", kg)
		}
	}
}
