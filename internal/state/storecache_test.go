package state_test

import (
	"fmt"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/bytesmem"
)

// The value cache stays within its budget whatever the table holds, and
// every value written reaches the Store: after entries have been dropped
// from the cache, reading them back gives what was written.
func TestValueCacheBounded(t *testing.T) {
	cfg := state.Config{OperatorID: "op", KeyGroups: state.KeyGroupRange{Start: 0, End: 4}, MaxParallelism: 4, Parallelism: 1}
	b, err := state.NewStoreBackend(cfg, bytesmem.New())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const budget = 256 << 10
	b.SetValueCache(budget)
	tbl, err := state.NewValue(b, state.TableDesc[int64, uint8, string]{Name: "v", Key: codec.Int64(), Namespace: codec.Uint8(), Value: codec.String()})
	if err != nil {
		t.Fatal(err)
	}
	const keys = 20_000
	value := func(k int64) string { return fmt.Sprintf("%0100d", k) }
	peak := 0
	for k := range int64(keys) {
		if err := tbl.Put(int(k%4), k, 0, value(k)); err != nil {
			t.Fatal(err)
		}
		if k%7 == 0 {
			if err := tbl.Delete(int(k%4), k, 0); err != nil {
				t.Fatal(err)
			}
		}
		n, capacity, ok := state.CachedEntries(tbl)
		if !ok {
			t.Fatal("a value table of a backend with a value cache has none")
		}
		peak = max(peak, n)
		if n > capacity {
			t.Fatalf("after %d puts the cache holds %d entries, more than its capacity %d", k+1, n, capacity)
		}
	}
	// 100-byte values and a map slot each: a 256 KiB budget holds about a
	// thousand, far fewer than the keys written.
	if _, capacity, _ := state.CachedEntries(tbl); capacity >= keys/4 || peak < 64 {
		t.Fatalf("capacity %d, peak %d entries for %d keys in %d bytes", capacity, peak, keys, budget)
	}
	for k := range int64(keys) {
		v, ok, err := tbl.Get(int(k%4), k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := k%7 != 0; ok != want || (ok && v != value(k)) {
			t.Fatalf("key %d: got %q, %v; want present %v", k, v, ok, want)
		}
	}
	if n := tbl.Len(); n != keys-(keys+6)/7 {
		t.Fatalf("Len %d, want %d", n, keys-(keys+6)/7)
	}
}
