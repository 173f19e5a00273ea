package pebble_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/pebble"
	"github.com/weirstream/weir/internal/state/statetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	newBackend := pebble.NewBackend(pebble.Options{Dir: dir, Memory: pebble.MinMemory})
	statetest.Run(t, func(t *testing.T, cfg state.Config) state.Backend {
		b, err := newBackend(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, statetest.Capabilities{EntryOrder: statetest.KeyOrder, StoreTimers: true})
	// Every backend the suite closed removed its working directory, some
	// once the snapshots the suite never released were garbage.
	waitEmpty(t, dir)
}

// waitEmpty waits until dir is empty, collecting garbage so that views
// dropped without Release are freed. Their cleanups run on the runtime's
// cleanup goroutine after a collection, which has no hook to wait on, so
// this polls, with a bound far above what it takes.
func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	var left []string
	for range 500 {
		if left = entries(t, dir); len(left) == 0 {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("working directories left after Close: %v", left)
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func open(t *testing.T, dir string) *pebble.Store {
	t.Helper()
	s, err := pebble.Open(pebble.Options{Dir: dir, Memory: pebble.MinMemory}, "op/1:test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAgainstMap checks the store against a Go map and a sort: random sets
// and deletes, prefix scans in order (prefixes ending in 0xff included),
// and snapshots that keep what they saw while the store changes. The
// memtable is small, so the entries also go through flushes and
// compactions to files.
func TestAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := open(t, t.TempDir())
	defer s.Close()
	ref := map[string]string{}
	type snap struct {
		v   state.StoreView
		ref map[string]string
	}
	var snaps []snap
	key := func() []byte {
		return fmt.Appendf(nil, "%c%c%d", []byte{'a', 'b', 0xff}[rng.IntN(3)], []byte{'a', 0xff}[rng.IntN(2)], rng.IntN(50))
	}
	filler := strings.Repeat("x", 2000) // 20 000 writes of this fill several memtables
	for i := range 20000 {
		k := key()
		switch rng.IntN(10) {
		case 0, 1, 2:
			if err := s.Delete(k); err != nil {
				t.Fatal(err)
			}
			delete(ref, string(k))
		case 3:
			if i%20 != 0 {
				continue
			}
			v, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, snap{v, maps.Clone(ref)})
		default:
			v := fmt.Appendf(nil, "v%d%s", i, filler[:rng.IntN(len(filler))])
			want := string(v)
			if err := s.Set(k, v); err != nil {
				t.Fatal(err)
			}
			v[0] = 'X' // the store keeps its own copy
			ref[string(k)] = want
		}
	}
	for k, v := range ref {
		got, ok, err := s.Get([]byte(k))
		if err != nil || !ok || string(got) != v {
			t.Fatalf("Get(%q) = %.10q, %v, %v; want %.10q", k, got, ok, err, v)
		}
	}
	if _, ok, err := s.Get([]byte("zz")); ok || err != nil {
		t.Fatalf("Get of a missing key = %v, %v", ok, err)
	}
	check := func(what string, scan func([]byte, func(k, v []byte) bool) error, ref map[string]string) {
		t.Helper()
		for _, prefix := range []string{"", "a", "ab", "\xff", "\xff\xff", "b\xff1", "zz"} {
			var got, want []string
			if err := scan([]byte(prefix), func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true }); err != nil {
				t.Fatal(err)
			}
			for _, k := range slices.Sorted(maps.Keys(ref)) {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k+"="+ref[k])
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: Scan(%q) gave %d entries; want %d", what, prefix, len(got), len(want))
			}
		}
	}
	check("store", s.Scan, ref)
	// First reads the front of a range: "" as upper bound is none.
	for _, r := range []struct{ lo, hi string }{{"", "a"}, {"a", "b"}, {"ab", "ab5"}, {"ab49", ""}, {"b", "b\xff"}, {"\xff", ""}, {"\xff\xff", "\xff\xff3"}, {"zz", ""}} {
		var hi []byte
		if r.hi != "" {
			hi = []byte(r.hi)
		}
		k, v, ok, err := s.First([]byte(r.lo), hi)
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		for _, rk := range slices.Sorted(maps.Keys(ref)) {
			if rk >= r.lo && (hi == nil || rk < r.hi) {
				want = rk + "=" + ref[rk]
				break
			}
		}
		if got := string(k) + "=" + string(v); ok != (want != "") || ok && got != want {
			t.Fatalf("First(%q, %q) = %.20q, %v; want %.20q", r.lo, r.hi, got, ok, want)
		}
	}
	if len(snaps) < 10 {
		t.Fatalf("only %d snapshots taken", len(snaps))
	}
	for i, sn := range snaps {
		check(fmt.Sprintf("snapshot %d", i), sn.v.Scan, sn.ref)
		sn.v.Release()
		sn.v.Release() // a second Release is a no-op
	}
	// A scan stops when told to.
	n := 0
	if err := s.Scan(nil, func(_, _ []byte) bool { n++; return n < 3 }); err != nil || n != min(3, len(ref)) {
		t.Fatalf("stopped scan visited %d entries, %v", n, err)
	}
}

// Close removes the working directory, after the last view is released
// when one is still open; the view reads what it saw until then.
func TestCloseRemovesWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if !strings.HasPrefix(filepath.Base(s.Dir()), "weir-state-op_1_test-") || filepath.Dir(s.Dir()) != dir {
		t.Fatalf("working directory %s; want weir-state-op_1_test-* in %s", s.Dir(), dir)
	}
	if err := s.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	v, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Set([]byte("k"), []byte("w")); err == nil {
		t.Fatal("Set after Close succeeded")
	}
	if _, err := s.Snapshot(); err == nil {
		t.Fatal("Snapshot after Close succeeded")
	}
	if _, err := os.Stat(s.Dir()); err != nil {
		t.Fatalf("working directory gone while a view is open: %v", err)
	}
	var got []string
	if err := v.Scan(nil, func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"k=v"}) {
		t.Fatalf("view after Close read %v", got)
	}
	v.Release()
	if left := entries(t, dir); len(left) != 0 {
		t.Fatalf("after the last Release the directory holds %v", left)
	}
}

