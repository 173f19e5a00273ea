package kafka

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// BenchmarkSinkWrite produces records of about 300 bytes of JSON through
// a subtask's writer to an in-process broker, flushing every 10 000 as a
// checkpoint barrier would. Its allocations per record include the
// broker's, which runs in the same process.
func BenchmarkSinkWrite(b *testing.B) {
	for _, d := range []Delivery{AtLeastOnce, ExactlyOnce} {
		b.Run(d.String(), func(b *testing.B) {
			c := kafkatest.NewCluster(b)
			c.Topic("out", 4)
			cfg := sinkConfig(c, "out", d)
			cfg.Linger = time.Millisecond
			// Keys made once: the sink's allocations are what is measured.
			keys := make([][]byte, 100)
			for i := range keys {
				keys[i] = []byte("user-" + strconv.Itoa(i))
			}
			cfg.Key = func(e event) []byte { return keys[e.N%len(keys)] }
			s, err := NewSink(cfg)
			if err != nil {
				b.Fatal(err)
			}
			w, err := s.Open(context.Background(), weir.SinkInfo{Name: "kafka", Parallelism: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			flush := func(id int64) {
				var err error
				switch w := w.(type) {
				case weir.TwoPhaseWriter:
					var c []byte
					if c, err = w.Prepare(id); err == nil {
						err = w.Commit(context.Background(), [][]byte{c})
					}
				case weir.Flusher:
					err = w.Flush()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			users := make([]string, 100)
			for i := range users {
				users[i] = string(keys[i]) + strings.Repeat("x", 270)
			}
			b.ReportAllocs()
			b.SetBytes(300)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			var checkpoint int64
			for i := range b.N {
				if err := w.Write(event{N: i, User: users[i%len(users)]}); err != nil {
					b.Fatal(err)
				}
				if i%10_000 == 9_999 {
					checkpoint++
					flush(checkpoint)
				}
			}
			flush(checkpoint + 1)
			b.StopTimer()
			runtime.ReadMemStats(&after)
			// allocs/op to a tenth: most of a record's are shares of slabs.
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "mallocs/op")
		})
	}
}
