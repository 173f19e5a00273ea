package bench

import (
	"flag"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

var (
	bpDuration = flag.Duration("bp.duration", 40*time.Second, "how long each run of BenchmarkCheckpointUnderBackpressure lasts")
	bpInterval = flag.Duration("bp.interval", 3*time.Second, "checkpoint interval of BenchmarkCheckpointUnderBackpressure")
)

// BenchmarkCheckpointUnderBackpressure runs a job whose 1 ms-per-record sink
// sits two full exchanges behind a 100 000 records/s source, once per
// iteration and per queue configuration, interleaved, and reports each
// configuration's checkpoint durations (min, median, max) and the sink's
// rate. Use -benchtime 1x; each run lasts -bp.duration.
func BenchmarkCheckpointUnderBackpressure(b *testing.B) {
	configs := []struct {
		name string
		opts []weir.Option
	}{
		{"default", nil},
		{"inflight-1s", []weir.Option{weir.InFlightTarget(time.Second)}},
		{"queue2-batch64", []weir.Option{weir.QueueCapacity(2), weir.BatchSize(64)}},
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
