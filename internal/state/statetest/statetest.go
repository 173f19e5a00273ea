// Package statetest is the conformance suite for state backends: every
// backend runs the same tests, so that operators behave the same whichever
// backend a job picks and a snapshot written by one can be restored by
// another. Like testing/fstest it uses only the exported API of package
// state, so a backend in any package runs it; what backends may do
// differently is declared in Capabilities and checked as declared.
//
// Timers are part of the suite: the engine keeps them in a value table
// keyed by (key, time), one namespace per time domain, holding the
// registration sequence. On the memory backend it rebuilds its firing
// queues from that table after a restore; on a backend over a Store it
// uses state.NewTimers, which keeps the firing order in the Store. The
// suite checks both uses, as Capabilities declares.
package statetest

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// maxPar is the number of key groups every backend of the suite has.
const maxPar = 128

// operatorID is the operator every backend of the suite serves.
const operatorID = "statetest-op"

// The suite uses the codec package's own codecs, the ones jobs use.
var (
	strC  = codec.String()
	i64C  = codec.Int64()
	unitC = codec.Unit()
)

// Capabilities declares what a backend guarantees where the table
// interfaces leave it a choice.
type Capabilities struct {
	// EntryOrder is the order in which Namespaced.Entries, Update and Drain
	// visit a namespace's entries.
	EntryOrder Order
	// StoreTimers says that state.NewTimers keeps the backend's timers
	// with their firing order in its Store, holding in memory one entry
	// per key group and time domain with timers (a backend over a Store).
	// Without it, NewTimers must decline (the memory backend, whose
	// engine keeps firing queues on the heap).
	StoreTimers bool
}

// Order is an order of a namespace's entries.
type Order uint8

const (
	// ArrivalOrder is the order the keys entered the namespace, except that
	// Delete moves the last key into the deleted one's place (the memory
	// backend).
	ArrivalOrder Order = iota
	// KeyOrder is the byte order of the encoded keys (a backend that keeps
	// bytes in an ordered store).
	KeyOrder
)

func (o Order) String() string {
	if o == KeyOrder {
		return "key order"
	}
	return "arrival order"
}

// Run runs the conformance suite. newBackend must return an empty backend
// for cfg; the suite closes every backend it gets and expects Close to
// succeed. caps declares what the backend guarantees beyond the
// interfaces. Some subtests restore a snapshot written by the backend under
// test into a Memory backend and the other way round, because all
// backends share one snapshot format.
func Run(t *testing.T, newBackend func(t *testing.T, cfg state.Config) state.Backend, caps Capabilities) {
	tests := []struct {
		name string
		fn   func(h *harness)
	}{
		{"Value/PutGetDelete", testValuePutGetDelete},
		{"Value/Namespaces", testValueNamespaces},
		{"Value/Keys", testValueKeys},
		{"Value/UnitNamespace", testValueUnitNamespace},
		{"List", testList},
		{"Map", testMap},
		{"List/Append", testListAppend},
		{"Namespaced", testNamespaced},
		{"Namespaced/Delete", testNamespacedDelete},
		{"Namespaced/Snapshot", testNamespacedSnapshot},
		{"Namespaced/SharedFormat", testNamespacedSharedFormat},
		{"Namespaced/ConcurrentWrite", testNamespacedConcurrentWrite},
		{"KeyFirst", keyFirst(testNamespaced)},
		{"KeyFirst/Delete", keyFirst(testNamespacedDelete)},
		{"KeyFirst/Snapshot", keyFirst(testNamespacedSnapshot)},
		{"KeyFirst/SharedFormat", keyFirst(testNamespacedSharedFormat)},
		{"KeyFirst/ConcurrentWrite", keyFirst(testNamespacedConcurrentWrite)},
		{"KeyFirst/ManyNamespaces", keyFirst(testNamespacedManyPerKey)},
		{"Namespaced/ManyNamespaces", testNamespacedManyPerKey},
		{"Namespaced/Drain", testNamespacedDrain},
		{"Namespaced/SlotThenSnapshot", testNamespacedSlotThenSnapshot},
		{"KeyFirst/SlotThenSnapshot", keyFirst(testNamespacedSlotThenSnapshot)},
		{"KeyFirst/Drain", keyFirst(testNamespacedDrain)},
		{"OnSnapshot", testOnSnapshot},
		{"SplitValue", testSplitValue},
		{"SplitValue/ConcurrentWrite", testSplitValueConcurrentWrite},
		{"Len", testLen},
		{"OperatorList", testOperatorList},
		{"Errors/KeyGroupOutOfRange", testKeyGroupOutOfRange},
		{"Errors/Exists", testExists},
		{"Errors/BadDescriptor", testBadDescriptor},
		{"TTL/Value", testTTLValue},
		{"TTL/List", testTTLList},
		{"TTL/Map", testTTLMap},
		{"TTL/ExpireSome", testExpireSome},
		{"TTL/Snapshot", testTTLSnapshot},
		{"Snapshot/Isolation", testSnapshotIsolation},
		{"Snapshot/ConcurrentWrite", testSnapshotConcurrentWrite},
		{"Snapshot/Deterministic", testSnapshotDeterministic},
		{"Snapshot/Release", testSnapshotRelease},
		{"Snapshot/ReleaseOutOfOrder", testSnapshotReleaseOutOfOrder},
		{"Snapshot/ReleaseConcurrent", testSnapshotReleaseConcurrent},
		{"Namespaced/Release", testNamespacedRelease},
		{"KeyFirst/Release", keyFirst(testNamespacedRelease)},
		{"SplitValue/Release", testSplitValueRelease},
		{"Snapshot/SharedFormat", testSharedFormat},
		{"Restore/SameRange", testRestoreSameRange},
		{"Restore/Subset", testRestoreSubset},
		{"Restore/ScaleIn", testRestoreScaleIn},
		{"Restore/Parallel", testRestoreParallel},
		{"Restore/OperatorListSplit", testOperatorListSplit},
		{"Restore/OperatorListBroadcast", testOperatorListBroadcast},
		{"Restore/Torn", testRestoreTorn},
		{"Restore/KindMismatch", testRestoreKindMismatch},
		{"Restore/CarryUnregistered", testCarryUnregistered},
		{"Restore/Mismatch", testRestoreMismatch},
		{"Restore/AfterCreate", testRestoreAfterCreate},
		{"Timers/Register", testTimersRegister},
		{"Timers/Rescale", testTimersRescale},
		{"Timers/SharedFormat", testTimersSharedFormat},
		{"Timers/Store/Order", testStoreTimersOrder},
		{"Timers/Store/Restore", testStoreTimersRestore},
		{"Timers/Store/Bounded", testStoreTimersBounded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(&harness{t: t, newBackend: newBackend, clock: newClock(), caps: caps})
		})
	}
}

// harness gives a subtest backends that share one fake clock.
type harness struct {
	t          *testing.T
	newBackend func(t *testing.T, cfg state.Config) state.Backend
	clock      *fakeClock
	caps       Capabilities
	// newNamespaced creates the Namespaced tables of the subtest:
	// state.NewNamespaced unless keyFirst says otherwise.
	newNamespaced func(state.Backend, state.TableDesc[string, string, int64]) (state.Namespaced[string, string, int64], error)
}

// keyFirst runs a Namespaced test on tables made by state.NewKeyFirst.
func keyFirst(test func(*harness)) func(*harness) {
	return func(h *harness) {
		h.newNamespaced = state.NewKeyFirst[string, string, int64]
		test(h)
	}
}

// fakeClock is safe for use from several goroutines, because a backend may
// read its clock while a snapshot is written out.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func (h *harness) config(r state.KeyGroupRange, subtask, p int) state.Config {
	return state.Config{
		OperatorID:     operatorID,
		KeyGroups:      r,
		MaxParallelism: maxPar,
		Subtask:        subtask,
		Parallelism:    p,
		Clock:          h.clock.Now,
	}
}

func (h *harness) closeAtEnd(b state.Backend) state.Backend {
	h.t.Cleanup(func() {
		if err := b.Close(); err != nil {
			h.t.Errorf("Close: %v", err)
		}
	})
	return b
}

// backend returns a fresh backend of subtask i of p owning its share of
// the key groups.
func (h *harness) backend(i, p int) state.Backend {
	h.t.Helper()
	return h.closeAtEnd(h.newBackend(h.t, h.config(keygroup.RangeFor(maxPar, p, i), i, p)))
}

// memory returns a Memory backend, the reference the others are checked
// against.
func (h *harness) memory(i, p int) state.Backend {
	h.t.Helper()
	b, err := state.NewMemory(h.config(keygroup.RangeFor(maxPar, p, i), i, p))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.closeAtEnd(b)
}

// restored returns a fresh backend of subtask i of p restored from snaps.
func (h *harness) restored(i, p int, snaps ...[]byte) state.Backend {
	h.t.Helper()
	b := h.backend(i, p)
	if err := b.Restore(readers(snaps)); err != nil {
		h.t.Fatalf("Restore into subtask %d of %d: %v", i, p, err)
	}
	return b
}

// readers returns the snapshots as Restore takes them.
func readers(snaps [][]byte) []state.SnapshotFile {
	rs := make([]state.SnapshotFile, len(snaps))
	for i, s := range snaps {
		rs[i] = state.BytesSnapshot(fmt.Sprintf("snapshot-%d", i), s)
	}
	return rs
}

// snapshot takes a snapshot and writes it out at once.
func (h *harness) snapshot(b state.Backend) []byte {
	h.t.Helper()
	s, err := b.Snapshot()
	if err != nil {
		h.t.Fatalf("Snapshot: %v", err)
	}
	return h.write(s)
}

