package pipeline

import (
	"testing"
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
}
