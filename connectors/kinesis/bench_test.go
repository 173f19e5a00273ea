package kinesis_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kinesis"
	"github.com/weirstream/weir/connectors/kinesis/kinesistest"
)

// fill writes n records of about 100 bytes to stream through one sink
// writer (PutRecords batches of 500), keyed over 64 partition keys.
func fill(b *testing.B, srv *kinesistest.Server, stream string, n int) {
	s, err := kinesis.NewSink(kinesis.SinkConfig[string]{Conn: srv.Conn(), Stream: stream, Encoder: format.String(),
		PartitionKey: func(v string) string { return v[:2] }})
	if err != nil {
		b.Fatal(err)
	}
	w, err := s.Open(context.Background(), weir.SinkInfo{Parallelism: 1})
	if err != nil {
		b.Fatal(err)
	}
	pad := fmt.Sprintf("%086d", 0)
	for i := range n {
		if err := w.Write(fmt.Sprintf("%02d%012d", i%64, i) + pad); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// cpu returns the CPU time this process has used (the emulator, a child
// process, is not counted).
func cpu(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report reports records/s and records per CPU second of this process.
func report(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(cpu(b)-cpu0).Seconds(), "records/cpu-s")
}

// BenchmarkSink writes b.N records of about 100 bytes through one writer
// to a stream of 2 shards of kinesis-local on the same machine.
func BenchmarkSink(b *testing.B) {
	srv := kinesistest.Start(b)
	srv.CreateStream("out", 2)
	b.ResetTimer()
	c0 := cpu(b)
	fill(b, srv, "out", b.N)
	report(b, c0)
}

// BenchmarkSource reads b.N records of about 100 bytes from a stream of 2
// shards in a job at parallelism 1, into a sink that counts them.
func BenchmarkSource(b *testing.B) {
	srv := kinesistest.Start(b)
	srv.CreateStream("in", 2)
	fill(b, srv, "in", b.N)
	src, err := kinesis.NewSource(kinesis.SourceConfig[[]byte]{Conn: srv.Conn(), Stream: "in", Decoder: format.Bytes(), Limit: 10000})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpu(b)
	stop := make(chan struct{})
	env := weir.New(weir.Checkpoints(time.Second, b.TempDir()), weir.StopOn(stop))
	var n int
	weir.To(weir.From(env, src), weir.Sink[kinesis.Record[[]byte]](sinkFunc(func(kinesis.Record[[]byte]) {
		if n++; n == b.N {
			close(stop)
		}
	})))
	if err := env.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	report(b, c0)
}

type sinkFunc func(kinesis.Record[[]byte])

func (f sinkFunc) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[kinesis.Record[[]byte]], error) {
	return f, nil
}
func (f sinkFunc) Write(r kinesis.Record[[]byte]) error { f(r); return nil }
func (f sinkFunc) Close() error                         { return nil }
