package statetest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/weirstream/weir/internal/state"
)

// release releases s when its backend's snapshots can be released, twice,
// as Release must be idempotent.
func release(s state.Snapshot) {
	if r, ok := s.(interface{ Release() }); ok {
		r.Release()
		r.Release()
	}
}

// clone returns a deep copy of f.
func (f fixture) clone() fixture {
	out := newFixture()
	for _, ns := range namespaces {
		maps.Copy(out.values[ns], f.values[ns])
		for k, l := range f.lists[ns] {
			out.lists[ns][k] = slices.Clone(l)
		}
		for k, um := range f.maps[ns] {
			out.maps[ns][k] = maps.Clone(um)
		}
	}
	return out
}

// checkGets reads every key of ks and the new keys of rounds up to 20
// through Get, so that an entry deleted while a snapshot is held is seen
// to be gone, not only left out of Keys.
func (h *harness) checkGets(tb tables, f fixture, ks []string) {
	h.t.Helper()
	all := slices.Clone(ks)
	for round := range 20 {
		for j := range 5 {
			all = append(all, fmt.Sprintf("new-%d-%d", round, j))
		}
	}
	for _, ns := range namespaces {
		for _, k := range all {
			kg := kgOf(k)
			want, ok := f.values[ns][k]
			h.wantGet(tb.v, k, ns, want, ok)
			l, err := tb.l.Get(kg, k, ns)
			h.must(err)
			h.wantEqual(fmt.Sprintf("list Get(%q, %q)", k, ns), l, f.lists[ns][k])
			um := maps.Collect(tb.m.All(kg, k, ns))
			if len(um) == 0 {
				um = nil
			}
			h.wantEqual(fmt.Sprintf("map All(%q, %q)", k, ns), um, f.maps[ns][k])
			for uk, want := range f.maps[ns][k] {
				got, ok, err := tb.m.Get(kg, k, ns, uk)
				if err != nil || !ok || got != want {
					h.t.Fatalf("map Get(%q, %q, %q) = %d, %v, %v; want %d", k, ns, uk, got, ok, err, want)
				}
			}
			if _, ok, _ := tb.m.Get(kg, k, ns, "u0"); ok != hasKey(f.maps[ns][k], "u0") {
				h.t.Fatalf("map Get(%q, %q, u0) found = %v", k, ns, ok)
			}
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// mutate writes over much of the fixture's state in round — puts,
// deletes, appends past what a snapshot holds, replaced lists, nested-map
// writes, deletes and clears, new keys — and returns what the tables then
// hold.
func (h *harness) mutate(tb tables, f fixture, ks []string, round int) fixture {
	h.t.Helper()
	want := f.clone()
	for i, k := range ks {
		kg := kgOf(k)
		switch (i + round) % 4 {
		case 0:
			h.must(tb.v.Put(kg, k, "n1", int64(round*1000+i)))
			want.values["n1"][k] = int64(round*1000 + i)
			e := fmt.Sprintf("r%d", round)
			h.must(tb.l.Add(kg, k, "n1", e))
			want.lists["n1"][k] = append(want.lists["n1"][k], e)
			h.must(tb.m.Put(kg, k, "n1", "u0", int64(-round)))
			if want.maps["n1"][k] == nil {
				want.maps["n1"][k] = map[string]int64{}
			}
			want.maps["n1"][k]["u0"] = int64(-round)
		case 1:
			h.must(tb.v.Delete(kg, k, "n1"))
			delete(want.values["n1"], k)
			h.must(tb.l.Delete(kg, k, "n2"))
			delete(want.lists["n2"], k)
			h.must(tb.m.Delete(kg, k, "n1", "u0"))
			if um := want.maps["n1"][k]; um != nil {
				delete(um, "u0")
				if len(um) == 0 {
					delete(want.maps["n1"], k)
				}
			}
		case 2:
			l := []string{fmt.Sprintf("replaced-%d", round)}
			h.must(tb.l.Update(kg, k, "n1", l))
			want.lists["n1"][k] = l
			h.must(tb.m.Clear(kg, k, "n2"))
			delete(want.maps["n2"], k)
			h.must(tb.v.Put(kg, k, "n2", int64(-i)))
			want.values["n2"][k] = int64(-i)
		}
	}
	for j := range 5 {
		k := fmt.Sprintf("new-%d-%d", round, j)
		kg := kgOf(k)
		h.must(tb.v.Put(kg, k, "n2", int64(j)))
		want.values["n2"][k] = int64(j)
		h.must(tb.l.Add(kg, k, "n2", "x"))
		want.lists["n2"][k] = []string{"x"}
		h.must(tb.m.Put(kg, k, "n2", "u", int64(j)))
		want.maps["n2"][k] = map[string]int64{"u": int64(j)}
	}
	return want
}

// testSnapshotRelease: state read, written, deleted and expired while
// snapshots are held — one, two at once, then none — and snapshots written
// after many such writes, each equal to the state when it was taken.
func testSnapshotRelease(h *harness) {
	b := h.backend(0, 1)
	ks := keysIn(all, 300)
	tb, f0 := h.fill(b, ks)
	tv, tl, tm := h.value(b, "tv", ttl), h.list(b, "tl", ttl), h.mapTable(b, "tm", ttl)
	for i, k := range ks {
		if i == len(ks)/2 {
			h.clock.Advance(ttl / 2)
		}
		h.must(tv.Put(kgOf(k), k, "", int64(i)))
		h.must(tl.Add(kgOf(k), k, "", fmt.Sprint(i)))
		h.must(tm.Put(kgOf(k), k, "", "u", int64(i)))
	}
	allTTL := map[string]int64{}
	for i, k := range ks {
		allTTL[k] = int64(i)
	}
	laterTTL := map[string]int64{}
	for i, k := range ks[len(ks)/2:] {
		laterTTL[k] = int64(len(ks)/2 + i)
	}
	asList := func(m map[string]int64) map[string][]string {
		out := map[string][]string{}
		for k, i := range m {
			out[k] = []string{fmt.Sprint(i)}
		}
		return out
	}
	asMap := func(m map[string]int64) map[string]map[string]int64 {
		out := map[string]map[string]int64{}
		for k, i := range m {
			out[k] = map[string]int64{"u": i}
		}
		return out
	}

	s1, err := b.Snapshot()
	h.must(err)
	f1 := h.mutate(tb, f0, ks, 1)
	h.checkTables(tb, f1) // reads see the writes made since the snapshot
	h.checkGets(tb, f1, ks)
	// The first half of tv expires; the sweep removes it while s1 holds it.
	h.clock.Advance(ttl / 2)
	h.wantGet(tv, ks[0], "", 0, false)
	if l, err := tl.Get(kgOf(ks[0]), ks[0], ""); err != nil || len(l) != 0 {
		h.t.Fatalf("expired list Get = %v, %v", l, err)
	}
	if _, ok, err := tm.Get(kgOf(ks[0]), ks[0], "", "u"); err != nil || ok {
		h.t.Fatalf("expired map Get = %v, %v", ok, err)
	}
	h.wantEqual("tv after expiry", h.dumpValue(tv, ""), laterTTL)
	h.wantEqual("tl after expiry", h.dumpList(tl, ""), asList(laterTTL))
	h.wantEqual("tm after expiry", h.dumpMap(tm, ""), asMap(laterTTL))
	removed := 0
	for range 10 * maxPar {
		removed += b.ExpireSome(50)
	}
	// The three reads of expired entries above may have removed them.
	if want := 3 * len(ks) / 2; removed < want-3 || removed > want {
		h.t.Fatalf("ExpireSome removed %d entries while a snapshot is held; want %d, less up to 3 that reads removed", removed, want)
	}
	h.wantEqual("tv Len after expiry", tv.Len(), len(laterTTL))
	h.wantEqual("tl Len after expiry", tl.Len(), len(laterTTL))
	h.wantEqual("tm Len after expiry", tm.Len(), len(laterTTL))
	h.wantEqual("tm after the sweep", h.dumpMap(tm, ""), asMap(laterTTL))

	// A second snapshot before the first is released.
	s2, err := b.Snapshot()
	h.must(err)
	f2 := h.mutate(tb, f1, ks, 2)
	h.checkTables(tb, f2)
	h.checkGets(tb, f2, ks)

	checkSnap := func(what string, snap []byte, f fixture, ttlWant map[string]int64) {
		h.t.Helper()
		r := h.restored(0, 1, snap)
		h.check(r, f)
		// Restore drops what expired while the job was down, so compare
		// with the clock as it was when the snapshot was taken: the tables
		// are read through a restored backend without TTL.
		h.wantEqual(what+": tv", h.dumpValue(h.value(r, "tv", 0), ""), ttlWant)
		h.wantEqual(what+": tl", h.dumpList(h.list(r, "tl", 0), ""), asList(ttlWant))
		h.wantEqual(what+": tm", h.dumpMap(h.mapTable(r, "tm", 0), ""), asMap(ttlWant))
	}
	checkSnap("first snapshot, written after two rounds of writes", h.write(s1), f0, allTTL)
	checkSnap("second snapshot", h.write(s2), f1, laterTTL)

	// Release both (the first twice, and in the order they were taken),
	// then write on: the state and a third snapshot hold every write.
	release(s1)
	f3 := h.mutate(tb, f2, ks, 3)
	h.checkTables(tb, f3)
	h.checkGets(tb, f3, ks)
	release(s2)
	f4 := h.mutate(tb, f3, ks, 4)
	h.checkTables(tb, f4)
	s3, err := b.Snapshot()
	h.must(err)
	f5 := h.mutate(tb, f4, ks, 5)
	third := h.write(s3)
	release(s3)
	f6 := h.mutate(tb, f5, ks, 6)
	h.checkTables(tb, f6)
	h.checkGets(tb, f6, ks)
	checkSnap("third snapshot", third, f4, laterTTL)
	checkSnap("a snapshot after all were released", h.snapshot(b), f6, laterTTL)
}

// testSnapshotReleaseOutOfOrder: a snapshot released while an older one is
// still held keeps the older one intact, and the other way round.
func testSnapshotReleaseOutOfOrder(h *harness) {
	b := h.backend(0, 1)
	ks := keysIn(all, 100)
	tb, f0 := h.fill(b, ks)
	s1, err := b.Snapshot()
	h.must(err)
	f1 := h.mutate(tb, f0, ks, 1)
	s2, err := b.Snapshot()
	h.must(err)
	release(s2) // the newer one first
	f2 := h.mutate(tb, f1, ks, 2)
	s3, err := b.Snapshot()
	h.must(err)
	f3 := h.mutate(tb, f2, ks, 3)
	h.check(h.restored(0, 1, h.write(s1)), f0)
	release(s1)
	f4 := h.mutate(tb, f3, ks, 4)
	h.check(h.restored(0, 1, h.write(s3)), f2)
	release(s3)
	h.checkTables(tb, f4)
	h.check(h.restored(0, 1, h.snapshot(b)), f4)
}

// testSnapshotReleaseConcurrent: the snapshot is written and released on
// another goroutine while the task keeps writing, as the runtime does; the
// race detector checks the hand-over.
func testSnapshotReleaseConcurrent(h *harness) {
	b := h.backend(0, 1)
	ks := keysIn(all, 400)
	tb, f0 := h.fill(b, ks)
	for round := 1; round <= 3; round++ {
		s, err := b.Snapshot()
		h.must(err)
		var buf bytes.Buffer
		var werr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, werr = s.WriteTo(&buf)
			release(s)
		}()
		f1 := h.mutate(tb, f0, ks, round)
		// More writes to the same keys while the release may land.
		f2 := h.mutate(tb, f1, ks, round+10)
		<-done
		if werr != nil {
			h.t.Fatalf("WriteTo: %v", werr)
		}
		h.check(h.restored(0, 1, buf.Bytes()), f0)
		h.checkTables(tb, f2)
		f0 = f2
	}
}

// testNamespacedRelease: a namespaced table's slots, new keys, deletes,
// drops and drains while a snapshot is held, while two are, and after they
// are released; each snapshot holds the state when it was taken.
func testNamespacedRelease(h *harness) {
	b := h.backend(0, 1)
	t := h.namespaced(b, "w")
	ks := keysIn(all, 200)
	want := map[string]int64{}
	for i, k := range ks {
		h.must(t.Put(kgOf(k), k, "n1", int64(i)))
		h.must(t.Put(kgOf(k), k, "n2", int64(i)))
		want[k+"/n1"], want[k+"/n2"] = int64(i), int64(i)
	}
	dump := func(t state.Namespaced[string, string, int64]) map[string]int64 {
		got := map[string]int64{}
		for _, ns := range []string{"n1", "n2", "n3"} {
			for k := range t.Keys(ns) {
				x, ok, err := t.Get(kgOf(k), k, ns)
				if err != nil || !ok {
					h.t.Fatalf("Get(%q, %q) of a key Keys yielded = %v, %v", k, ns, ok, err)
				}
				got[k+"/"+ns] = x
			}
			for i := range t.Len() + 1 {
				for k, v := range t.Entries(i%maxPar, ns) {
					if got[k+"/"+ns] != v {
						h.t.Fatalf("Entries(%d, %q) yielded %s = %d; Get gave %d", i%maxPar, ns, k, v, got[k+"/"+ns])
					}
				}
			}
		}
		return got
	}
	change := func(round int, want map[string]int64) map[string]int64 {
		want = maps.Clone(want)
		for i, k := range ks {
			kg := kgOf(k)
			switch (i + round) % 3 {
			case 0:
				p, _, _, err := t.Slot(kg, k, "n1")
				h.must(err)
				*p += 1000
				want[k+"/n1"] += 1000
			case 1:
				h.must(t.Delete(kg, k, "n1"))
				delete(want, k+"/n1")
			case 2:
				nk := fmt.Sprintf("%s-r%d", k, round)
				h.must(t.Put(kgOf(nk), nk, "n1", int64(round)))
				want[nk+"/n1"] = int64(round)
			}
			h.must(t.Put(kg, k, "n3", int64(round)))
			want[k+"/n3"] = int64(round)
		}
		for i, k := range ks {
			if i%5 == round%5 {
				// Write the namespace, drain it, and start it again, which
				// may reuse what the drained one used.
				kg := kgOf(k)
				if _, ok := want[k+"/n2"]; ok {
					p, _, _, err := t.Slot(kg, k, "n2")
					h.must(err)
					*p++
				}
				h.must(t.Drain(kg, "n2", func(dk string, _ int64) error {
					delete(want, dk+"/n2")
					return nil
				}))
				h.must(t.Put(kg, k, "n2", int64(-round-1)))
				want[k+"/n2"] = int64(-round - 1)
			}
		}
		return want
	}
	s1, err := b.Snapshot()
	h.must(err)
	w1 := change(1, want)
	h.wantEqual("namespaced table while a snapshot is held", dump(t), w1)
	s2, err := b.Snapshot() // before s1 is released
	h.must(err)
	w2 := change(2, w1)
	h.wantEqual("namespaced table while two snapshots are held", dump(t), w2)
	h.wantEqual("first snapshot", dump(h.namespaced(h.restored(0, 1, h.write(s1)), "w")), want)
	h.wantEqual("second snapshot, taken while the first was held", dump(h.namespaced(h.restored(0, 1, h.write(s2)), "w")), w1)
	release(s1)
	release(s2)
	w3 := change(3, w2)
	h.wantEqual("namespaced table after release", dump(t), w3)
	h.wantEqual("namespaced Len after release", t.Len(), len(w3))
	h.wantEqual("snapshot after release", dump(h.namespaced(h.restored(0, 1, h.snapshot(b)), "w")), w3)
}

// testSplitValueRelease: a split-key table (the timers' table) written
// while a snapshot is held: values of one map key overwritten, deleted and
// added one at a time.
func testSplitValueRelease(h *harness) {
	b := h.backend(0, 1)
	t := h.splitValue(b, "s")
	ks := keysIn(all, 100)
	want := map[splitKey]int64{}
	for i, k := range ks {
		for j := range int64(3) {
			h.must(t.Put(kgOf(k), splitKey{k, j}, "n", int64(i)*10+j))
			want[splitKey{k, j}] = int64(i)*10 + j
		}
	}
	dump := func(t state.Value[splitKey, string, int64]) map[splitKey]int64 {
		got := map[splitKey]int64{}
		for sk := range t.Keys("n") {
			x, ok, err := t.Get(kgOf(sk.K), sk, "n")
			if err != nil || !ok {
				h.t.Fatalf("Get(%v) of a key Keys yielded = %v, %v", sk, ok, err)
			}
			got[sk] = x
		}
		return got
	}
	s, err := b.Snapshot()
	h.must(err)
	w1 := maps.Clone(want)
	for i, k := range ks {
		sk := splitKey{k, int64(i % 3)}
		if i%2 == 0 {
			h.must(t.Put(kgOf(k), sk, "n", -1))
			w1[sk] = -1
		} else {
			h.must(t.Delete(kgOf(k), sk, "n"))
			delete(w1, sk)
		}
	}
	h.wantEqual("split table while a snapshot is held", dump(t), w1)
	h.wantEqual("split Len while a snapshot is held", t.Len(), len(w1))
	snap := h.write(s)
	release(s)
	w2 := maps.Clone(w1)
	for _, k := range ks {
		h.must(t.Put(kgOf(k), splitKey{k, 9}, "n", 9))
		w2[splitKey{k, 9}] = 9
		h.must(t.Put(kgOf(k), splitKey{k, 1}, "n", 11))
		w2[splitKey{k, 1}] = 11
	}
	h.wantEqual("split table after release", dump(t), w2)
	h.wantEqual("snapshot written before release", dump(h.splitValue(h.restored(0, 1, snap), "s")), want)
	h.wantEqual("snapshot after release", dump(h.splitValue(h.restored(0, 1, h.snapshot(b)), "s")), w2)
}
