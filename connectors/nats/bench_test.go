package nats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/nats"
	"github.com/weirstream/weir/connectors/nats/natstest"
)

// BenchmarkSink publishes b.N records of about 100 bytes with
// deduplication IDs through one writer, acknowledged by a nats-server on
// the same machine.
func BenchmarkSink(b *testing.B) {
	srv := natstest.Start(b)
	srv.Stream("out", 0, "out")
	s, err := nats.NewSink(nats.SinkConfig[string]{Conn: nats.Conn{URLs: []string{srv.URL()}}, Subject: "out",
		Encoder: format.String(), MsgID: func(v string) string { return v[:12] }})
	if err != nil {
		b.Fatal(err)
	}
	w, err := s.Open(context.Background(), weir.SinkInfo{})
	if err != nil {
		b.Fatal(err)
	}
	pad := fmt.Sprintf("%088d", 0)
	b.ResetTimer()
	for i := range b.N {
		if err := w.Write(fmt.Sprintf("%012d", i) + pad); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkSource reads b.N messages of about 100 bytes from a stream in
// a job at parallelism 1, into a sink that counts them.
func BenchmarkSource(b *testing.B) {
	srv := natstest.Start(b)
	srv.Stream("in", 0, "in")
	pad := []byte(fmt.Sprintf("%100d", 0))
	for i := 0; i < b.N; {
		n := min(1000, b.N-i)
		var fs []func() error
		for range n {
			f, err := srv.JetStream().PublishAsync("in", pad)
			if err != nil {
				b.Fatal(err)
			}
			fs = append(fs, func() error {
				select {
				case <-f.Ok():
					return nil
				case err := <-f.Err():
					return err
				}
			})
		}
		for _, f := range fs {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
		i += n
	}
	src, err := nats.NewSource(nats.SourceConfig[[]byte]{Conn: nats.Conn{URLs: []string{srv.URL()}}, Stream: "in", Decoder: format.Bytes()})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	stop := make(chan struct{})
	env := weir.New(weir.Checkpoints(time.Second, b.TempDir()), weir.StopOn(stop))
	var n int
	weir.To(weir.From(env, src), weir.Sink[nats.Record[[]byte]](sinkFunc(func(nats.Record[[]byte]) {
		if n++; n == b.N {
			close(stop)
		}
	})))
	if err := env.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

type sinkFunc func(nats.Record[[]byte])

func (f sinkFunc) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[nats.Record[[]byte]], error) {
	return f, nil
}
func (f sinkFunc) Write(r nats.Record[[]byte]) error { f(r); return nil }
func (f sinkFunc) Close() error                      { return nil }
