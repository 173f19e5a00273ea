package pebble

import (
	"sync"

	pdb "github.com/cockroachdb/pebble/v2"
)

// minMemTable is the smallest memtable a Store is given however many
// Stores share a budget: below it Pebble would flush tiny files.
const minMemTable = 256 << 10

// budget is the memory the Stores of one backend factory share: a
// quarter of Options.Memory for the value tables' caches of decoded
// entries on the Go heap (state.StoreBackend.SetValueCache), divided by
// Options.Stores, and one Pebble cache of the other three quarters, made
// when the first Store opens and freed when the last one closes, with
// memtables of an eighth of Options.Memory divided by Options.Stores each
// (a Store holds at most two: one being written, one being flushed).
// Pebble reserves the memtables' memory in the cache, so the blocks get
// what the memtables leave: at least half of the budget. (A cache of half
// the budget beside memtables of the other half, as it once was, leaves
// no room for a single block.)
type budget struct {
	o  Options
	mu struct {
		sync.Mutex
		cache *pdb.Cache
		open  int
	}
}

func newBudget(o Options) *budget { return &budget{o: o} }

// memTableSize is the size of each of a Store's memtables.
func (b *budget) memTableSize() uint64 {
	return uint64(max(b.o.memory()/8/b.stores(), minMemTable))
}

// valueCacheSize is the memory of each Store's value caches.
func (b *budget) valueCacheSize() int64 { return b.o.memory() / 4 / b.stores() }

// cacheSize is the size of the Pebble cache the Stores share.
func (b *budget) cacheSize() int64 { return b.o.memory() - b.o.memory()/4 }

func (b *budget) stores() int64 { return int64(max(b.o.Stores, 1)) }

// acquire returns the shared cache, with a reference the caller passes to
// Pebble's options and then drops, and counts a Store open.
func (b *budget) acquire() *pdb.Cache {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.cache == nil {
		b.mu.cache = pdb.NewCache(b.cacheSize())
	}
	b.mu.open++
	b.mu.cache.Ref()
	return b.mu.cache
}

// shared returns the shared cache with a reference the caller passes to
// Pebble's options and then drops, for a Store that is counted open
// already and opens its database again.
func (b *budget) shared() *pdb.Cache {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.cache.Ref()
	return b.mu.cache
}

// release counts a Store closed (or one that failed to open); the last
// one frees the cache, which each database has unreferenced on closing.
func (b *budget) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.open--
	if b.mu.open == 0 {
		b.mu.cache.Unref()
		b.mu.cache = nil
	}
}
