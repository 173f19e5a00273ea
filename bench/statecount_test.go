package bench

import (
	"testing"

	"github.com/weirstream/weir"
)

// A keyed count over far more keys than its Pebble memory budget holds
// (2 M keys in a 16 MiB budget; the memory backend needs about 200 MiB for
// them) completes with the memory backend's output, uniform and Zipf.
// Peak memory is measured by make bench-pebble, not asserted here.
func TestStateCountBeyondBudgetEqualsMemory(t *testing.T) {
	keys, records := int64(2_000_000), int64(2_500_000)
	if testing.Short() || raceEnabled {
		keys, records = 200_000, 250_000
	}
	for _, zipf := range []float64{0, 1.1} {
		run := func(b weir.Backend) StateCountTotals {
			t.Helper()
			_, tot, err := StateCount(StateCountConfig{Keys: keys, Records: records, Zipf: zipf, Options: []weir.Option{weir.StateBackend(b)}})
			if err != nil {
				t.Fatalf("zipf %v, %s backend: %v", zipf, b, err)
			}
			return tot
		}
		want := run(weir.MemoryBackend)
		got := run(weir.PebbleBackend(weir.PebbleOptions{Dir: t.TempDir(), Memory: 16 << 20}))
		if got != want {
			t.Errorf("zipf %v: Pebble's output %+v, the memory backend's %+v", zipf, got, want)
		}
		if want.Records != records || want.Distinct < keys/20 {
			t.Errorf("zipf %v: output %+v of %d records over %d keys: too few distinct keys to exceed the budget", zipf, want, records, keys)
		}
		t.Logf("zipf %v: %+v", zipf, want)
	}
}
