package bench

import (
	"context"
	"flag"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/queries"
)

var (
	bpDuration = flag.Duration("bp.duration", 40*time.Second, "how long each run of BenchmarkCheckpointUnderBackpressure lasts")
	bpInterval = flag.Duration("bp.interval", 3*time.Second, "checkpoint interval of BenchmarkCheckpointUnderBackpressure")
)

// BenchmarkCheckpointUnderBackpressure runs a job whose 1 ms-per-record sink
// sits two full exchanges behind a 100 000 records/s source, once per
// iteration and per queue configuration, interleaved, and reports each
// configuration's checkpoint durations (min, median, max) and the sink's
// rate: the defaults (DefaultInFlightTarget, as the job takes checkpoints),
// the fixed bound of QueueCapacity full batches (InFlightTarget(0)), and a
// smaller fixed bound. Use -benchtime 1x; each run lasts -bp.duration.
func BenchmarkCheckpointUnderBackpressure(b *testing.B) {
	configs := []struct {
		name string
		opts []weir.Option
	}{
		{"default", nil},
		{"inflight-off", []weir.Option{weir.InFlightTarget(0)}},
		{"queue2-batch64", []weir.Option{weir.QueueCapacity(2), weir.BatchSize(64), weir.InFlightTarget(0)}},
	}
	took := make([][]time.Duration, len(configs))
	written := make([]int64, len(configs))
	elapsed := make([]time.Duration, len(configs))
	for b.Loop() {
		for i, c := range configs {
			r, err := CheckpointsUnderBackpressure(*bpDuration, 2, 100_000, *bpInterval, b.TempDir(), c.opts...)
			if err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			b.Logf("%s: %d checkpoints %v; sink wrote %d records in %v", c.name, len(r.Took), r.Took, r.Written, r.Elapsed.Round(time.Millisecond))
			took[i] = append(took[i], r.Took...)
			written[i] += r.Written
			elapsed[i] += r.Elapsed
		}
	}
	for i, c := range configs {
		t := slices.Clone(took[i])
		slices.Sort(t)
		if len(t) == 0 {
			b.Logf("%s: no checkpoint completed", c.name)
			continue
		}
		b.ReportMetric(t[0].Seconds(), c.name+"-min-s")
		b.ReportMetric(t[len(t)/2].Seconds(), c.name+"-p50-s")
		b.ReportMetric(t[len(t)-1].Seconds(), c.name+"-max-s")
		b.ReportMetric(float64(written[i])/elapsed[i].Seconds(), c.name+"-sink-rec/s")
	}
}

var iftEvents = flag.Int64("ift.events", 4_000_000, "Nexmark events of each query run in BenchmarkInFlightTargetCost")

// BenchmarkInFlightTargetCost measures what InFlightTarget(time.Second)
// costs a job that is not backpressured: the keyed count and tumbling
// window jobs (no checkpoints) and Nexmark q5 and q7 at parallelism 2 with
// a checkpoint every second, each run once with the target off and once
// with it on per iteration, the order alternating between iterations. It
// reports each workload's median rate per core with the target off and the
// median of the on/off ratios of the pairs; the ratio is what to read on a
// shared machine.
func BenchmarkInFlightTargetCost(b *testing.B) {
	off, on := weir.InFlightTarget(0), weir.InFlightTarget(time.Second)
	work := []struct {
		name string
		run  func(opt weir.Option) float64 // records per CPU second
	}{
		{"keyed-count", func(opt weir.Option) float64 {
			r, _, err := KeyedCount(benchRecords, 2, opt)
			if err != nil {
				b.Fatal(err)
			}
			return r.PerCore()
		}},
		{"tumbling", func(opt weir.Option) float64 {
			r, _, err := TumblingWindowCount(benchRecords, 2, opt)
			if err != nil {
				b.Fatal(err)
			}
			return r.PerCore()
		}},
		{"q5", func(opt weir.Option) float64 { return nexmarkPerCore(b, "q5", opt) }},
		{"q7", func(opt weir.Option) float64 { return nexmarkPerCore(b, "q7", opt) }},
	}
	offRates := make([][]float64, len(work))
	ratios := make([][]float64, len(work))
	iter := 0
	for b.Loop() {
		for i, w := range work {
			var r0, r1 float64
			if iter%2 == 0 {
				r0, r1 = w.run(off), w.run(on)
			} else {
				r1, r0 = w.run(on), w.run(off)
			}
			b.Logf("%s: off %.0f, on %.0f records/s per core (%.3f)", w.name, r0, r1, r1/r0)
			offRates[i] = append(offRates[i], r0)
			ratios[i] = append(ratios[i], r1/r0)
		}
		iter++
	}
	for i, w := range work {
		b.ReportMetric(median(offRates[i]), w.name+"-off-rec/s/core")
		b.ReportMetric(median(ratios[i]), w.name+"-on/off")
	}
}

// nexmarkPerCore runs Nexmark query name at parallelism 2 on -ift.events
// generated events with a checkpoint every second and returns its events
// per CPU second.
func nexmarkPerCore(b *testing.B, name string, opt weir.Option) float64 {
	q, ok := queries.ByName(name)
	if !ok {
		b.Fatalf("no Nexmark query %q", name)
	}
	cfg := nexmark.DefaultConfig()
	cfg.Events = *iftEvents
	runtime.GC()
	res, err := job.Run(context.Background(), q, job.Options{
		Generator: cfg, Parallelism: 2, CheckpointDir: b.TempDir(), CheckpointInterval: time.Second,
		EnvOptions: []weir.Option{opt},
	})
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return res.EventsPerCoreSecond()
}
