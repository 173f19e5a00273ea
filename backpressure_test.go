//go:build !race

// The race detector makes sync.Pool drop recycled batches at random, which
// turns into garbage the heap measurement cannot tell from queued data, so
// this test runs without it (make test runs it separately).

package weir_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/weirstream/weir"
)

// bigRecord is a record of about one kilobyte.
type bigRecord struct {
	Seq int64
	Pad [1016]byte
}

// throttledSink consumes slowly: it pauses for a millisecond every 200
// records, far below the rate the generator produces at.
type throttledSink struct{ n *atomic.Int64 }

func (s throttledSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[bigRecord], error) {
	return s, nil
}

func (s throttledSink) Write(bigRecord) error {
	if s.n.Add(1)%200 == 0 {
		time.Sleep(time.Millisecond)
	}
	return nil
}

func (s throttledSink) Close() error { return nil }

// peakHeap samples the bytes in live heap objects until stop is closed.
func peakHeap(stop <-chan struct{}) func() uint64 {
	var (
		peak uint64
		wg   sync.WaitGroup
	)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 { wg.Wait(); return peak }
}

// runOverloaded runs a fast generator into a throttled sink across one
// exchange channel and returns the peak heap above the starting heap.
func runOverloaded(t *testing.T, records int64, opts ...weir.Option) uint64 {
	t.Helper()
	env := weir.New(append([]weir.Option{weir.DisableChaining()}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: records}, func(seq int64) bigRecord {
		return bigRecord{Seq: seq}
	}))
	var consumed atomic.Int64
	weir.To(src, weir.Sink[bigRecord](throttledSink{&consumed}))

	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	stop := make(chan struct{})
	peak := peakHeap(stop)
	err := env.Run(context.Background())
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if consumed.Load() != records {
		t.Fatalf("sink consumed %d of %d records", consumed.Load(), records)
	}
	return peak() - min(base, peak())
}

// The exchange bounds keep memory bounded however much faster the source is
// than the sink: the heap stays under what the queues and batches can hold,
// and lifting the bounds (a test-only option) breaks that bound.
func TestBackpressureBoundsMemory(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	const (
		batch    = 64
		capacity = 4
		records  = 20000
	)
	recSize := uint64(unsafe.Sizeof(bigRecord{}) + 8 + 16) // value, event time, origin
	// In flight on the one channel: the queued batches, the one being
	// filled, the one being consumed and one recycled in the pool.
	bound := uint64(capacity+3) * batch * recSize
	limit := 2*bound + 1<<20 // garbage the GC has not collected yet, and the runtime's own
	produced := uint64(records) * recSize
	if produced < 10*limit {
		t.Fatalf("the source produces %d bytes, not 10x the limit %d", produced, limit)
	}
	opts := []weir.Option{weir.BatchSize(batch), weir.QueueCapacity(capacity)}

	bounded := runOverloaded(t, records, opts...)
	t.Logf("bounded queues: peak heap growth %d bytes (bound %d, limit %d, produced %d)", bounded, bound, limit, produced)
	if bounded > limit {
		t.Errorf("peak heap grew by %d bytes, above the limit %d computed from queue capacity and batch size", bounded, limit)
	}
	unbounded := runOverloaded(t, records, append(opts, weir.UnboundedQueues())...)
	t.Logf("unbounded queues: peak heap growth %d bytes", unbounded)
	if unbounded <= limit {
		t.Errorf("without bounds the heap grew only %d bytes, within the limit %d: the test cannot tell bounded from unbounded", unbounded, limit)
	}
}
