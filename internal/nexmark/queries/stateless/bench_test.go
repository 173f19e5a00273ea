package stateless

import (
	"testing"

	"github.com/weirstream/weir/internal/nexmark"
	"github.com/weirstream/weir/internal/nexmark/job"
)

// benchEvents is how many generated events one benchmark run reads.
const benchEvents = 2_000_000

// BenchmarkQueries runs each query on benchEvents generated events at the
// default tps and parallelism 1, rows discarded (counted, not encoded, as
// Flink's blackhole sink), and reports events per second of CPU time of
// the whole process (generator included). One iteration is a whole run;
// use -benchtime=1x for a quick figure.
func BenchmarkQueries(b *testing.B) {
	for _, q := range []job.Query{Q0, Q1, Q2, Q10, Q13, Q14, Q21, Q22} {
		b.Run(q.Name, func(b *testing.B) {
			cfg := nexmark.DefaultConfig()
			cfg.Events = benchEvents
			var events, rows int64
			var cpu, wall float64
			for b.Loop() {
				r, err := job.Run(b.Context(), q, job.Options{Generator: cfg, Parallelism: 1})
				if err != nil {
					b.Fatal(err)
				}
				if r.Events != benchEvents {
					b.Fatalf("%s read %d events, want %d", q.Name, r.Events, benchEvents)
				}
				events += r.Events
				rows += r.Rows
				cpu += r.CPU.Seconds()
				wall += r.Elapsed.Seconds()
			}
			b.ReportMetric(float64(events)/cpu, "events/core-s")
			b.ReportMetric(float64(events)/wall, "events/s")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/run")
		})
	}
}