func (h *harness) write(s state.Snapshot) []byte {
	h.t.Helper()
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil {
		h.t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		h.t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func kgOf(k string) int { return keygroup.Of(strC.Append(nil, k), maxPar) }

// keysIn returns n distinct keys whose key groups are in r.
func keysIn(r state.KeyGroupRange, n int) []string {
	var ks []string
	for i := 0; len(ks) < n; i++ {
		if k := fmt.Sprintf("key-%d", i); r.Contains(kgOf(k)) {
			ks = append(ks, k)
		}
	}
	return ks
}

// sameGroup returns two distinct keys of one key group, and a third key of
// another.
func sameGroup() (a, b, other string) {
	byKG := make(map[int]string)
	for i := 0; ; i++ {
		k := fmt.Sprintf("key-%d", i)
		kg := kgOf(k)
		if first, ok := byKG[kg]; ok {
			for _, o := range keysIn(state.KeyGroupRange{Start: 0, End: maxPar}, maxPar) {
				if kgOf(o) != kg {
					return first, k, o
				}
			}
		}
		byKG[kg] = k
	}
}

var all = state.KeyGroupRange{Start: 0, End: maxPar}

func valueDesc(name string, ttl time.Duration) state.TableDesc[string, string, int64] {
	return state.TableDesc[string, string, int64]{Name: name, Key: strC, Namespace: strC, Value: i64C, TTL: ttl}
}

func listDesc(name string, ttl time.Duration) state.TableDesc[string, string, string] {
	return state.TableDesc[string, string, string]{Name: name, Key: strC, Namespace: strC, Value: strC, TTL: ttl}
}

func mapDesc(name string, ttl time.Duration) state.MapDesc[string, string, string, int64] {
	return state.MapDesc[string, string, string, int64]{Name: name, Key: strC, Namespace: strC, UserKey: strC, Value: i64C, TTL: ttl}
}

func (h *harness) value(b state.Backend, name string, ttl time.Duration) state.Value[string, string, int64] {
	h.t.Helper()
	v, err := state.NewValue(b, valueDesc(name, ttl))
	if err != nil {
		h.t.Fatalf("NewValue(%q): %v", name, err)
	}
	return v
}

func (h *harness) list(b state.Backend, name string, ttl time.Duration) state.List[string, string, string] {
	h.t.Helper()
	l, err := state.NewList(b, listDesc(name, ttl))
	if err != nil {
		h.t.Fatalf("NewList(%q): %v", name, err)
	}
	return l
}

func (h *harness) mapTable(b state.Backend, name string, ttl time.Duration) state.Map[string, string, string, int64] {
	h.t.Helper()
	m, err := state.NewMap(b, mapDesc(name, ttl))
	if err != nil {
		h.t.Fatalf("NewMap(%q): %v", name, err)
	}
	return m
}

func (h *harness) opList(b state.Backend, name string, mode state.Redistribution) state.OperatorList[string] {
	h.t.Helper()
	l, err := state.NewOperatorList(b, name, mode, strC)
	if err != nil {
		h.t.Fatalf("NewOperatorList(%q): %v", name, err)
	}
	return l
}

// must fails the test on a write error.
func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// dumpValue reads every live entry of namespace ns through Keys and Get.
func (h *harness) dumpValue(v state.Value[string, string, int64], ns string) map[string]int64 {
	h.t.Helper()
	out := make(map[string]int64)
	for k := range v.Keys(ns) {
		if _, dup := out[k]; dup {
			h.t.Errorf("Keys(%q) yielded %q twice", ns, k)
		}
		x, ok, err := v.Get(kgOf(k), k, ns)
		if err != nil || !ok {
			h.t.Fatalf("Get(%q, %q) of a key Keys yielded = %v, %v, %v", k, ns, x, ok, err)
		}
		out[k] = x
	}
	return out
}

func (h *harness) dumpList(l state.List[string, string, string], ns string) map[string][]string {
	h.t.Helper()
	out := make(map[string][]string)
	for k := range l.Keys(ns) {
		vs, err := l.Get(kgOf(k), k, ns)
		if err != nil || len(vs) == 0 {
			h.t.Fatalf("Get(%q, %q) of a key Keys yielded = %v, %v", k, ns, vs, err)
		}
		out[k] = slices.Clone(vs)
	}
	return out
}

func (h *harness) dumpMap(m state.Map[string, string, string, int64], ns string) map[string]map[string]int64 {
	h.t.Helper()
	out := make(map[string]map[string]int64)
	for k := range m.Keys(ns) {
		if _, dup := out[k]; dup {
			h.t.Errorf("Keys(%q) yielded %q twice", ns, k)
		}
		um := maps.Collect(m.All(kgOf(k), k, ns))
		if len(um) == 0 {
			h.t.Fatalf("All(%q, %q) of a key Keys yielded is empty", k, ns)
		}
		out[k] = um
	}
	return out
}

func (h *harness) wantGet(v state.Value[string, string, int64], k, ns string, want int64, wantOK bool) {
	h.t.Helper()
	got, ok, err := v.Get(kgOf(k), k, ns)
	if err != nil || ok != wantOK || (ok && got != want) {
		h.t.Fatalf("Get(%q, %q) = %d, %v, %v; want %d, %v", k, ns, got, ok, err, want, wantOK)
	}
}

func (h *harness) wantEqual(what string, got, want any) {
	h.t.Helper()
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		h.t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
	}
}

func testValuePutGetDelete(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", 0)
	h.wantGet(v, "a", "", 0, false)
	h.must(v.Put(kgOf("a"), "a", "", 1))
	h.wantGet(v, "a", "", 1, true)
	h.must(v.Put(kgOf("a"), "a", "", 2))
	h.wantGet(v, "a", "", 2, true)
	h.must(v.Put(kgOf("b"), "b", "", 0))
	h.wantGet(v, "b", "", 0, true) // a zero value is still present
	h.must(v.Delete(kgOf("a"), "a", ""))
	h.wantGet(v, "a", "", 0, false)
	h.wantGet(v, "b", "", 0, true)
	h.must(v.Delete(kgOf("a"), "a", "")) // deleting an absent key is not an error
	h.must(v.Put(kgOf("a"), "a", "", 3))
	h.wantGet(v, "a", "", 3, true)
}

func testValueNamespaces(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", 0)
	kg := kgOf("k")
	h.must(v.Put(kg, "k", "w1", 1))
	h.must(v.Put(kg, "k", "w2", 2))
	h.wantGet(v, "k", "w1", 1, true)
	h.wantGet(v, "k", "w2", 2, true)
	h.wantGet(v, "k", "w3", 0, false)
	h.must(v.Delete(kg, "k", "w1"))
	h.wantGet(v, "k", "w1", 0, false)
	h.wantGet(v, "k", "w2", 2, true)
	// Two tables are as separate as two namespaces.
	other := h.value(b, "other", 0)
	h.wantGet(other, "k", "w2", 0, false)
}

func testValueKeys(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", 0)
	ks := keysIn(all, 50)
	w1, w2 := make(map[string]int64), make(map[string]int64)
	for i, k := range ks {
		h.must(v.Put(kgOf(k), k, "w1", int64(i)))
		w1[k] = int64(i)
		if i%3 == 0 {
			h.must(v.Put(kgOf(k), k, "w2", int64(-i)))
			w2[k] = int64(-i)
		}
	}
	h.wantEqual(`Keys("w1")`, h.dumpValue(v, "w1"), w1)
	h.wantEqual(`Keys("w2")`, h.dumpValue(v, "w2"), w2)
	h.wantEqual(`Keys("none")`, h.dumpValue(v, "none"), map[string]int64{})
	// Stopping early is honoured.
	n := 0
	for range v.Keys("w1") {
		n++
		break
	}
	h.wantEqual("keys seen before break", n, 1)
}

// testValueUnitNamespace covers value tables whose namespace is struct{},
// the common case, which a backend may store differently.
func testValueUnitNamespace(h *harness) {
	for _, ttl := range []time.Duration{0, ttl} {
		b := h.backend(0, 1)
		d := state.TableDesc[string, struct{}, int64]{Name: "unit", Key: strC, Namespace: unitC, Value: i64C, TTL: ttl}
		v, err := state.NewValue(b, d)
		h.must(err)
		ks := keysIn(all, 40)
		want := make(map[string]int64)
		for i, k := range ks {
			h.must(v.Put(kgOf(k), k, struct{}{}, int64(i)))
			want[k] = int64(i)
		}
		h.must(v.Delete(kgOf(ks[0]), ks[0], struct{}{}))
		delete(want, ks[0])
		dump := func(v state.Value[string, struct{}, int64]) map[string]int64 {
			got := make(map[string]int64)
			for k := range v.Keys(struct{}{}) {
				x, ok, err := v.Get(kgOf(k), k, struct{}{})
				if err != nil || !ok {
					h.t.Fatalf("Get(%q) of a key Keys yielded = %v, %v", k, ok, err)
				}
				got[k] = x
			}
			return got
		}
		h.wantEqual(fmt.Sprintf("TTL %v: Keys and Get", ttl), dump(v), want)
		h.wantEqual(fmt.Sprintf("TTL %v: Len", ttl), v.Len(), len(want))
		s, err := b.Snapshot()
		h.must(err)
		h.must(v.Put(kgOf(ks[1]), ks[1], struct{}{}, -1))
		h.must(v.Delete(kgOf(ks[2]), ks[2], struct{}{}))
		r := h.restored(0, 1, h.write(s))
		rv, err := state.NewValue(r, d)
		h.must(err)
		h.wantEqual(fmt.Sprintf("TTL %v: restored", ttl), dump(rv), want)
		if _, ok, _ := v.Get(kgOf(ks[2]), ks[2], struct{}{}); ok {
			h.t.Fatalf("TTL %v: deleted key still present after a snapshot", ttl)
		}
	}
}

func testList(h *harness) {
	b := h.backend(0, 1)
	l := h.list(b, "l", 0)
	kg := kgOf("k")
	get := func(ns string) []string {
		h.t.Helper()
		vs, err := l.Get(kg, "k", ns)
		h.must(err)
		return vs
	}
	h.wantEqual("absent list", len(get("n")), 0)
	h.must(l.Add(kg, "k", "n", "a"))
	h.must(l.Add(kg, "k", "n", "b"))
	h.must(l.Add(kg, "k", "other", "x"))
	h.wantEqual("after Add", get("n"), []string{"a", "b"})
	h.wantEqual("other namespace", get("other"), []string{"x"})

	in := []string{"c", "d", "e"}
	h.must(l.Update(kg, "k", "n", in))
	in[0] = "changed" // Update must not keep the caller's slice
	h.wantEqual("after Update", get("n"), []string{"c", "d", "e"})

	// A list built by Add has room to grow in place. A caller that appends
	// to what Get returned gets its own slice: the list's next Add must not
	// overwrite the caller's element, nor the caller the list's.
	h.must(l.Delete(kg, "k", "n"))
	for _, e := range []string{"c", "d", "e"} {
		h.must(l.Add(kg, "k", "n", e))
	}
	mine := append(get("n"), "mine")
	h.must(l.Add(kg, "k", "n", "f"))
	h.wantEqual("caller's slice after Add", mine, []string{"c", "d", "e", "mine"})
	h.wantEqual("list after the caller appended", get("n"), []string{"c", "d", "e", "f"})

	h.must(l.Delete(kg, "k", "n"))
	h.wantEqual("after Delete", len(get("n")), 0)
	h.wantEqual("other namespace after Delete", get("other"), []string{"x"})
	h.must(l.Update(kg, "k", "other", nil))
	h.wantEqual("after Update to empty", len(get("other")), 0)
	h.wantEqual("Keys after emptying", h.dumpList(l, "other"), map[string][]string{})

	ks := keysIn(all, 20)
	want := make(map[string][]string)
	for _, k := range ks {
		h.must(l.Add(kgOf(k), k, "n", k+"-1"))
		h.must(l.Add(kgOf(k), k, "n", k+"-2"))
		want[k] = []string{k + "-1", k + "-2"}
	}
	h.wantEqual("Keys and Get", h.dumpList(l, "n"), want)
}

func testMap(h *harness) {
	b := h.backend(0, 1)
	m := h.mapTable(b, "m", 0)
	kg := kgOf("k")
	h.must(m.Put(kg, "k", "n", "x", 1))
	h.must(m.Put(kg, "k", "n", "y", 2))
	h.must(m.Put(kg, "k", "n", "x", 3))
	h.must(m.Put(kg, "k", "n2", "x", 9))
	got, ok, err := m.Get(kg, "k", "n", "x")
	if err != nil || !ok || got != 3 {
		h.t.Fatalf("Get x = %d, %v, %v; want 3", got, ok, err)
	}
	if _, ok, err := m.Get(kg, "k", "n", "z"); ok || err != nil {
		h.t.Fatalf("Get absent user key = %v, %v", ok, err)
	}
	h.wantEqual("All", maps.Collect(m.All(kg, "k", "n")), map[string]int64{"x": 3, "y": 2})
	h.must(m.Delete(kg, "k", "n", "x"))
	h.must(m.Delete(kg, "k", "n", "absent"))
	h.wantEqual("All after Delete", maps.Collect(m.All(kg, "k", "n")), map[string]int64{"y": 2})
	h.must(m.Delete(kg, "k", "n", "y"))
	h.wantEqual("Keys after deleting the last user key", h.dumpMap(m, "n"), map[string]map[string]int64{})
	h.must(m.Put(kg, "k", "n", "a", 1))
	h.must(m.Put(kg, "k", "n", "b", 2))
	h.must(m.Clear(kg, "k", "n"))
	h.wantEqual("All after Clear", maps.Collect(m.All(kg, "k", "n")), map[string]int64{})
	h.wantEqual("other namespace after Clear", maps.Collect(m.All(kg, "k", "n2")), map[string]int64{"x": 9})
	n := 0
	h.must(m.Put(kg, "k", "n", "a", 1))
	h.must(m.Put(kg, "k", "n", "b", 2))
	for range m.All(kg, "k", "n") {
		n++
		break
	}
	h.wantEqual("entries seen before break", n, 1)
	h.wantEqual("Keys", h.dumpMap(m, "n"), map[string]map[string]int64{"k": {"a": 1, "b": 2}})
}

func testLen(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", 0)
	l := h.list(b, "l", 0)
	m := h.mapTable(b, "m", 0)
	ks := keysIn(all, 40)
	for i, k := range ks {
		h.must(v.Put(kgOf(k), k, "a", 1))
		h.must(v.Put(kgOf(k), k, "b", 1))
		h.must(l.Add(kgOf(k), k, "a", "x"))
		h.must(l.Add(kgOf(k), k, "a", "y"))
		h.must(m.Put(kgOf(k), k, "a", "u1", 1))
		if i%2 == 0 {
			h.must(m.Put(kgOf(k), k, "a", "u2", 1))
		}
	}
	h.wantEqual("value Len counts (key, namespace) entries", v.Len(), 80)
	h.wantEqual("list Len counts lists, not elements", l.Len(), 40)
	h.wantEqual("map Len counts user-key entries", m.Len(), 60)
	h.must(v.Delete(kgOf(ks[0]), ks[0], "a"))
	h.must(l.Delete(kgOf(ks[0]), ks[0], "a"))
	h.must(m.Clear(kgOf(ks[0]), ks[0], "a"))
	h.wantEqual("value Len after Delete", v.Len(), 79)
	h.wantEqual("list Len after Delete", l.Len(), 39)
	h.wantEqual("map Len after Clear", m.Len(), 58)
}

func testOperatorList(h *harness) {
	b := h.backend(0, 1)
	l := h.opList(b, "offsets", state.Split)
	got, err := l.Get()
	h.must(err)
	h.wantEqual("new list", len(got), 0)
	in := []string{"p0:10", "p1:20"}
	h.must(l.Update(in))
	in[0] = "changed"
	got, err = l.Get()
	h.must(err)
	h.wantEqual("after Update", got, []string{"p0:10", "p1:20"})
	h.must(l.Update(nil))
	got, err = l.Get()
	h.must(err)
	h.wantEqual("after Update(nil)", len(got), 0)
}

func testKeyGroupOutOfRange(h *harness) {
	b := h.backend(0, 2) // owns [0,64)
	v := h.value(b, "v", 0)
	l := h.list(b, "l", 0)
	m := h.mapTable(b, "m", 0)
	for _, kg := range []int{-1, 64, 127, 128} {
		errs := map[string]error{}
		errs["value Put"] = v.Put(kg, "k", "", 1)
		_, _, errs["value Get"] = v.Get(kg, "k", "")
		errs["value Delete"] = v.Delete(kg, "k", "")
		errs["list Add"] = l.Add(kg, "k", "", "x")
		_, errs["list Get"] = l.Get(kg, "k", "")
		errs["list Update"] = l.Update(kg, "k", "", []string{"x"})
		errs["map Put"] = m.Put(kg, "k", "", "u", 1)
		_, _, errs["map Get"] = m.Get(kg, "k", "", "u")
		errs["map Delete"] = m.Delete(kg, "k", "", "u")
		for op, err := range errs {
			if err == nil {
				h.t.Errorf("%s with key group %d outside [0,64): no error", op, kg)
			} else if !strings.Contains(err.Error(), fmt.Sprint(kg)) {
				h.t.Errorf("%s with key group %d: error %q does not name the key group", op, kg, err)
			}
		}
	}
	h.wantEqual("Len after rejected writes", v.Len()+l.Len()+m.Len(), 0)
}

func testExists(h *harness) {
	b := h.backend(0, 1)
	h.value(b, "x", 0)
	h.opList(b, "o", state.Split)
	_, err := state.NewValue(b, valueDesc("x", 0))
	if !errors.Is(err, state.ErrExists) {
		h.t.Errorf("NewValue twice: %v, want ErrExists", err)
	}
	_, err = state.NewList(b, listDesc("x", 0))
	if !errors.Is(err, state.ErrExists) {
		h.t.Errorf("NewList over a value table: %v, want ErrExists", err)
	}
	_, err = state.NewMap(b, mapDesc("x", 0))
	if !errors.Is(err, state.ErrExists) {
		h.t.Errorf("NewMap over a value table: %v, want ErrExists", err)
	}
	_, err = state.NewOperatorList(b, "x", state.Split, strC)
	if !errors.Is(err, state.ErrExists) {
		h.t.Errorf("NewOperatorList over a value table: %v, want ErrExists", err)
	}
	_, err = state.NewValue(b, valueDesc("o", 0))
	if !errors.Is(err, state.ErrExists) {
		h.t.Errorf("NewValue over an operator list: %v, want ErrExists", err)
	}
}

func testBadDescriptor(h *harness) {
	b := h.backend(0, 1)
	for _, tc := range []struct {
		field string
		err   error
	}{
		{"Name", func() error { _, err := state.NewValue(b, valueDesc("", 0)); return err }()},
		{"Key", func() error {
			d := valueDesc("k", 0)
			d.Key = nil
			_, err := state.NewValue(b, d)
			return err
		}()},
		{"UserKey", func() error {
			d := mapDesc("m", 0)
			d.UserKey = nil
			_, err := state.NewMap(b, d)
			return err
		}()},
		{"TTL", func() error { _, err := state.NewList(b, listDesc("l", -time.Second)); return err }()},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.field) {
			h.t.Errorf("descriptor with bad %s: error %v does not name the field", tc.field, tc.err)
		}
	}
}

