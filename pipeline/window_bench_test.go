package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/pipeline"
)

// benchWindowRecords is the size of the JSON-lines file both jobs read.
const benchWindowRecords = 1_000_000

const benchWindowPipeline = `version: 1
inputs:
  txns:
    type: file
    path: ${env:IN}
    schema: {card: string, amount: int, city: string, ts: int}
    event_time: {field: ts, max_out_of_orderness: 5s}
steps:
  - name: big
    filter: amount > 10
  - name: slim
    project: {card: card, amount: amount}
  - name: per-card
    window:
      key: card
      tumbling: 1m
      aggregates: {n: count}
outputs:
  out: {type: stdout}
`

// benchTxn is the Go job's record: the same file decoded into a struct.
type benchTxn struct {
	Card   string `json:"card"`
	Amount int64  `json:"amount"`
	City   string `json:"city"`
	Ts     int64  `json:"ts"`
}

type slimTxn struct {
	Card   string
	Amount int64
}

// goCount counts a window's records.
type goCount struct{}

func (goCount) CreateAccumulator() int64     { return 0 }
func (goCount) Add(_ slimTxn, n int64) int64 { return n + 1 }
func (goCount) Result(n int64) int64         { return n }
func (goCount) Merge(a, b int64) int64       { return a + b }

var _ weir.AggregateFunction[slimTxn, int64, int64] = goCount{}

// goWindowJob is the benchmark's pipeline written in Go on the DataStream
// API: decode into a struct, filter, project, count per card per minute.
func goWindowJob(env *weir.Env, path string) error {
	src, err := file.JSONLinesSource(file.SourceConfig{Paths: []string{path}}, format.Decoder[benchTxn](format.JSON[benchTxn]()))
	if err != nil {
		return err
	}
	txns := weir.From(env, src, weir.EventTime(func(t benchTxn) time.Time { return time.UnixMilli(t.Ts) }, 5*time.Second))
	slim := weir.Map(txns.Filter(func(t benchTxn) bool { return t.Amount > 10 }), func(t benchTxn) slimTxn { return slimTxn{t.Card, t.Amount} })
	counts := weir.Aggregate[string, slimTxn, int64, int64](weir.Windowed(weir.KeyBy(slim, func(t slimTxn) string { return t.Card }), weir.TumblingEventTime(time.Minute)), goCount{})
	weir.To(counts, weir.Print(io.Discard, func(r weir.WindowResult[string, int64]) string {
		return fmt.Sprintf(`{"key":%q,"n":%d,"window_start":%q}`, r.Key, r.Value, r.Window.StartTime().UTC().Format(time.RFC3339))
	}))
	return nil
}

func cpuNow() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkWindowPipelineVsGo runs a YAML filter → project → tumbling
// count pipeline and the same job written in Go on the DataStream API,
// both reading the same JSON-lines file of a million records at
// parallelism 1, alternately, b.N times each. It reports each one's
// records per CPU second and the ratio YAML / Go of every pair (its
// median as yaml/go): the machine is shared, so pairs run back to back
// are compared rather than averages of runs far apart.
//
//	go test -run '^$' -bench WindowPipelineVsGo -benchtime 5x ./pipeline/
func BenchmarkWindowPipelineVsGo(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "txns.jsonl")
	var sb strings.Builder
	cities := []string{"paris", "lyon", "nice", "lille", "metz"}
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
	for i := range benchWindowRecords {
		fmt.Fprintf(&sb, `{"card":"c%d","amount":%d,"city":%q,"ts":%d}`+"\n", (i*7919)%100, (i*37)%101, cities[i%5], base+int64(i)*10-int64(i%7)*300)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := pipeline.Parse("bench.yaml", []byte(benchWindowPipeline), pipeline.Options{LookupEnv: func(string) (string, bool) { return path, true }})
	if err != nil {
		b.Fatal(err)
	}
	var yamlCPU, goCPU float64
	var ratios []float64
	b.ResetTimer()
	for range b.N {
		env := weir.New(weir.Parallelism(1))
		if _, err := p.Build(env, pipeline.Stdout(io.Discard)); err != nil {
			b.Fatal(err)
		}
		c0 := cpuNow()
		if err := env.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		y := cpuNow() - c0

		env = weir.New(weir.Parallelism(1))
		if err := goWindowJob(env, path); err != nil {
			b.Fatal(err)
		}
		c0 = cpuNow()
		if err := env.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		g := cpuNow() - c0
		yamlCPU, goCPU = yamlCPU+y, goCPU+g
		ratios = append(ratios, g/y) // (records/y) / (records/g)
	}
	slices.Sort(ratios)
	b.ReportMetric(float64(b.N*benchWindowRecords)/yamlCPU, "yaml-records/CPU-s")
	b.ReportMetric(float64(b.N*benchWindowRecords)/goCPU, "go-records/CPU-s")
	b.ReportMetric(ratios[len(ratios)/2], "yaml/go")
	b.Logf("yaml/go per pair: %.2f", ratios)
}
