package bytesmem_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/bytesmem"
	"github.com/weirstream/weir/internal/state/statetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, cfg state.Config) state.Backend {
		b, err := bytesmem.NewBackend(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, statetest.Capabilities{EntryOrder: statetest.KeyOrder, StoreTimers: true})
}

// TestConformanceValueCache runs the suite with value tables behind a
// cache so small (its floor of entries) that the suite's tables overflow
// it: entries are written back on eviction, before snapshots and before
// scans.
func TestConformanceValueCache(t *testing.T) {
	statetest.Run(t, func(t *testing.T, cfg state.Config) state.Backend {
		b, err := state.NewStoreBackend(cfg, bytesmem.New())
		if err != nil {
			t.Fatal(err)
		}
		b.SetValueCache(1)
		return b
	}, statetest.Capabilities{EntryOrder: statetest.KeyOrder, StoreTimers: true})
}

// TestAgainstMap checks the treap against a Go map and a sort: random sets
// and deletes, prefix scans in order, and snapshots that keep what they
// saw while the store changes.
func TestAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := bytesmem.New()
	ref := map[string]string{}
	type snap struct {
		v   state.StoreView
		ref map[string]string
	}
	var snaps []snap
	key := func() []byte { return fmt.Appendf(nil, "%c%c%d", 'a'+rng.IntN(3), 'a'+rng.IntN(3), rng.IntN(50)) }
	for i := range 5000 {
		k := key()
		switch rng.IntN(10) {
		case 0, 1, 2:
			if err := s.Delete(k); err != nil {
				t.Fatal(err)
			}
			delete(ref, string(k))
		case 3:
			v, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, snap{v, maps.Clone(ref)})
		default:
			v := fmt.Appendf(nil, "v%d", i)
			if err := s.Set(k, v); err != nil {
				t.Fatal(err)
			}
			v[0] = 'X' // the store keeps its own copy
			ref[string(k)] = fmt.Sprintf("v%d", i)
		}
	}
	if s.Len() != len(ref) {
		t.Fatalf("Len = %d; want %d", s.Len(), len(ref))
	}
	for k, v := range ref {
		got, ok, err := s.Get([]byte(k))
		if err != nil || !ok || string(got) != v {
			t.Fatalf("Get(%q) = %q, %v, %v; want %q", k, got, ok, err, v)
		}
	}
	check := func(what string, scan func([]byte, func(k, v []byte) bool) error, ref map[string]string) {
		t.Helper()
		for _, prefix := range []string{"", "a", "ab", "c", "ba1", "zz"} {
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
				t.Fatalf("%s: Scan(%q) = %v; want %v", what, prefix, got, want)
			}
		}
	}
	check("store", s.Scan, ref)
	// First reads the front of a range: "" as upper bound is none.
	for _, r := range []struct{ lo, hi string }{{"", "a"}, {"a", "b"}, {"ab", "ab5"}, {"ab49", ""}, {"b", "ba"}, {"c1", "c2"}, {"zz", ""}} {
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
	for i, sn := range snaps {
		check(fmt.Sprintf("snapshot %d", i), sn.v.Scan, sn.ref)
		sn.v.Release()
	}
	// A scan stops when told to.
	n := 0
	if err := s.Scan(nil, func(_, _ []byte) bool { n++; return n < 3 }); err != nil || n != min(3, len(ref)) {
		t.Fatalf("stopped scan visited %d entries, %v", n, err)
	}
}