const ttl = 10 * time.Second

func testTTLValue(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", ttl)
	a, c := "a", "c"
	h.must(v.Put(kgOf(a), a, "", 1))
	h.clock.Advance(ttl - time.Second)
	h.wantGet(v, a, "", 1, true) // reading does not refresh
	h.must(v.Put(kgOf(c), c, "", 3))
	h.wantEqual("Len before expiry", v.Len(), 2)
	h.clock.Advance(time.Second) // a is TTL old
	h.wantGet(v, a, "", 0, false)
	h.wantGet(v, c, "", 3, true)
	h.wantEqual("Keys after a expired", h.dumpValue(v, ""), map[string]int64{c: 3})
	h.wantEqual("Len after a expired", v.Len(), 1)

	h.must(v.Put(kgOf(a), a, "", 2)) // a write brings it back, fresh
	h.clock.Advance(ttl - time.Second)
	h.wantGet(v, a, "", 2, true)
	h.wantGet(v, c, "", 0, false)
	h.must(v.Put(kgOf(a), a, "", 4)) // an overwrite refreshes
	h.clock.Advance(ttl - time.Second)
	h.wantGet(v, a, "", 4, true)
	h.clock.Advance(time.Second)
	h.wantGet(v, a, "", 0, false)
	h.wantEqual("Len after all expired", v.Len(), 0)
}

func testTTLList(h *harness) {
	b := h.backend(0, 1)
	l := h.list(b, "l", ttl)
	kg := kgOf("k")
	h.must(l.Add(kg, "k", "", "a"))
	h.clock.Advance(5 * time.Second)
	h.must(l.Add(kg, "k", "", "b")) // refreshes the whole list
	h.clock.Advance(7 * time.Second)
	vs, err := l.Get(kg, "k", "")
	h.must(err)
	h.wantEqual("list written 7s ago", vs, []string{"a", "b"})
	h.clock.Advance(3 * time.Second)
	vs, err = l.Get(kg, "k", "")
	h.must(err)
	h.wantEqual("list written 10s ago", len(vs), 0)
	h.wantEqual("Len", l.Len(), 0)
	// Adding to an expired list starts a new one, whether or not a read
	// has noticed the expiry first.
	h.must(l.Add(kg, "k", "", "c"))
	h.must(l.Add(kg, "k2", "", "old"))
	h.clock.Advance(ttl)
	h.must(l.Add(kg, "k2", "", "new"))
	for k, want := range map[string][]string{"k": nil, "k2": {"new"}} {
		vs, err = l.Get(kg, k, "")
		h.must(err)
		h.wantEqual("Add after expiry of "+k, vs, want)
	}
}

func testTTLMap(h *harness) {
	b := h.backend(0, 1)
	m := h.mapTable(b, "m", ttl)
	kg := kgOf("k")
	h.must(m.Put(kg, "k", "", "u1", 1))
	h.clock.Advance(5 * time.Second)
	h.must(m.Put(kg, "k", "", "u2", 2)) // does not refresh u1
	h.clock.Advance(5 * time.Second)
	if _, ok, _ := m.Get(kg, "k", "", "u1"); ok {
		h.t.Fatal("u1 returned TTL after its write")
	}
	h.wantEqual("All", maps.Collect(m.All(kg, "k", "")), map[string]int64{"u2": 2})
	h.wantEqual("Len", m.Len(), 1)
	h.wantEqual("Keys", h.dumpMap(m, ""), map[string]map[string]int64{"k": {"u2": 2}})
	h.clock.Advance(5 * time.Second)
	h.wantEqual("All after both expired", maps.Collect(m.All(kg, "k", "")), map[string]int64{})
	h.wantEqual("Keys after both expired", h.dumpMap(m, ""), map[string]map[string]int64{})
	h.wantEqual("Len after both expired", m.Len(), 0)
}

