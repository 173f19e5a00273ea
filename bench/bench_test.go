package bench

import (
	"testing"
)

// The engine's jobs compute what their ceilings compute.
func TestJobsMatchCeilings(t *testing.T) {
	const n = 200_000
	_, got, err := Passthrough(n)
	if err != nil {
		t.Fatal(err)
	}
	if _, want := PassthroughCeiling(n); got != want || want.Count == 0 {
		t.Fatalf("passthrough totals %+v, ceiling %+v", got, want)
	}
	for _, p := range []int{1, 2} {
		_, got, err := KeyedCount(n, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, want := KeyedCountCeiling(n); got != want || want.Count != Keys || want.ValSum != n {
			t.Fatalf("parallelism %d: keyed count totals %+v, ceiling %+v", p, got, want)
		}
	}
}

const benchRecords = 2_000_000

// report runs the ceiling and the engine once per iteration, interleaved so
// that both see the same machine, and reports both rates and their ratio.
func report(b *testing.B, engine func() Result, ceiling func() Result) {
	var e, c Result
	for b.Loop() {
		cr := ceiling()
		er := engine()
		c.Records += cr.Records
		c.CPU += cr.CPU
		e.Records += er.Records
		e.CPU += er.CPU
	}
	b.ReportMetric(e.PerCore(), "rec/s/core")
	b.ReportMetric(c.PerCore(), "ceiling-rec/s/core")
	b.ReportMetric(e.PerCore()/c.PerCore(), "ratio")
}

// BenchmarkPassthrough: generator → map → filter → map → sink, chained in
// one task.
func BenchmarkPassthrough(b *testing.B) {
	report(b, func() Result {
		r, _, err := Passthrough(benchRecords)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}, func() Result {
		r, _ := PassthroughCeiling(benchRecords)
		return r
	})
}

// BenchmarkKeyedCount: a generator at parallelism 2, a keyed exchange and a
// per-key count in keyed state at parallelism 2.
func BenchmarkKeyedCount(b *testing.B) {
	report(b, func() Result {
		r, _, err := KeyedCount(benchRecords, 2)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}, func() Result {
		r, _ := KeyedCountCeiling(benchRecords)
		return r
	})
}

// BenchmarkTumblingWindowCount: tumbling 1 s event-time windows counting
// per key, at parallelism 2, beside its hand-written ceiling.
func BenchmarkTumblingWindowCount(b *testing.B) {
	report(b, func() Result {
		r, _, err := TumblingWindowCount(benchRecords, 2)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}, func() Result {
		r, _ := TumblingWindowCountCeiling(benchRecords)
		return r
	})
}

// The window job counts what its ceiling counts.
func TestWindowJobMatchesCeiling(t *testing.T) {
	_, got, err := TumblingWindowCount(100_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, want := TumblingWindowCountCeiling(100_000); got != want || want.ValSum != 100_000 {
		t.Fatalf("totals %+v, ceiling %+v", got, want)
	}
}

// BenchmarkSlidingWindowCount: sliding 1 s event-time windows every 250
// ms counting per key, at parallelism 2, beside its hand-written ceiling.
func BenchmarkSlidingWindowCount(b *testing.B) {
	report(b, func() Result {
		r, _, err := SlidingWindowCount(benchRecords, 2)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}, func() Result {
		r, _ := SlidingWindowCountCeiling(benchRecords)
		return r
	})
}

// The sliding window job counts what its ceiling counts: every event in
// four windows.
func TestSlidingJobMatchesCeiling(t *testing.T) {
	_, got, err := SlidingWindowCount(100_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, want := SlidingWindowCountCeiling(100_000); got != want || want.ValSum != 4*100_000 {
		t.Fatalf("totals %+v, ceiling %+v", got, want)
	}
}

// BenchmarkSessionWindowCount: event-time sessions (150 ms gap) counting
// per key, at parallelism 2, beside its hand-written ceiling.
func BenchmarkSessionWindowCount(b *testing.B) {
	report(b, func() Result {
		r, _, err := SessionWindowCount(benchRecords, 2)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}, func() Result {
		r, _ := SessionWindowCountCeiling(benchRecords)
		return r
	})
}

// The session job counts what its ceiling counts.
func TestSessionJobMatchesCeiling(t *testing.T) {
	_, got, err := SessionWindowCount(100_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, want := SessionWindowCountCeiling(100_000); got != want {
		t.Fatalf("totals %+v, ceiling %+v", got, want)
	}
}

// BenchmarkIntervalJoin: an interval join of two generated streams at
// parallelism 2, beside its hand-written ceiling.
func BenchmarkIntervalJoin(b *testing.B) {
	report(b, func() Result {
		r, _, err := IntervalJoinCount(benchRecords, 2)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}, func() Result {
		r, _ := IntervalJoinCountCeiling(benchRecords)
		return r
	})
}

// The join job pairs what its ceiling pairs.
func TestJoinJobMatchesCeiling(t *testing.T) {
	_, got, err := IntervalJoinCount(100_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, want := IntervalJoinCountCeiling(100_000); got != want || want.Count == 0 {
		t.Fatalf("totals %+v, ceiling %+v", got, want)
	}
}
