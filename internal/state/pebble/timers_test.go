package pebble_test

import (
	"testing"

	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/pebble"
)

// A million pending timers in four key groups hold four entries in
// memory: the firing order is on disk, and in memory there is only each
// key group's earliest timer. The first timers pop in order. With the race
// detector, or -short, it registers a tenth as many.
func TestMillionPendingTimers(t *testing.T) {
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n /= 10
	}
	be, err := pebble.NewBackend(pebble.Options{Dir: t.TempDir()})(benchConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	timers, ok, err := state.NewTimers(be, keyC)
	if err != nil || !ok {
		t.Fatalf("NewTimers = %v, %v", ok, err)
	}
	// 250 keys in each of four key groups.
	groups := map[int]int{3: 0, 40: 0, 77: 0, 120: 0}
	var keys []int64
	for k := int64(0); len(keys) < 1000; k++ {
		if c, ok := groups[kgOf(k)]; ok && c < 250 {
			groups[kgOf(k)]++
			keys = append(keys, k)
		}
	}
	for i := range n {
		// Times in a scattered order, each once; negative ones too.
		at := int64((i*7919)%n - n/2)
		k := keys[i%len(keys)]
		if _, err := timers.Register(0, kgOf(k), k, at); err != nil {
			t.Fatal(err)
		}
	}
	if q := timers.Queued(); q != len(groups) {
		t.Fatalf("%d timers pending in %d key groups: Queued = %d; want %d", n, len(groups), q, len(groups))
	}
	for want := int64(-n / 2); want < int64(-n/2+10_000); want++ {
		tm, ok, err := timers.Pop(0)
		if err != nil || !ok || tm.Time != want {
			t.Fatalf("Pop = %+v, %v, %v; want the timer at %d", tm, ok, err, want)
		}
	}
	if q := timers.Queued(); q != len(groups) {
		t.Fatalf("Queued = %d after popping; want %d", q, len(groups))
	}
}
