package bench

import (
	"flag"
	"slices"
	"testing"
	"time"
)

var cpRecords = flag.Int64("cp.records", 60_000_000, "records per run of BenchmarkCheckpointCost")

// BenchmarkCheckpointCost runs the keyed count without checkpoints, with one
// every 10 s and with one every 1 s, interleaved, once per iteration (use
// -benchtime 5x for five triples), and reports the median throughput ratio
// of each interval to none and the checkpoint durations' p50 and p99.
func BenchmarkCheckpointCost(b *testing.B) {
	var r10, r1 []float64
	var took []time.Duration
	for b.Loop() {
		none, _, _, err := KeyedCountCheckpointed(*cpRecords, 2, 0, "")
		if err != nil {
			b.Fatal(err)
		}
		ten, _, t10, err := KeyedCountCheckpointed(*cpRecords, 2, 10*time.Second, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		one, _, t1, err := KeyedCountCheckpointed(*cpRecords, 2, time.Second, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		r10 = append(r10, ten.PerCore()/none.PerCore())
		r1 = append(r1, one.PerCore()/none.PerCore())
		took = append(append(took, t10...), t1...)
		b.Logf("none %v | 10s %v, %d checkpoints | 1s %v, %d checkpoints", none, ten, len(t10), one, len(t1))
	}
	b.ReportMetric(median(r10), "ratio-10s")
	b.ReportMetric(median(r1), "ratio-1s")
	slices.Sort(took)
	if len(took) > 0 {
		b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(took[min(len(took)-1, len(took)*99/100)].Milliseconds()), "p99-ms")
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

var recoveryKeys = flag.Int64("recovery.keys", 1_000_000, "keys of BenchmarkRecovery's state")

// BenchmarkRecovery builds keyed state of about a hundred bytes per key in a
// checkpoint and measures restoring it.
func BenchmarkRecovery(b *testing.B) {
	dir := b.TempDir()
	size, err := BuildState(*recoveryKeys, 2, dir)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		d, err := Recover(*recoveryKeys, 2, dir)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(size)/1e6, "state-MB")
	b.ReportMetric(total.Seconds()/float64(b.N), "recovery-s")
}

// The checkpointed keyed count computes what the plain one does, and
// recovery restores every key.
func TestCheckpointedJobsComplete(t *testing.T) {
	_, got, took, err := KeyedCountCheckpointed(200_000, 2, 5*time.Millisecond, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ceil := KeyedCountCeiling(200_000); got != ceil || len(took) == 0 {
		t.Fatalf("totals %+v, ceiling %+v, %d checkpoints", got, ceil, len(took))
	}
	dir := t.TempDir()
	size, err := BuildState(10_000, 2, dir)
	if err != nil || size < 10_000*64 {
		t.Fatalf("state of %d bytes, %v", size, err)
	}
	if _, err := Recover(10_000, 1, dir); err != nil {
		t.Fatal(err)
	}
}
