package pebble

import (
	"encoding/binary"
	"testing"
)

// The Stores of one factory share one block cache, made with the first
// and freed with the last, and divide the memtable quarter and the value
// cache quarter of the budget.
func TestBudgetShared(t *testing.T) {
	bud := newBudget(Options{Dir: t.TempDir(), Memory: 16 << 20, Stores: 4})
	if got := bud.memTableSize(); got != 512<<10 {
		t.Errorf("memtable size %d, want %d (16 MiB / 8 / 4 stores)", got, 512<<10)
	}
	if got := bud.valueCacheSize(); got != 1<<20 {
		t.Errorf("value cache size %d, want %d (16 MiB / 4 / 4 stores)", got, 1<<20)
	}
	var stores []*Store
	for i := range 3 {
		s, err := bud.open("s")
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
		if n := s.db.Metrics().BlockCache.Count; n < 0 {
			t.Fatalf("store %d: cache count %d", i, n)
		}
	}
	cache := bud.mu.cache
	if cache == nil || bud.mu.open != 3 {
		t.Fatalf("after 3 opens: cache %v, open %d", cache, bud.mu.open)
	}
	if got := cache.MaxSize(); got != 12<<20 {
		t.Errorf("cache size %d, want %d (the budget less the value caches; the memtables are reserved in it)", got, 12<<20)
	}
	for _, s := range stores {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if bud.mu.cache != nil || bud.mu.open != 0 {
		t.Errorf("after every Close: cache %v, open %d; want none", bud.mu.cache, bud.mu.open)
	}
	// A Store opened after the last closed gets a cache again.
	s, err := bud.open("again")
	if err != nil {
		t.Fatal(err)
	}
	if bud.mu.cache == nil {
		t.Error("no cache for a Store opened after the others closed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := newBudget(Options{Memory: 4 << 20, Stores: 100}).memTableSize(); got != minMemTable {
		t.Errorf("memtable size of 4 MiB over 100 stores: %d, want the floor %d", got, minMemTable)
	}
}

// The block cache holds blocks: Pebble reserves the memtables in it, so a
// cache no larger than the memtables it holds would serve every read from
// the files.
func TestBlockCacheHoldsBlocks(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Memory: 16 << 20}, "cache")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200_000
	var k [8]byte
	for i := range n {
		binary.BigEndian.PutUint64(k[:], uint64(i)*7919%n)
		if err := s.Set(k[:], k[:]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range n / 4 {
		binary.BigEndian.PutUint64(k[:], uint64(i)*104729%n)
		if _, ok, err := s.Get(k[:]); err != nil || !ok {
			t.Fatalf("get %x: %v, %v", k, ok, err)
		}
	}
	m := s.db.Metrics().BlockCache
	if m.Count == 0 || m.Hits < 10*m.Misses {
		t.Errorf("block cache after %d reads of flushed keys: %d blocks, %d hits, %d misses; want nearly every read a hit", n/4, m.Count, m.Hits, m.Misses)
	}
}
