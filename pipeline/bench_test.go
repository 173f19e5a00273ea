package pipeline

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

const benchPipeline = `version: 1
inputs:
  bids:
    type: generator
    fields: {auction: seq % 1000, price: seq % 5000, bidder: seq % 77, channel: '"web"'}
    schema: {auction: int, price: int, bidder: int, channel: string}
steps:
  - name: expensive
    filter: price > 1000 && channel == "web"
outputs:
  out: {type: stdout}
`

// BenchmarkFilterExpr measures the filter step's predicate on a record
// of a declared schema: the expression filter alone, per record.
func BenchmarkFilterExpr(b *testing.B) {
	p, err := Parse("bench.yaml", []byte(benchPipeline), Options{})
	if err != nil {
		b.Fatal(err)
	}
	pred := p.Steps[0].spec.(*filterStep).pred
	recs := make([]Record, 1024)
	for i := range recs {
		recs[i] = Record{"auction": int64(i % 1000), "price": int64(i * 7 % 5000), "bidder": int64(i % 77), "channel": "web"}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	kept := 0
	for i := 0; i < b.N; i++ {
		ok, err := pred.test(recs[i&1023])
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			kept++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "records/CPU-s")
}

// BenchmarkFilterExprRows is BenchmarkFilterExpr on rows, as records of
// a declared schema travel from a JSON input to the steps that read
// fields by position: the predicate reads two slice elements instead of
// looking up two map keys.
func BenchmarkFilterExprRows(b *testing.B) {
	p, err := Parse("bench.yaml", []byte(benchPipeline), Options{})
	if err != nil {
		b.Fatal(err)
	}
	pred := p.Steps[0].spec.(*filterStep).pred
	schema := p.Inputs[0].Schema
	if pred.rowSchema != schema {
		b.Fatal("the predicate was not compiled for rows of the input's schema")
	}
	rows := make([]row, 1024)
	for i := range rows {
		rows[i] = rowOf(Record{"auction": int64(i % 1000), "price": int64(i * 7 % 5000), "bidder": int64(i % 77), "channel": "web"}, schema)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	kept := 0
	for i := 0; i < b.N; i++ {
		ok, err := pred.testRow(rows[i&1023])
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			kept++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "records/CPU-s")
}

// cpuSeconds is the process's user + system CPU time: on a shared
// machine, records per CPU second is the per-core rate.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkFilterJob runs the filter step in a job at parallelism 1: a
// slice source of records of the declared schema, the predicate and its
// drop, and a sink that counts; records/s is per wall-clock second.
func BenchmarkFilterJob(b *testing.B) {
	p, err := Parse("bench.yaml", []byte(benchPipeline), Options{})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]Record, b.N)
	for i := range recs {
		recs[i] = Record{"auction": int64(i % 1000), "price": int64(i * 7 % 5000), "bidder": int64(i % 77), "channel": "web"}
	}
	env := weir.New(weir.Parallelism(1))
	s := p.Steps[0]
	kept := s.spec.build(nil, s, weir.From(env, weir.Slice(recs...)))
	var n atomic.Int64
	weir.To(kept, countSink{&n})
	b.ResetTimer()
	cpu0 := cpuSeconds()
	if err := env.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "records/CPU-s")
	if b.N > 1000 && n.Load() == 0 {
		b.Fatal("nothing kept")
	}
}

type countSink struct{ n *atomic.Int64 }

func (c countSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[Record], error) {
	return &countWriter{n: c.n}, nil
}

type countWriter struct {
	n *atomic.Int64
	k int64
}

func (w *countWriter) Write(Record) error { w.k++; return nil }
func (w *countWriter) Close() error       { w.n.Add(w.k); return nil }
