package bench

import (
	"flag"
	"testing"
	"time"
)

var idleFor = flag.Duration("idle", 0, "run TestIdleCPU for this long (30s for the figure in docs/benchmarks.md)")

// TestIdleCPU measures what an idle job of 8 sources costs: at most 1 % of
// a core when its readers wake their tasks. It measures wall-clock spans,
// so it runs only when asked (-idle 30s).
func TestIdleCPU(t *testing.T) {
	if *idleFor <= 0 {
		t.Skip("a measurement: run with -idle 30s")
	}
	for _, polled := range []bool{false, true} {
		cpu, err := IdleCPU(8, *idleFor, polled)
		if err != nil {
			t.Fatal(err)
		}
		share := cpu.Seconds() / idleFor.Seconds()
		t.Logf("8 idle sources, polled=%v: %v CPU in %v = %.2f %% of a core", polled, cpu.Round(time.Millisecond), *idleFor, share*100)
		if !polled && share > 0.01 {
			t.Errorf("an idle job with waking readers used %.2f %% of a core, want at most 1 %%", share*100)
		}
	}
}
