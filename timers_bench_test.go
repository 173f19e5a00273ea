package weir

import (
	"fmt"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// BenchmarkTimers registers and fires event-time timers through one
// operator subtask's timer service on each backend: 4096 keys over all 128
// key groups, 16 timers per millisecond, and a watermark that trails the
// newest timer by 100 ms, so about 1600 timers are pending (steady), or
// every timer registered before the first fires (pending). ns/op is per
// timer, registered and fired.
func BenchmarkTimers(b *testing.B) {
	const maxPar, nkeys = 128, 4096
	keys := make([]string, nkeys)
	kgs := make([]int, nkeys)
	ki := keyInfo[string]{codec: codec.String()}
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
		_, kgs[i] = ki.group(nil, keys[i], maxPar)
	}
	backends := []Backend{MemoryBackend, BytesBackend, PebbleBackend(PebbleOptions{Dir: b.TempDir()})}
	for _, mode := range []string{"steady", "pending"} {
		for _, be := range backends {
			b.Run(fmt.Sprintf("%s/backend=%s", mode, be), func(b *testing.B) {
				sb, err := be.open(state.Config{OperatorID: "timers", KeyGroups: keygroup.RangeFor(maxPar, 1, 0), MaxParallelism: maxPar, Parallelism: 1})
				if err != nil {
					b.Fatal(err)
				}
				defer sb.Close()
				ts, err := newTimerService(sb, ki)
				if err != nil {
					b.Fatal(err)
				}
				fired := 0
				count := func(timer[string]) error { fired++; return nil }
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					k := (i * 7919) % nkeys
					at := int64(i / 16)
					if err := ts.register(EventTimeDomain, kgs[k], keys[k], at); err != nil {
						b.Fatal(err)
					}
					if mode == "steady" && i%1024 == 1023 {
						if err := ts.fire(EventTimeDomain, at-100, nil, count); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := ts.fire(EventTimeDomain, int64(b.N), nil, count); err != nil {
					b.Fatal(err)
				}
				if fired != b.N {
					b.Fatalf("fired %d timers of %d", fired, b.N)
				}
			})
		}
	}
}