func testExpireSome(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", ttl)
	m := h.mapTable(b, "m", ttl)
	l := h.list(b, "l", ttl)
	plain := h.value(b, "plain", 0)
	ks := keysIn(all, 300)
	for _, k := range ks[:200] {
		h.must(v.Put(kgOf(k), k, "", 1))
		h.must(m.Put(kgOf(k), k, "", "u", 1))
		h.must(plain.Put(kgOf(k), k, "", 1))
	}
	for _, k := range ks[:50] {
		h.must(l.Add(kgOf(k), k, "", "x"))
	}
	h.clock.Advance(ttl)
	for _, k := range ks[200:] {
		h.must(v.Put(kgOf(k), k, "", 2))
		h.must(m.Put(kgOf(k), k, "", "u", 2))
	}
	h.wantEqual("value Len with 200 expired", v.Len(), 100)
	h.wantEqual("map Len with 200 expired", m.Len(), 100)
	const expired = 200 + 200 + 50
	total := 0
	for calls := 0; total < expired && calls < 10*expired+10*maxPar; calls++ {
		n := b.ExpireSome(7)
		if n < 0 || n > 7 {
			h.t.Fatalf("ExpireSome(7) = %d", n)
		}
		total += n
	}
	h.wantEqual("entries removed by ExpireSome over many calls", total, expired)
	h.wantEqual("ExpireSome once all are removed", b.ExpireSome(1000), 0)
	h.wantEqual("value Len after expiry", v.Len(), 100)
	h.wantEqual("map Len after expiry", m.Len(), 100)
	h.wantEqual("list Len after expiry", l.Len(), 0)
	h.wantEqual("table without TTL", plain.Len(), 200)
	for _, k := range ks[200:] {
		h.wantGet(v, k, "", 2, true)
	}
	h.wantEqual("ExpireSome(0)", b.ExpireSome(0), 0)
}

func testTTLSnapshot(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", ttl)
	m := h.mapTable(b, "m", ttl)
	l := h.list(b, "l", ttl)
	h.must(v.Put(kgOf("old"), "old", "", 1))
	h.must(m.Put(kgOf("k"), "k", "", "old", 1))
	h.must(l.Add(kgOf("old"), "old", "", "x"))
	h.clock.Advance(ttl / 2)
	h.must(v.Put(kgOf("new"), "new", "", 2))
	h.must(m.Put(kgOf("k"), "k", "", "new", 2))
	h.must(l.Add(kgOf("new"), "new", "", "y"))
	h.clock.Advance(ttl / 2) // "old" entries are now expired, not yet removed
	snap := h.snapshot(b)

	r := h.restored(0, 1, snap)
	rv, rm, rl := h.value(r, "v", ttl), h.mapTable(r, "m", ttl), h.list(r, "l", ttl)
	h.wantEqual("restored values", h.dumpValue(rv, ""), map[string]int64{"new": 2})
	h.wantEqual("restored map", h.dumpMap(rm, ""), map[string]map[string]int64{"k": {"new": 2}})
	h.wantEqual("restored lists", h.dumpList(rl, ""), map[string][]string{"new": {"y"}})
	h.wantEqual("restored ExpireSome", r.ExpireSome(100), 0)
	// Restored entries keep their last-write time.
	h.clock.Advance(ttl/2 - time.Nanosecond)
	h.wantGet(rv, "new", "", 2, true)
	h.clock.Advance(time.Nanosecond)
	h.wantGet(rv, "new", "", 0, false)
	h.wantEqual("restored map after TTL", rm.Len(), 0)

	// Expired entries are not in the snapshot at all: a table created
	// without a TTL, which would keep them, does not see them.
	r = h.restored(0, 1, snap)
	h.wantEqual("values restored without TTL", h.dumpValue(h.value(r, "v", 0), ""), map[string]int64{"new": 2})
	h.wantEqual("map restored without TTL", h.dumpMap(h.mapTable(r, "m", 0), ""), map[string]map[string]int64{"k": {"new": 2}})
	h.wantEqual("lists restored without TTL", h.dumpList(h.list(r, "l", 0), ""), map[string][]string{"new": {"y"}})

	// A table created with a TTL from state written without one counts its
	// entries as written at restore.
	plain := h.backend(0, 1)
	h.must(h.value(plain, "plain", 0).Put(kgOf("p"), "p", "", 7))
	snap = h.snapshot(plain)
	r2 := h.restored(0, 1, snap)
	pv := h.value(r2, "plain", ttl)
	h.clock.Advance(ttl - time.Nanosecond)
	h.wantGet(pv, "p", "", 7, true)
	h.clock.Advance(time.Nanosecond)
	h.wantGet(pv, "p", "", 0, false)
}

// fixture is what the snapshot tests expect of the tables "v", "l" and "m"
// in namespaces "n1" and "n2".
type fixture struct {
	values map[string]map[string]int64
	lists  map[string]map[string][]string
	maps   map[string]map[string]map[string]int64
}

func newFixture() fixture {
	f := fixture{values: map[string]map[string]int64{}, lists: map[string]map[string][]string{}, maps: map[string]map[string]map[string]int64{}}
	for _, ns := range namespaces {
		f.values[ns], f.lists[ns], f.maps[ns] = map[string]int64{}, map[string][]string{}, map[string]map[string]int64{}
	}
	return f
}

var namespaces = []string{"n1", "n2"}

// tables are the fixture's tables in one backend.
type tables struct {
	v state.Value[string, string, int64]
	l state.List[string, string, string]
	m state.Map[string, string, string, int64]
}

func (h *harness) tables(b state.Backend) tables {
	h.t.Helper()
	return tables{h.value(b, "v", 0), h.list(b, "l", 0), h.mapTable(b, "m", 0)}
}

// fill creates the fixture's tables and writes state for keys ks, whose
// lists and maps vary in size.
func (h *harness) fill(b state.Backend, ks []string) (tables, fixture) {
	h.t.Helper()
	tb, f := h.tables(b), newFixture()
	for _, ns := range namespaces {
		for i, k := range ks {
			kg := kgOf(k)
			h.must(tb.v.Put(kg, k, ns, int64(i)))
			f.values[ns][k] = int64(i)
			for j := range i%3 + 1 {
				e := fmt.Sprintf("%s/%s/%d", k, ns, j)
				h.must(tb.l.Add(kg, k, ns, e))
				f.lists[ns][k] = append(f.lists[ns][k], e)
			}
			f.maps[ns][k] = map[string]int64{}
			for j := range i%4 + 1 {
				uk := fmt.Sprint("u", j)
				h.must(tb.m.Put(kg, k, ns, uk, int64(i*10+j)))
				f.maps[ns][k][uk] = int64(i*10 + j)
			}
		}
	}
	return tb, f
}

// check creates the fixture's tables in b and compares them with f.
func (h *harness) check(b state.Backend, f fixture) {
	h.t.Helper()
	h.checkTables(h.tables(b), f)
}

func (h *harness) checkTables(tb tables, f fixture) {
	h.t.Helper()
	n := 0
	for _, ns := range namespaces {
		h.wantEqual("values in "+ns, h.dumpValue(tb.v, ns), f.values[ns])
		h.wantEqual("lists in "+ns, h.dumpList(tb.l, ns), f.lists[ns])
		h.wantEqual("maps in "+ns, h.dumpMap(tb.m, ns), f.maps[ns])
		for _, um := range f.maps[ns] {
			n += len(um)
		}
	}
	h.wantEqual("map Len", tb.m.Len(), n)
	h.wantEqual("value Len", tb.v.Len(), len(f.values["n1"])+len(f.values["n2"]))
}

// subset returns the part of f whose keys are in r.
func (f fixture) subset(r state.KeyGroupRange) fixture {
	out := newFixture()
	for _, ns := range namespaces {
		maps.Insert(out.values[ns], filter(f.values[ns], r))
		maps.Insert(out.lists[ns], filter(f.lists[ns], r))
		maps.Insert(out.maps[ns], filter(f.maps[ns], r))
	}
	return out
}

// union adds g to f; their keys must be distinct.
func (f fixture) union(g fixture) fixture {
	out := f.subset(all)
	for _, ns := range namespaces {
		maps.Copy(out.values[ns], g.values[ns])
		maps.Copy(out.lists[ns], g.lists[ns])
		maps.Copy(out.maps[ns], g.maps[ns])
	}
	return out
}

func filter[V any](m map[string]V, r state.KeyGroupRange) iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for k, v := range m {
			if r.Contains(kgOf(k)) && !yield(k, v) {
				return
			}
		}
	}
}

