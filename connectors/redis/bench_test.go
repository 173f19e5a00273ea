package redis_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/redis"
	"github.com/weirstream/weir/connectors/redis/redistest"
)

// BenchmarkSink upserts b.N records over 10 000 keys, as hashes of two
// fields with versions, through one writer and a redis-server on the
// same machine.
func BenchmarkSink(b *testing.B) {
	srv := redistest.Start(b)
	s, err := redis.NewSink(redis.SinkConfig[int]{Conn: redis.Conn{Addr: srv.Addr()},
		Key:     func(i int) string { return fmt.Sprintf("k%d", i%10_000) },
		Fields:  func(i int) map[string]string { return map[string]string{"n": fmt.Sprint(i), "name": "customer"} },
		Version: func(i int) int64 { return int64(i) }})
	if err != nil {
		b.Fatal(err)
	}
	w, err := s.Open(context.Background(), weir.SinkInfo{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := w.Write(i); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
