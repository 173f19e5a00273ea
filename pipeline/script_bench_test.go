package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// benchScript maps a view to a smaller record: fields read, arithmetic, a
// comparison and a string function.
const benchScript = `version: 1
inputs:
  views: {type: file, path: views.jsonl}
steps:
  - name: js
    script:
      source: |
        function process(v) {
          return {id: v.id, user: v.user, minutes: v.duration_ms / 60000, hd: v.bitrate >= 3000, country: v.country.toLowerCase()};
        }
outputs:
  out: {type: stdout}
`

// benchViews are n records of about 300 bytes of JSON each, decoded as a
// file input decodes them.
func benchViews(b *testing.B, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		line := fmt.Sprintf(`{"id":%d,"user":"user-%06d","title":"The Long Title of Episode %d","country":"DE","device":"android-tv","ts":"2026-03-01T12:%02d:%02dZ","duration_ms":%d,"bitrate":%d,"cdn":"edge-%02d.cdn.example.net","session":"%016x","player":"weir-player/7.1.3"}`,
			i, i%100000, i%1000, i%60, i%60, 1000+i%3600000, 1000+i%6000, i%40, i*7919)
		r, err := format.JSONRecord().Decode([]byte(line))
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
	}
	return recs
}

// goMap is the script's work written in Go: the peer of the script.
func goMap(v Record) Record {
	out := make(Record, 5)
	out["id"] = v["id"]
	out["user"] = v["user"]
	if d, ok := v["duration_ms"].(int64); ok {
		out["minutes"] = float64(d) / 60000
	}
	if br, ok := v["bitrate"].(int64); ok {
		out["hd"] = br >= 3000
	}
	if c, ok := v["country"].(string); ok {
		out["country"] = strings.ToLower(c)
	}
	return out
}

func benchJob(b *testing.B, recs []Record, step func(weir.Stream[Record]) weir.Stream[Record]) {
	env := weir.New(weir.Parallelism(1))
	var n atomic.Int64
	weir.To(step(weir.From(env, weir.Slice(recs...))), countSink{&n})
	b.ResetTimer()
	cpu0 := cpuSeconds()
	if err := env.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "records/CPU-s")
	if n.Load() != int64(b.N) {
		b.Fatalf("%d records out of %d", n.Load(), b.N)
	}
}

// BenchmarkScriptMapJob runs the script step in a job at parallelism 1: a
// slice of 300-byte view records, the script (its round-robin deal, the
// keyed exchange, the JavaScript call and the conversions both ways) and
// a sink that counts.
func BenchmarkScriptMapJob(b *testing.B) {
	p, err := Parse("bench.yaml", []byte(benchScript), Options{})
	if err != nil {
		b.Fatal(err)
	}
	recs := benchViews(b, b.N)
	s := p.Steps[0]
	benchJob(b, recs, func(in weir.Stream[Record]) weir.Stream[Record] { return s.spec.build(&builder{}, s, in) })
}

// BenchmarkGoMapJob is the same job with the script's work written in Go
// (weir.Map): the ceiling the script is measured against.
func BenchmarkGoMapJob(b *testing.B) {
	recs := benchViews(b, b.N)
	benchJob(b, recs, func(in weir.Stream[Record]) weir.Stream[Record] { return weir.Map(in, goMap) })
}

// BenchmarkScriptCall measures one call alone: the record made a
// JavaScript object, process, and its result made a record.
func BenchmarkScriptCall(b *testing.B) {
	p, err := Parse("bench.yaml", []byte(benchScript), Options{})
	if err != nil {
		b.Fatal(err)
	}
	st := p.Steps[0].spec.(*scriptStep)
	sb := newSandbox(nil, st.timeout, nil)
	defer sb.close()
	proc, err := sb.load(st.first.prog, st.name)
	if err != nil {
		b.Fatal(err)
	}
	f := &scriptFn[int64]{step: st}
	recs := benchViews(b, 1024)
	var got int
	out := outFunc(func(Record) { got++ })
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		res, err := sb.call(proc, sb.rt.NewDynamicObject(&recordObject{sb: sb, rec: recs[i&1023]}))
		if err != nil {
			b.Fatal(err)
		}
		if err := f.emit(res, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "records/CPU-s")
	if got != b.N {
		b.Fatalf("%d records out of %d", got, b.N)
	}
}

type outFunc func(Record)

func (f outFunc) Emit(r Record) { f(r) }