func testSnapshotIsolation(h *harness) {
	b := h.backend(0, 1)
	a1, a2, o := sameGroup()
	ks := []string{a1, a2, o}
	for _, k := range keysIn(all, 30) {
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	tb, f := h.fill(b, ks)
	s, err := b.Snapshot()
	h.must(err)

	// Change everything after the snapshot: the same and other key groups,
	// lists (appending past what the snapshot holds), and nested maps.
	h.must(tb.v.Put(kgOf(a1), a1, "n1", 1000))
	h.must(tb.v.Delete(kgOf(a2), a2, "n1"))
	h.must(tb.v.Put(kgOf("brand-new"), "brand-new", "n1", 5))
	h.must(tb.v.Put(kgOf(o), o, "n2", -1))
	for _, k := range ks {
		h.must(tb.l.Add(kgOf(k), k, "n1", "later"))
	}
	h.must(tb.l.Update(kgOf(a2), a2, "n2", []string{"replaced"}))
	h.must(tb.l.Delete(kgOf(o), o, "n1"))
	h.must(tb.m.Put(kgOf(a1), a1, "n1", "u0", -5))
	h.must(tb.m.Put(kgOf(a1), a1, "n1", "new-user-key", -6))
	h.must(tb.m.Delete(kgOf(a2), a2, "n1", "u0"))
	h.must(tb.m.Clear(kgOf(o), o, "n2"))
	// A second snapshot in between must not disturb the first, and writes
	// after it must disturb neither.
	second, err := b.Snapshot()
	h.must(err)
	h.must(tb.v.Put(kgOf(o), o, "n1", -2))
	h.must(tb.l.Add(kgOf(a1), a1, "n1", "after second"))
	h.must(tb.m.Put(kgOf(a2), a2, "n1", "after second", 1))

	first := h.write(s)
	h.check(h.restored(0, 1, first), f)

	want := f.subset(all)
	want.values["n1"][a1] = 1000
	delete(want.values["n1"], a2)
	want.values["n1"]["brand-new"] = 5
	want.values["n2"][o] = -1
	for _, k := range ks {
		want.lists["n1"][k] = append(slices.Clone(want.lists["n1"][k]), "later")
	}
	want.lists["n2"][a2] = []string{"replaced"}
	delete(want.lists["n1"], o)
	want.maps["n1"][a1] = maps.Clone(want.maps["n1"][a1])
	want.maps["n1"][a1]["u0"], want.maps["n1"][a1]["new-user-key"] = -5, -6
	want.maps["n1"][a2] = maps.Clone(want.maps["n1"][a2])
	delete(want.maps["n1"][a2], "u0")
	if len(want.maps["n1"][a2]) == 0 {
		delete(want.maps["n1"], a2)
	}
	delete(want.maps["n2"], o)
	h.check(h.restored(0, 1, h.write(second)), want)

	// Writing a snapshot again gives the same bytes.
	if again := h.write(s); !bytes.Equal(again, first) {
		h.t.Error("writing a snapshot twice gave different bytes")
	}
}

func testSnapshotConcurrentWrite(h *harness) {
	b := h.backend(0, 1)
	ks := keysIn(all, 400)
	tb, f := h.fill(b, ks)
	s, err := b.Snapshot()
	h.must(err)

	var buf bytes.Buffer
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, werr = s.WriteTo(&buf)
	}()
	// Wait for the writer even if a check below fails the test.
	defer func() { <-done }()
	// Touch every key group of every table while the snapshot is written
	// out, on this goroutine as a task would; the race detector checks the
	// rest.
	for round := range 3 {
		for i, k := range ks {
			kg := kgOf(k)
			h.must(tb.v.Put(kg, k, "n1", int64(-i-round)))
			h.must(tb.v.Delete(kg, k, "n2"))
			h.must(tb.l.Add(kg, k, "n1", "during"))
			h.must(tb.l.Update(kg, k, "n2", []string{"replaced"}))
			h.must(tb.m.Put(kg, k, "n1", "u0", -1))
			h.must(tb.m.Delete(kg, k, "n1", "u1"))
			h.must(tb.m.Clear(kg, k, "n2"))
		}
		// A snapshot nothing refers to any more may be released by a
		// cleanup; one being written must not be: collect what is garbage.
		runtime.GC()
		runtime.GC()
		if round == 1 {
			// Snapshots taken meanwhile start new epochs under the writer.
			if _, err := b.Snapshot(); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	b.ExpireSome(1000)
	<-done
	if werr != nil {
		h.t.Fatalf("WriteTo: %v", werr)
	}
	h.check(h.restored(0, 1, buf.Bytes()), f)
}

func testSnapshotDeterministic(h *harness) {
	ks := keysIn(all, 60)
	b1, b2 := h.backend(0, 1), h.backend(0, 1)
	h.fill(b1, ks)
	// The same state written in another order, with detours.
	rev := slices.Clone(ks)
	slices.Reverse(rev)
	tb := h.tables(b2)
	h.must(tb.v.Put(kgOf("gone"), "gone", "n1", 1))
	h.must(tb.m.Put(kgOf("gone"), "gone", "n1", "u", 1))
	_, f := h.fillInto(tb, ks, rev)
	h.must(tb.v.Delete(kgOf("gone"), "gone", "n1"))
	h.must(tb.m.Delete(kgOf("gone"), "gone", "n1", "u"))
	s1, s2 := h.snapshot(b1), h.snapshot(b2)
	if !bytes.Equal(s1, s2) {
		h.t.Fatalf("equal state gave different snapshots (%d and %d bytes)", len(s1), len(s2))
	}
	// Restored state gives the same bytes, whether its tables were created
	// again or carried without being created.
	carried := h.snapshot(h.restored(0, 1, s1))
	if !bytes.Equal(s1, carried) {
		h.t.Error("restoring and snapshotting without creating the tables changed the bytes")
	}
	r := h.restored(0, 1, s1)
	h.check(r, f)
	if again := h.snapshot(r); !bytes.Equal(s1, again) {
		h.t.Error("restoring, creating the tables and snapshotting changed the bytes")
	}
}

// fillInto writes the fixture state for keys ks into tb, visiting the keys
// in the order given by order.
func (h *harness) fillInto(tb tables, ks, order []string) (tables, fixture) {
	h.t.Helper()
	idx := make(map[string]int)
	for i, k := range ks {
		idx[k] = i
	}
	f := newFixture()
	for _, ns := range namespaces {
		for _, k := range order {
			i, kg := idx[k], kgOf(k)
			h.must(tb.v.Put(kg, k, ns, -99))
			h.must(tb.v.Put(kg, k, ns, int64(i)))
			f.values[ns][k] = int64(i)
			var l []string
			for j := range i%3 + 1 {
				l = append(l, fmt.Sprintf("%s/%s/%d", k, ns, j))
			}
			h.must(tb.l.Update(kg, k, ns, l))
			f.lists[ns][k] = l
			f.maps[ns][k] = map[string]int64{}
			for j := i % 4; j >= 0; j-- {
				uk := fmt.Sprint("u", j)
				h.must(tb.m.Put(kg, k, ns, uk, int64(i*10+j)))
				f.maps[ns][k][uk] = int64(i*10 + j)
			}
		}
	}
	return tb, f
}

func testSharedFormat(h *harness) {
	ks := keysIn(all, 50)
	b := h.backend(0, 1)
	_, f := h.fill(b, ks)
	h.must(h.opList(b, "o", state.Split).Update([]string{"x", "y"}))
	mem := h.memory(0, 1)
	h.must(mem.Restore(readers([][]byte{h.snapshot(b)})))
	h.check(mem, f)

	mem = h.memory(0, 1)
	_, f = h.fill(mem, ks[:20])
	h.check(h.restored(0, 1, h.snapshot(mem)), f)
}

func testRestoreSameRange(h *harness) {
	b := h.backend(1, 2)
	ks := keysIn(keygroup.RangeFor(maxPar, 2, 1), 100)
	_, f := h.fill(b, ks)
	// A namespace whose encoding is empty, the common case of keyed state
	// outside windows.
	unit := state.TableDesc[string, struct{}, int64]{Name: "unit", Key: strC, Namespace: unitC, Value: i64C}
	u, err := state.NewValue(b, unit)
	h.must(err)
	for i, k := range ks {
		h.must(u.Put(kgOf(k), k, struct{}{}, int64(i)))
	}
	r := h.restored(1, 2, h.snapshot(b))
	h.check(r, f)
	u, err = state.NewValue(r, unit)
	h.must(err)
	h.wantEqual("unit Len", u.Len(), len(ks))
	for i, k := range ks {
		if got, ok, err := u.Get(kgOf(k), k, struct{}{}); err != nil || !ok || got != int64(i) {
			h.t.Fatalf("unit Get(%q) = %d, %v, %v; want %d", k, got, ok, err, i)
		}
	}
	h.must(h.backend(1, 2).Restore(nil)) // nothing to restore is a fresh start
}

func testRestoreSubset(h *harness) {
	b := h.backend(0, 1)
	_, f := h.fill(b, keysIn(all, 200))
	snap := h.snapshot(b)
	for _, p := range []int{2, 3} {
		for i := range p {
			r := keygroup.RangeFor(maxPar, p, i)
			want := f.subset(r)
			if len(want.values["n1"]) == 0 || len(want.values["n1"]) == 200 {
				h.t.Fatalf("subtask %d of %d: %d of 200 keys: a poor test", i, p, len(want.values["n1"]))
			}
			h.check(h.restored(i, p, snap), want)
		}
	}
}

func testRestoreScaleIn(h *harness) {
	var snaps [][]byte
	f := newFixture()
	for i := range 2 {
		b := h.backend(i, 2)
		_, fi := h.fill(b, keysIn(keygroup.RangeFor(maxPar, 2, i), 80))
		f = f.union(fi)
		snaps = append(snaps, h.snapshot(b))
	}
	h.check(h.restored(0, 1, snaps...), f)
}

// parallelTables are the tables of testRestoreParallel: one of each
// layout, so that every table's restore runs on several goroutines.
type parallelTables struct {
	tables
	ns, kf state.Namespaced[string, string, int64]
	ttl    state.Value[string, string, int64]
	split  state.Value[string, string, int64]
}

func (h *harness) parallelTables(b state.Backend) parallelTables {
	h.t.Helper()
	pt := parallelTables{tables: h.tables(b), ttl: h.value(b, "ttl", time.Hour)}
	var err error
	pt.ns, err = state.NewNamespaced(b, valueDesc("ns", 0))
	h.must(err)
	pt.kf, err = state.NewKeyFirst(b, valueDesc("kf", 0))
	h.must(err)
	pt.split, err = state.NewSplitValue(b, valueDesc("split", 0),
		func(k string) (string, string) { return k[:len(k)-1], k[len(k)-1:] },
		func(a, b string) string { return a + b })
	h.must(err)
	return pt
}

// testRestoreParallel restores one snapshot with one worker and with
// several (Config.RestoreWorkers): the restored state, written out again,
// is the same bytes, and a codec that cannot read the state fails at the
// same key group.
func testRestoreParallel(h *harness) {
	b := h.backend(0, 1)
	ks := keysIn(all, 400)
	pt := h.parallelTables(b)
	_, f := h.fillInto(pt.tables, ks, ks)
	for i, k := range ks {
		kg := kgOf(k)
		for _, ns := range namespaces {
			h.must(pt.ns.Put(kg, k, ns, int64(i)))
			h.must(pt.kf.Put(kg, k, ns, int64(-i)))
			h.must(pt.ttl.Put(kg, k, ns, int64(i*7)))
			h.must(pt.split.Put(kg, k, ns, int64(i*3)))
		}
	}
	snap := h.snapshot(b)
	for _, p := range []int{1, 2} {
		for i := range p {
			r := keygroup.RangeFor(maxPar, p, i)
			var out [][]byte
			var decodeErrs []*state.FormatError
			for _, workers := range []int{1, 4} {
				cfg := h.config(r, i, p)
				cfg.RestoreWorkers = workers
				rb := h.closeAtEnd(h.newBackend(h.t, cfg))
				h.must(rb.Restore(readers([][]byte{snap})))
				got := h.parallelTables(rb)
				h.checkTables(got.tables, f.subset(r))
				out = append(out, h.snapshot(rb))

				bad := h.closeAtEnd(h.newBackend(h.t, cfg))
				h.must(bad.Restore(readers([][]byte{snap})))
				// The codec hides its layout: a restore would refuse the
				// changed type before decoding anything otherwise.
				_, err := state.NewValue(bad, state.TableDesc[string, string, string]{Name: "kf", Key: strC, Namespace: strC, Value: opaque[string]{strC}})
				var fe *state.FormatError
				if !errors.As(err, &fe) {
					h.t.Fatalf("subtask %d of %d, %d workers: reading int64 values as strings: %v, want a *state.FormatError", i, p, workers, err)
				}
				decodeErrs = append(decodeErrs, fe)
			}
			if !bytes.Equal(out[0], out[1]) {
				h.t.Errorf("subtask %d of %d: restored with 1 and with 4 workers, the state differs (%d and %d bytes)", i, p, len(out[0]), len(out[1]))
			}
			if p == 1 && !bytes.Equal(out[1], snap) {
				h.t.Errorf("restored at the same parallelism with 4 workers, the snapshot differs from the one restored")
			}
			if a, b := decodeErrs[0], decodeErrs[1]; a.KeyGroup != b.KeyGroup || a.Offset != b.Offset || a.KeyGroup != firstKG(ks, r) {
				h.t.Errorf("subtask %d of %d: a codec that cannot read the state fails at key group %d byte %d with 1 worker, %d byte %d with 4; want key group %d, the first with entries",
					i, p, a.KeyGroup, a.Offset, b.KeyGroup, b.Offset, firstKG(ks, r))
			}
		}
	}
}

// firstKG is the lowest key group in r of any of ks.
func firstKG(ks []string, r state.KeyGroupRange) int {
	first := r.End
	for _, k := range ks {
		if kg := kgOf(k); r.Contains(kg) && kg < first {
			first = kg
		}
	}
	return first
}

// opSnapshots writes one snapshot per old subtask of p, old subtask i
// holding sizes[i] entries in operator list "split" and its own entries
// in "bcast".
func (h *harness) opSnapshots(sizes []int) ([][]byte, []string) {
	var snaps [][]byte
	var all []string
	for i, n := range sizes {
		b := h.backend(i, len(sizes))
		var es []string
		for j := range n {
			es = append(es, fmt.Sprintf("s%d-e%d", i, j))
		}
		all = append(all, es...)
		h.must(h.opList(b, "split", state.Split).Update(es))
		h.must(h.opList(b, "bcast", state.Broadcast).Update([]string{fmt.Sprint("rules of ", i)}))
		snaps = append(snaps, h.snapshot(b))
	}
	return snaps, all
}

func testOperatorListSplit(h *harness) {
	for _, tc := range []struct {
		sizes []int
		p     int
	}{
		{[]int{3, 2}, 3},
		{[]int{2, 0, 4}, 1},
		{[]int{1, 1}, 2},
		{[]int{0, 5, 0}, 2},
	} {
		snaps, entries := h.opSnapshots(tc.sizes)
		var got []string
		for i := range tc.p {
			r := h.restored(i, tc.p, snaps...)
			es, err := h.opList(r, "split", state.Split).Get()
			h.must(err)
			var want []string
			for j, e := range entries {
				if j%tc.p == i {
					want = append(want, e)
				}
			}
			h.wantEqual(fmt.Sprintf("%v to %d: subtask %d", tc.sizes, tc.p, i), es, want)
			got = append(got, es...)
		}
		slices.Sort(got)
		slices.Sort(entries)
		h.wantEqual(fmt.Sprintf("%v to %d: all entries", tc.sizes, tc.p), got, entries)
	}
}

func testOperatorListBroadcast(h *harness) {
	snaps, _ := h.opSnapshots([]int{1, 1})
	for i := range 3 {
		es, err := h.opList(h.restored(i, 3, snaps...), "bcast", state.Broadcast).Get()
		h.must(err)
		h.wantEqual(fmt.Sprintf("subtask %d of 3", i), es, []string{"rules of 0"})
	}
	// Operator state cannot be redistributed from some old subtasks only.
	if err := h.backend(0, 1).Restore(readers(snaps[1:])); err == nil {
		h.t.Error("Restore of operator lists from 1 of 2 old subtasks: no error")
	}
	if err := h.backend(0, 1).Restore(readers([][]byte{snaps[1], snaps[0]})); err == nil {
		h.t.Error("Restore from old subtasks out of order: no error")
	}
}

func testRestoreTorn(h *harness) {
	b := h.backend(0, 1)
	_, f := h.fill(b, keysIn(all, 8))
	h.must(h.opList(b, "o", state.Split).Update([]string{"x"}))
	snap := h.snapshot(b)
	bad := func(what string, data []byte) {
		h.t.Helper()
		r := h.backend(0, 1)
		err := r.Restore(readers([][]byte{data}))
		var fe *state.FormatError
		if !errors.As(err, &fe) {
			h.t.Fatalf("%s: Restore = %v, want a *state.FormatError", what, err)
		}
		// A failed Restore keeps nothing: the backend can still restore.
		h.must(r.Restore(readers([][]byte{snap})))
		h.check(r, f)
	}
	step := max(1, len(snap)/150)
	for n := 0; n < len(snap); n += step {
		bad(fmt.Sprintf("cut at %d of %d bytes", n, len(snap)), snap[:n])
	}
	bad("cut before the checksum", snap[:len(snap)-4])
	bad("checksum cut", snap[:len(snap)-1])
	for _, i := range []int{20, len(snap) / 2, len(snap) - 10} {
		flipped := slices.Clone(snap)
		flipped[i] ^= 0x40
		bad(fmt.Sprintf("byte %d flipped", i), flipped)
	}
	bad("trailing garbage", append(slices.Clone(snap), 0))
	bad("not a snapshot", []byte("hello, this is not a snapshot at all"))
}

func testRestoreKindMismatch(h *harness) {
	b := h.backend(0, 1)
	h.must(h.value(b, "t", 0).Put(kgOf("k"), "k", "", 7))
	h.must(h.opList(b, "o", state.Split).Update([]string{"x"}))
	r := h.restored(0, 1, h.snapshot(b))
	_, err := state.NewList(r, listDesc("t", 0))
	if err == nil || !strings.Contains(err.Error(), `"t"`) {
		h.t.Fatalf("NewList over a restored value table: %v, want an error naming the table", err)
	}
	_, err = state.NewValue(r, valueDesc("o", 0))
	if err == nil || !strings.Contains(err.Error(), `"o"`) {
		h.t.Fatalf("NewValue over a restored operator list: %v, want an error naming the table", err)
	}
	// The mistake does not lose the state.
	h.wantGet(h.value(r, "t", 0), "k", "", 7, true)
}

func testCarryUnregistered(h *harness) {
	b := h.backend(0, 1)
	ks := keysIn(all, 40)
	_, f := h.fill(b, ks)
	h.must(h.opList(b, "o", state.Split).Update([]string{"x", "y"}))
	h.must(h.value(b, "ttl", ttl).Put(kgOf("k"), "k", "", 1))

	// The job comes back with an operator that uses only "v" (for now).
	r := h.restored(0, 1, h.snapshot(b))
	v := h.value(r, "v", 0)
	h.must(v.Put(kgOf(ks[0]), ks[0], "n1", -1))
	h.must(v.Put(kgOf("added"), "added", "n1", 42))
	f.values["n1"][ks[0]] = -1
	f.values["n1"]["added"] = 42
	h.clock.Advance(ttl / 2)

	// A later version uses everything again.
	r2 := h.restored(0, 1, h.snapshot(r))
	h.check(r2, f)
	es, err := h.opList(r2, "o", state.Split).Get()
	h.must(err)
	h.wantEqual("carried operator list", es, []string{"x", "y"})
	// Carried entries keep their last-write time.
	tv := h.value(r2, "ttl", ttl)
	h.wantGet(tv, "k", "", 1, true)
	h.clock.Advance(ttl / 2)
	h.wantGet(tv, "k", "", 0, false)
}

func testRestoreMismatch(h *harness) {
	b := h.backend(0, 1)
	h.fill(b, keysIn(all, 5))
	snap := h.snapshot(b)
	for _, tc := range []struct {
		what string
		cfg  state.Config
		want string
	}{
		{"max parallelism", state.Config{OperatorID: operatorID, KeyGroups: state.KeyGroupRange{Start: 0, End: 64}, MaxParallelism: 64, Parallelism: 1, Clock: h.clock.Now}, "max parallelism"},
		{"operator", state.Config{OperatorID: "another", KeyGroups: all, MaxParallelism: maxPar, Parallelism: 1, Clock: h.clock.Now}, "operator"},
	} {
		r := h.closeAtEnd(h.newBackend(h.t, tc.cfg))
		err := r.Restore(readers([][]byte{snap}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			h.t.Errorf("Restore with another %s: %v", tc.what, err)
		}
	}
}

func testRestoreAfterCreate(h *harness) {
	b := h.backend(0, 1)
	snap := h.snapshot(b)
	h.value(b, "v", 0)
	if err := b.Restore(readers([][]byte{snap})); err == nil {
		h.t.Error("Restore after a table was created: no error")
	}
}

// testListAppend: Append is Add reporting the list's length.
func testListAppend(h *harness) {
	b := h.backend(0, 1)
	l := h.list(b, "l", 0)
	kg := kgOf("k")
	for want := 1; want <= 3; want++ {
		n, err := l.Append(kg, "k", "n", fmt.Sprint(want))
		h.must(err)
		if n != want {
			h.t.Fatalf("Append #%d returned length %d", want, n)
		}
	}
	if n, err := l.Append(kg, "k", "other", "x"); err != nil || n != 1 {
		h.t.Fatalf("Append to another namespace = %d, %v; want 1", n, err)
	}
	h.wantEqual("list", h.dumpList(l, "n"), map[string][]string{"k": {"1", "2", "3"}})
}

func (h *harness) namespaced(b state.Backend, name string) state.Namespaced[string, string, int64] {
	h.t.Helper()
	ctor := h.newNamespaced
	if ctor == nil {
		ctor = state.NewNamespaced[string, string, int64]
	}
	t, err := ctor(b, valueDesc(name, 0))
	if err != nil {
		h.t.Fatalf("NewNamespaced(%q): %v", name, err)
	}
	return t
}

// inOrder returns entries ("key=value"), listed in arrival order, in the
// order the backend declares.
func (h *harness) inOrder(arrival ...string) []string {
	out := slices.Clone(arrival)
	if h.caps.EntryOrder == KeyOrder {
		slices.SortStableFunc(out, func(a, b string) int {
			ka, _, _ := strings.Cut(a, "=")
			kb, _, _ := strings.Cut(b, "=")
			return bytes.Compare(strC.Append(nil, ka), strC.Append(nil, kb))
		})
	}
	return out
}

// entries lists namespace ns of key group kg in the order Entries yields.
func entries(t state.Namespaced[string, string, int64], kg int, ns string) []string {
	var out []string
	for k, v := range t.Entries(kg, ns) {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	return out
}

// testNamespaced: Slot, Get, Put, Has, Entries, Update and Drop of a
// namespace-first table, namespaces apart and key groups apart.
func testNamespaced(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	a1, a2, o := sameGroup()
	kg := kgOf(a1)
	p, created, fresh, err := t.Slot(kg, a1, "n1")
	h.must(err)
	if !created || !fresh || *p != 0 {
		h.t.Fatalf("first Slot = %d, created %v, fresh %v; want 0, true, true", *p, created, fresh)
	}
	*p = 5
	p, created, fresh, err = t.Slot(kg, a2, "n1")
	h.must(err)
	if !created || fresh {
		h.t.Fatalf("Slot of a second key: created %v, fresh %v; want true, false", created, fresh)
	}
	*p = 7
	p, created, fresh, err = t.Slot(kg, a1, "n1")
	h.must(err)
	if created || fresh || *p != 5 {
		h.t.Fatalf("Slot of an existing key = %d, created %v, fresh %v; want 5, false, false", *p, created, fresh)
	}
	*p += 1
	h.must(t.Put(kgOf(o), o, "n1", 9))
	h.must(t.Put(kg, a1, "n2", 1))
	if _, _, fresh, _ := t.Slot(kgOf(o), o, "n2"); !fresh {
		h.t.Fatal("a namespace new in a key group is not fresh")
	}
	if x, ok, err := t.Get(kg, a1, "n1"); err != nil || !ok || x != 6 {
		h.t.Fatalf("Get = %d, %v, %v; want 6", x, ok, err)
	}
	if _, ok, _ := t.Get(kg, o, "n1"); ok {
		h.t.Fatal("Get found a key of another key group")
	}
	if !t.Has(kg, "n1") || t.Has(kg, "n3") {
		h.t.Fatal("Has is wrong")
	}
	h.wantEqual("entries in "+h.caps.EntryOrder.String(), entries(t, kg, "n1"), h.inOrder(a1+"=6", a2+"=7"))
	h.must(t.Update(kg, "n1", func(k string, v *int64) error { *v *= 10; return nil }))
	h.wantEqual("entries after Update", entries(t, kg, "n1"), h.inOrder(a1+"=60", a2+"=70"))
	stop := errors.New("stop")
	calls := 0
	if err := t.Update(kg, "n1", func(string, *int64) error { calls++; return stop }); err != stop || calls != 1 {
		h.t.Fatalf("Update did not stop at the first error: %v after %d calls", err, calls)
	}
	if t.Len() != 5 {
		h.t.Fatalf("Len = %d; want 5", t.Len())
	}
	h.wantEqual("Keys", slices.Sorted(t.Keys("n1")), slices.Sorted(slices.Values([]string{a1, a2, o})))
	h.must(t.Drop(kg, "n1"))
	if t.Has(kg, "n1") || !t.Has(kgOf(o), "n1") {
		h.t.Fatal("Drop dropped the wrong namespaces")
	}
	h.must(t.Drop(kg, "n1")) // dropping nothing is fine
	h.must(t.Drain(kg, "n1", func(string, int64) error { h.t.Fatal("drained a dropped namespace"); return nil }))
	if _, _, fresh, _ := t.Slot(kg, a2, "n1"); !fresh {
		h.t.Fatal("a namespace dropped and written again is not fresh")
	}
	h.wantEqual("entries after Drop", entries(t, kg, "n1"), []string{a2 + "=0"})
	if _, _, _, err := t.Slot(maxPar, "x", "n"); err == nil {
		h.t.Fatal("Slot outside the key groups did not fail")
	}
	for _, ctor := range []func(state.Backend, state.TableDesc[string, string, int64]) (state.Namespaced[string, string, int64], error){
		state.NewNamespaced[string, string, int64], state.NewKeyFirst[string, string, int64],
	} {
		if _, err := ctor(b, state.TableDesc[string, string, int64]{Name: "ttl", Key: strC, Namespace: strC, Value: i64C, TTL: time.Second}); err == nil {
			h.t.Fatal("a namespaced table with a TTL was created")
		}
	}
}

// testNamespacedDelete: Delete moves the last key into the deleted one's
// place and leaves what a snapshot holds as it was.
func testNamespacedDelete(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	byKG := map[int][]string{}
	var same []string
	for _, k := range keysIn(all, 4*maxPar) {
		byKG[kgOf(k)] = append(byKG[kgOf(k)], k)
		if len(byKG[kgOf(k)]) == 3 {
			same = byKG[kgOf(k)]
			break
		}
	}
	kg := kgOf(same[0])
	for i, k := range same[:3] {
		h.must(t.Put(kg, k, "n", int64(i)))
	}
	snap := h.snapshot(b)
	h.must(t.Delete(kg, same[0], "n"))
	h.must(t.Delete(kg, "absent", "n"))
	h.wantEqual("after Delete", entries(t, kg, "n"), h.inOrder(same[2]+"=2", same[1]+"=1"))
	h.must(t.Put(kg, same[0], "n", 9))
	h.wantEqual("after Put", entries(t, kg, "n"), h.inOrder(same[2]+"=2", same[1]+"=1", same[0]+"=9"))
	h.must(t.Delete(kg, same[0], "n"))
	h.must(t.Delete(kg, same[1], "n"))
	h.must(t.Delete(kg, same[2], "n"))
	if t.Has(kg, "n") || t.Len() != 0 {
		h.t.Fatal("deleting every key left the namespace")
	}
	r := h.namespaced(h.restored(0, 1, snap), "w")
	got := entries(r, kg, "n")
	want := []string{same[0] + "=0", same[1] + "=1", same[2] + "=2"}
	slices.Sort(got)
	slices.Sort(want)
	h.wantEqual("restored", got, want)
}

// testNamespacedSnapshot: writes after a snapshot — in place through Slot
// and Update, appending keys, dropping namespaces and reusing their
// entries — do not change what the snapshot holds.
func testNamespacedSnapshot(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	ks := keysIn(all, 60)
	want := map[string]map[string]int64{"n1": {}, "n2": {}}
	for i, k := range ks {
		h.must(t.Put(kgOf(k), k, "n1", int64(i)))
		want["n1"][k] = int64(i)
		if i%2 == 0 {
			h.must(t.Put(kgOf(k), k, "n2", int64(-i)))
			want["n2"][k] = int64(-i)
		}
	}
	s, err := b.Snapshot()
	h.must(err)
	for i, k := range ks {
		p, _, _, err := t.Slot(kgOf(k), k, "n1")
		h.must(err)
		*p = 1000 + int64(i)
		h.must(t.Put(kgOf(k), k+"-new", "n1", 1))
	}
	for _, k := range ks {
		h.must(t.Update(kgOf(k), "n2", func(_ string, v *int64) error { *v = 42; return nil }))
		h.must(t.Drop(kgOf(k), "n2"))
	}
	for _, k := range ks {
		h.must(t.Put(kgOf(k), k, "n2", 77)) // may reuse the dropped entries
	}
	second := h.snapshot(b)
	for _, k := range ks {
		h.must(t.Drop(kgOf(k), "n1"))
		h.must(t.Put(kgOf(k), k, "n3", 3))
	}
	first := h.write(s)
	for _, c := range []struct {
		snap []byte
		want map[string]map[string]int64
	}{{first, want}} {
		r := h.namespaced(h.restored(0, 1, c.snap), "w")
		for ns, kv := range c.want {
			got := map[string]int64{}
			for k := range r.Keys(ns) {
				x, _, _ := r.Get(kgOf(k), k, ns)
				got[k] = x
			}
			h.wantEqual("restored "+ns, got, kv)
		}
	}
	r := h.namespaced(h.restored(0, 1, second), "w")
	if n := r.Len(); n != 2*len(ks)+len(ks) {
		h.t.Fatalf("second snapshot holds %d entries; want %d", n, 3*len(ks))
	}
	for _, k := range ks {
		if x, _, _ := r.Get(kgOf(k), k, "n2"); x != 77 {
			h.t.Fatalf("second snapshot: %s n2 = %d; want 77", k, x)
		}
	}
}

// testNamespacedSharedFormat: a namespaced table writes the snapshots of a
// value table, so either restores into the other, at any parallelism.
func testNamespacedSharedFormat(h *harness) {
	ks := keysIn(all, 40)
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	for i, k := range ks {
		h.must(t.Put(kgOf(k), k, "n", int64(i)))
	}
	snap := h.snapshot(b)
	for i := range 2 {
		v := h.value(h.restored(i, 2, snap), "w", 0)
		r := keygroup.RangeFor(maxPar, 2, i)
		want := map[string]int64{}
		for j, k := range ks {
			if r.Contains(kgOf(k)) {
				want[k] = int64(j)
			}
		}
		h.wantEqual("value table restored from a namespaced one", h.dumpValue(v, "n"), want)
	}
	vb := h.backend(0, 1)
	v := h.value(vb, "w", 0)
	for i, k := range ks {
		h.must(v.Put(kgOf(k), k, "n", int64(-i)))
	}
	r := h.namespaced(h.restored(0, 1, h.snapshot(vb)), "w")
	for i, k := range ks {
		if x, ok, _ := r.Get(kgOf(k), k, "n"); !ok || x != int64(-i) {
			h.t.Fatalf("namespaced table restored from a value one: %s = %d, %v", k, x, ok)
		}
	}
}

// testOnSnapshot: the functions registered run at the start of every
// snapshot, so what they write is in it, and their error fails it.
func testOnSnapshot(h *harness) {
	b := h.backend(0, 1)
	v := h.value(b, "v", 0)
	kg := kgOf("k")
	n := int64(0)
	var fail error
	b.OnSnapshot(func() error {
		n++
		if fail != nil {
			return fail
		}
		return v.Put(kg, "k", "n", n)
	})
	h.snapshot(b)
	snap := h.snapshot(b)
	h.wantGet(h.value(h.restored(0, 1, snap), "v", 0), "k", "n", 2, true)
	fail = errors.New("flush failed")
	if _, err := b.Snapshot(); !errors.Is(err, fail) {
		h.t.Fatalf("Snapshot = %v; want the hook's error", err)
	}
}

// testNamespacedConcurrentWrite: every kind of write to a namespaced table
// while a snapshot of it is written out on another goroutine; the race
// detector checks that they share nothing the writer reads.
func testNamespacedConcurrentWrite(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	ks := keysIn(all, 300)
	want := map[string]int64{}
	for i, k := range ks {
		h.must(t.Put(kgOf(k), k, "n", int64(i)))
		h.must(t.Put(kgOf(k), k, "gone", 1))
		want[k] = int64(i)
	}
	s, err := b.Snapshot()
	h.must(err)
	var buf bytes.Buffer
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, werr = s.WriteTo(&buf)
	}()
	defer func() { <-done }()
	for round := range 3 {
		for i, k := range ks {
			kg := kgOf(k)
			p, _, _, err := t.Slot(kg, k, "n")
			h.must(err)
			*p = int64(-i - round)
			h.must(t.Put(kg, fmt.Sprintf("%s-%d", k, round), "n", 1))
			h.must(t.Update(kg, "n", func(_ string, v *int64) error { *v++; return nil }))
			h.must(t.Drop(kg, "gone"))
			h.must(t.Put(kg, k, "gone", 2))
			if i%3 == 0 {
				h.must(t.Delete(kg, k, "n"))
			}
		}
		if round == 1 {
			if _, err := b.Snapshot(); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	<-done
	if werr != nil {
		h.t.Fatalf("WriteTo: %v", werr)
	}
	r := h.namespaced(h.restored(0, 1, buf.Bytes()), "w")
	got := map[string]int64{}
	for k := range r.Keys("n") {
		x, _, _ := r.Get(kgOf(k), k, "n")
		got[k] = x
	}
	h.wantEqual("snapshot written during writes", got, want)
	if n := r.Len(); n != 2*len(ks) {
		h.t.Fatalf("the snapshot holds %d entries; want %d", n, 2*len(ks))
	}
}

// splitKey is the key of the split-key table tests: a string and a
// number, the table hashing the string.
type splitKey struct {
	K string
	T int64
}

func (h *harness) splitValue(b state.Backend, name string) state.Value[splitKey, string, int64] {
	h.t.Helper()
	v, err := state.NewSplitValue(b, state.TableDesc[splitKey, string, int64]{Name: name, Key: codec.MustFor[splitKey](), Namespace: strC, Value: i64C},
		func(k splitKey) (string, int64) { return k.K, k.T }, func(k string, t int64) splitKey { return splitKey{k, t} })
	if err != nil {
		h.t.Fatalf("NewSplitValue(%q): %v", name, err)
	}
	return v
}

// testSplitValue: a split-key table behaves as a value table — several
// entries per first part, namespaces apart, Keys, Len, Delete — and
// writes the same snapshots, restored at another parallelism.
func testSplitValue(h *harness) {
	b := h.backend(0, 1)
	v := h.splitValue(b, "s")
	ks := keysIn(all, 30)
	want := map[splitKey]int64{}
	for i, k := range ks {
		for t := range int64(i%4 + 1) {
			h.must(v.Put(kgOf(k), splitKey{k, t}, "n", int64(i)*10+t))
			want[splitKey{k, t}] = int64(i)*10 + t
		}
		h.must(v.Put(kgOf(k), splitKey{k, 0}, "other", -1))
	}
	h.must(v.Put(kgOf(ks[3]), splitKey{ks[3], 1}, "n", 99)) // overwrite
	want[splitKey{ks[3], 1}] = 99
	snap := h.snapshot(b)
	before := v.Len()
	for _, k := range ks {
		h.must(v.Delete(kgOf(k), splitKey{k, 0}, "n"))
		delete(want, splitKey{k, 0})
	}
	h.must(v.Delete(kgOf(ks[0]), splitKey{"absent", 0}, "n"))
	got := map[splitKey]int64{}
	for k := range v.Keys("n") {
		x, ok, err := v.Get(kgOf(k.K), k, "n")
		if err != nil || !ok {
			h.t.Fatalf("Get(%v) of a key Keys yielded: %v, %v", k, ok, err)
		}
		got[k] = x
	}
	h.wantEqual("entries", got, want)
	if n := v.Len(); n != len(want)+len(ks) {
		h.t.Fatalf("Len = %d; want %d", n, len(want)+len(ks))
	}
	// The snapshot, taken before the deletes, restores into a plain value
	// table at parallelism 2, and back.
	total := 0
	for i := range 2 {
		pv, err := state.NewValue(h.restored(i, 2, snap), state.TableDesc[splitKey, string, int64]{Name: "s", Key: codec.MustFor[splitKey](), Namespace: strC, Value: i64C})
		h.must(err)
		total += pv.Len()
		if x, ok, _ := pv.Get(kgOf(ks[3]), splitKey{ks[3], 1}, "n"); keygroup.RangeFor(maxPar, 2, i).Contains(kgOf(ks[3])) && (!ok || x != 99) {
			h.t.Fatalf("value table restored from a split-key one: %d, %v", x, ok)
		}
	}
	if total != before {
		h.t.Fatalf("restored %d entries; want %d", total, before)
	}
	r := h.splitValue(h.restored(0, 1, snap), "s")
	if x, ok, _ := r.Get(kgOf(ks[2]), splitKey{ks[2], 0}, "n"); !ok || x != 20 {
		h.t.Fatalf("restored split-key table: %d, %v; want 20", x, ok)
	}
}

// testSplitValueConcurrentWrite: writes to a split-key table while a
// snapshot of it is written out on another goroutine.
func testSplitValueConcurrentWrite(h *harness) {
	b := h.backend(0, 1)
	v := h.splitValue(b, "s")
	ks := keysIn(all, 300)
	for i, k := range ks {
		for t := range int64(3) {
			h.must(v.Put(kgOf(k), splitKey{k, t}, "n", int64(i)))
		}
	}
	s, err := b.Snapshot()
	h.must(err)
	var buf bytes.Buffer
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, werr = s.WriteTo(&buf)
	}()
	defer func() { <-done }()
	for round := range 3 {
		for _, k := range ks {
			kg := kgOf(k)
			h.must(v.Put(kg, splitKey{k, 1}, "n", -1))
			h.must(v.Delete(kg, splitKey{k, 0}, "n"))
			h.must(v.Put(kg, splitKey{k, int64(10 + round)}, "n", 5))
			h.must(v.Delete(kg, splitKey{k, 2}, "n"))
		}
		if round == 1 {
			if _, err := b.Snapshot(); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	<-done
	if werr != nil {
		h.t.Fatalf("WriteTo: %v", werr)
	}
	r := h.splitValue(h.restored(0, 1, buf.Bytes()), "s")
	if n := r.Len(); n != 3*len(ks) {
		h.t.Fatalf("the snapshot holds %d entries; want %d", n, 3*len(ks))
	}
	for i, k := range ks {
		if x, ok, _ := r.Get(kgOf(k), splitKey{k, 1}, "n"); !ok || x != int64(i) {
			h.t.Fatalf("%s: %d, %v; want %d", k, x, ok, i)
		}
	}
}

// testNamespacedManyPerKey: a key in more namespaces than a key-first
// entry holds in itself, written, deleted from and dropped in every order,
// and restored from a snapshot taken on the way.
func testNamespacedManyPerKey(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	ks := keysIn(all, 5)
	want := map[string]map[string]int64{}
	for n := range 9 {
		ns := fmt.Sprint("n", n)
		want[ns] = map[string]int64{}
		for i, k := range ks {
			h.must(t.Put(kgOf(k), k, ns, int64(10*n+i)))
			want[ns][k] = int64(10*n + i)
		}
	}
	snap := h.snapshot(b)
	// Delete from the middle and the end, drop some, write again.
	for _, k := range ks {
		h.must(t.Delete(kgOf(k), k, "n3"))
		h.must(t.Delete(kgOf(k), k, "n8"))
		h.must(t.Drop(kgOf(k), "n0"))
		p, _, _, err := t.Slot(kgOf(k), k, "n5")
		h.must(err)
		*p = -5
	}
	for _, k := range ks {
		for n := range 9 {
			ns := fmt.Sprint("n", n)
			x, ok, err := t.Get(kgOf(k), k, ns)
			h.must(err)
			switch ns {
			case "n0", "n3", "n8":
				if ok {
					h.t.Fatalf("%s %s still there", k, ns)
				}
			case "n5":
				if !ok || x != -5 {
					h.t.Fatalf("%s n5 = %d, %v; want -5", k, x, ok)
				}
			default:
				if !ok || x != want[ns][k] {
					h.t.Fatalf("%s %s = %d, %v; want %d", k, ns, x, ok, want[ns][k])
				}
			}
		}
	}
	if n := t.Len(); n != 6*len(ks) {
		h.t.Fatalf("Len = %d; want %d", n, 6*len(ks))
	}
	r := h.namespaced(h.restored(0, 1, snap), "w")
	for ns, kv := range want {
		for k, v := range kv {
			if x, ok, _ := r.Get(kgOf(k), k, ns); !ok || x != v {
				h.t.Fatalf("restored %s %s = %d, %v; want %d", k, ns, x, ok, v)
			}
		}
		if !r.Has(kgOf(ks[0]), ns) {
			h.t.Fatalf("restored table has no namespace %s", ns)
		}
	}
	for _, k := range ks {
		for n := range 9 {
			h.must(r.Drop(kgOf(k), fmt.Sprint("n", n)))
		}
	}
	if r.Len() != 0 {
		h.t.Fatalf("Len after dropping everything = %d", r.Len())
	}
}

// testNamespacedDrain: Drain yields a namespace's entries in order and
// removes them, and stops at an error having removed those it yielded.
func testNamespacedDrain(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	byKG := map[int][]string{}
	var same []string
	for _, k := range keysIn(all, 6*maxPar) {
		byKG[kgOf(k)] = append(byKG[kgOf(k)], k)
		if len(byKG[kgOf(k)]) == 4 {
			same = byKG[kgOf(k)]
			break
		}
	}
	kg := kgOf(same[0])
	for i, k := range same {
		h.must(t.Put(kg, k, "n", int64(i)))
		h.must(t.Put(kg, k, "other", int64(i)))
	}
	snap := h.snapshot(b)
	var got []string
	stop := errors.New("stop")
	err := t.Drain(kg, "n", func(k string, v int64) error {
		got = append(got, fmt.Sprintf("%s=%d", k, v))
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		h.t.Fatalf("Drain = %v; want the function's error", err)
	}
	order := h.inOrder(same[0]+"=0", same[1]+"=1", same[2]+"=2", same[3]+"=3")
	h.wantEqual("drained", got, order[:2])
	rest := entries(t, kg, "n")
	slices.Sort(rest)
	want := slices.Clone(order[2:])
	slices.Sort(want)
	h.wantEqual("left after the error", rest, want)
	got = nil
	h.must(t.Drain(kg, "n", func(k string, v int64) error { got = append(got, k); return nil }))
	if len(got) != 2 || t.Has(kg, "n") {
		h.t.Fatalf("second Drain yielded %v and left the namespace: %v", got, t.Has(kg, "n"))
	}
	if n := t.Len(); n != len(same) {
		h.t.Fatalf("Len = %d; want %d (the other namespace)", n, len(same))
	}
	r := h.namespaced(h.restored(0, 1, snap), "w")
	if n := r.Len(); n != 2*len(same) {
		h.t.Fatalf("the snapshot taken before holds %d entries; want %d", n, 2*len(same))
	}
}

// testNamespacedSlotThenSnapshot: a value written through Slot's pointer
// and not followed by any other call on the table is in the next snapshot.
func testNamespacedSlotThenSnapshot(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	kg := kgOf("k")
	p, _, _, err := t.Slot(kg, "k", "n")
	h.must(err)
	*p = 42
	snap := h.snapshot(b)
	r := h.namespaced(h.restored(0, 1, snap), "w")
	if x, ok, err := r.Get(kg, "k", "n"); err != nil || !ok || x != 42 {
		h.t.Fatalf("restored value written through Slot = %d, %v, %v; want 42", x, ok, err)
	}
}

// opaque hides the layout of the codec it wraps (see codec.LayoutOf), so
// that a restore decodes with it rather than comparing layouts first.
type opaque[T any] struct{ codec.Codec[T] }