// A view dropped without Release is freed once it is garbage, and with it
// the database of a closed Store.
func TestDroppedViewIsFreed(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(entries(t, dir)) != 1 {
		t.Fatal("the working directory is gone while a view is open")
	}
	waitEmpty(t, dir)
}

func TestOptions(t *testing.T) {
	if err := (pebble.Options{Memory: pebble.MinMemory - 1}).Validate(); err == nil || !strings.Contains(err.Error(), "Memory") {
		t.Fatalf("Validate of a small Memory = %v; want an error naming Memory", err)
	}
	if _, err := pebble.Open(pebble.Options{Dir: t.TempDir(), Memory: 1}, "x"); err == nil {
		t.Fatal("Open with a 1-byte budget succeeded")
	}
	// Dir is created when missing.
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := open(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Dir: %v", err)
	}
	// A Dir that is a file fails with its name.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pebble.Open(pebble.Options{Dir: file}, "x"); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Fatalf("Open under a file = %v; want an error naming Dir", err)
	}
}

// A store whose working directory is deleted under it fails the writes
// after its first failed flush, naming the directory, instead of stalling
// them behind memtables that can no longer be flushed.
func TestDirectoryGoneFailsWrites(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	if err := os.RemoveAll(s.Dir()); err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 1024)
	var err error
	for i := 0; i < 1_000_000 && err == nil; i++ {
		err = s.Set(fmt.Appendf(nil, "key-%08d", i), value)
	}
	if err == nil {
		t.Fatal("a million writes of 1 KiB into a deleted directory all succeeded")
	}
	for _, want := range []string{s.Dir(), "writing its files failed", "no such file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, _, gerr := s.Get([]byte("key-00000001")); gerr == nil {
		t.Error("Get after the background error succeeded")
	}
}
