package weir

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// The timer service fires the same timers in the same order on every
// backend, in both domains, with deletes and timers registered while
// firing; on the memory backend its queues hold an entry per pending
// timer, on the others one per key group and domain with timers.
func TestTimerServiceOnEveryBackend(t *testing.T) {
	const maxPar = 128
	ki := keyInfo[string]{codec: codec.String()}
	keys := make([]string, 12)
	kgs := map[string]int{}
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
		_, kgs[keys[i]] = ki.group(nil, keys[i], maxPar)
	}
	run := func(be Backend) (fired []string, queued, pending int) {
		sb, err := be.open(state.Config{OperatorID: "timers", KeyGroups: keygroup.RangeFor(maxPar, 1, 0), MaxParallelism: maxPar, Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		ts, err := newTimerService(sb, ki)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		var now [2]int64
		type set struct {
			k  string
			at int64
		}
		var registered [2][]set
		deleted := 0
		for i := range 6000 {
			d := TimeDomain(rng.IntN(2))
			k := keys[rng.IntN(len(keys))]
			at := now[d] + int64(rng.IntN(2000)) - 20
			switch r := rng.IntN(10); {
			case r < 6:
				if err := ts.register(d, kgs[k], k, at); err != nil {
					t.Fatal(err)
				}
				registered[d] = append(registered[d], set{k, at})
			case r < 8 && len(registered[d]) > 0:
				// Mostly a timer that is still pending.
				s := registered[d][len(registered[d])-1-rng.IntN(min(len(registered[d]), 50))]
				if err := ts.remove(d, kgs[s.k], s.k, s.at); err != nil {
					t.Fatal(err)
				}
				deleted++
			case r >= 8:
				now[d] += int64(rng.IntN(30))
				err := ts.fire(d, now[d], nil, func(tm timer[string]) error {
					fired = append(fired, fmt.Sprintf("%s %s@%d#%d", d, tm.key, tm.ts, tm.seq))
					if tm.ts%7 == 0 {
						// Set again for later, in the same call when due.
						return ts.register(d, tm.kg, tm.key, tm.ts+int64(rng.IntN(40)))
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if i == 3000 {
				queued, pending = ts.queued(), ts.len()
			}
		}
		t.Logf("%s: %d timers fired, %d deleted; midway %d pending, %d queued", be, len(fired), deleted, pending, queued)
		return fired, queued, pending
	}
	want, queued, pending := run(MemoryBackend)
	if len(want) < 1000 || queued < pending || pending < 100 {
		t.Fatalf("memory: %d fired, %d queued, %d pending; want many, and an entry per pending timer", len(want), queued, pending)
	}
	for _, be := range []Backend{BytesBackend, PebbleBackend(PebbleOptions{Dir: t.TempDir()})} {
		got, queued, pending := run(be)
		if !slices.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("%s: fired %d timers, memory %d; they differ from #%d: %q", be, len(got), len(want), i, got[i:min(len(got), i+3)])
		}
		if groups := 2 * len(keys); queued > groups || pending < 100 {
			t.Fatalf("%s: %d timers pending, %d queued; want at most %d (key groups × domains)", be, pending, queued, groups)
		}
	}
}
