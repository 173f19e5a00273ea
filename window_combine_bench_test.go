package weir

import (
	"context"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// BenchmarkCombinerPush is the window combiner on its own: records of the
// tumbling window benchmark's shape (5 000 keys, 1 s windows, ten records
// per key and window) pushed into a combiner whose output is discarded,
// with a watermark every 256 records.
func BenchmarkCombinerPush(b *testing.B) {
	type event struct{ key, seq int64 }
	meta := &runtime.Meta{}
	op := &combineOp[int64, event, int64]{
		opBase: opBase{meta: meta, c: &counters{}}, key: func(e event) int64 { return e.key },
		assigner: TumblingEventTime(time.Second),
		create:   func() int64 { return 0 },
		add:      func(_ event, n int64) int64 { return n + 1 },
		next:     runtime.Discard[partial[int64, event, int64]]{},
	}
	if err := op.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	for i := range int64(b.N) {
		seq := 2 * i
		meta.Ts = seq / 100
		if err := op.Push(event{key: seq % 10_000, seq: seq}); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			if err := op.OnWatermark(meta.Ts - 1); err != nil {
				b.Fatal(err)
			}
		}
	}
}
