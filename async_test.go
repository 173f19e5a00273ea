package weir_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// latencies returns a fixed pseudo-random latency of 0–3 ms per record, so
// requests complete out of input order.
func latencies(n int) []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(r.IntN(4)) * time.Millisecond
	}
	return out
}

// slowDouble is an enrichment that takes the latency of its record.
func slowDouble(lat []time.Duration) func(context.Context, int64) (int64, error) {
	return func(ctx context.Context, v int64) (int64, error) {
		select {
		case <-time.After(lat[v]):
			return 2 * v, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func doubled(n int64) []string {
	want := make([]int64, n)
	for i := range want {
		want[i] = 2 * int64(i)
	}
	return sorted(want)
}

// Ordered results leave in the order their inputs came, per subtask, even
// though requests complete in another order.
func TestAsyncMapOrdered(t *testing.T) {
	const n = 2000
	lat := latencies(n)
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint("parallelism ", p), func(t *testing.T) {
			env := weir.New(weir.Parallelism(p))
			// Split i holds the records ≡ i mod p, read by subtask i in
			// order; the async map is chained to it.
			src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: p, Count: n}, func(seq int64) int64 { return seq }))
			got := weir.Collect(weir.AsyncMap(src, slowDouble(lat), weir.AsyncCapacity(50)))
			run(t, env)
			vals := got.Values()
			if g := sorted(vals); !slices.Equal(g, doubled(n)) {
				t.Fatalf("got %d results, want 2·[0,%d)", len(g), n)
			}
			last := make([]int64, p)
			for i := range last {
				last[i] = -1
			}
			for _, v := range vals {
				split := (v / 2) % int64(p)
				if v <= last[split] {
					t.Fatalf("result %d after %d on split %d: out of input order", v, last[split], split)
				}
				last[split] = v
			}
		})
	}
}

// Unordered results are the same multiset as ordered ones.
func TestAsyncMapUnordered(t *testing.T) {
	const n = 2000
	lat := latencies(n)
	env := weir.New(weir.Parallelism(2))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 2, Count: n}, func(seq int64) int64 { return seq }))
	got := weir.Collect(weir.AsyncMap(src, slowDouble(lat), weir.AsyncUnordered(), weir.AsyncCapacity(50)))
	run(t, env)
	if g := sorted(got.Values()); !slices.Equal(g, doubled(n)) {
		t.Fatalf("got %d results, want 2·[0,%d) once each", len(g), n)
	}
	var in, out int64
	for _, m := range env.Metrics() {
		if m.Operator == "async-map" {
			in, out = in+m.In, out+m.Out
		}
	}
	if in != n || out != n {
		t.Fatalf("async-map counted in %d, out %d; want %d each", in, out, n)
	}
}

// A result carries its input's event time, and no result is overtaken by
// a watermark: an event-time window with no allowed lateness behind the
// async map counts every record and finds none late.
func TestAsyncMapEventTime(t *testing.T) {
	const n = 2000
	lat := latencies(n)
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprint("unordered ", unordered), func(t *testing.T) {
			opts := []weir.AsyncOption{weir.AsyncCapacity(20)}
			if unordered {
				opts = append(opts, weir.AsyncUnordered())
			}
			env := weir.New(weir.Parallelism(2))
			src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 4, Count: n}, func(seq int64) int64 { return seq }),
				weir.EventTime(func(v int64) time.Time { return time.UnixMilli(v) }, 0))
			enriched := weir.AsyncMap(src, slowDouble(lat), opts...)
			recs := weir.Collect(enriched)
			ws := weir.Windowed(weir.KeyBy(enriched, func(v int64) int64 { return v % 3 }), weir.TumblingEventTime(10*time.Millisecond))
			windows := weir.Collect(weir.Aggregate(ws, countInts{}))
			run(t, env)
			for _, r := range recs.Records() {
				if want := time.UnixMilli(r.Value / 2); !r.Time.Equal(want) {
					t.Fatalf("result %d has event time %v, want its input's %v", r.Value, r.Time, want)
				}
			}
			checkNoneLate(t, env, windows, n)
		})
	}
}

// checkNoneLate checks that the windows behind an async map counted all n
// records and found none late.
func checkNoneLate(t *testing.T, env *weir.Env, windows *weir.Collector[weir.WindowResult[int64, int64]], n int64) {
	t.Helper()
	var total, late int64
	for _, w := range windows.Values() {
		total += w.Value
	}
	for _, m := range env.Metrics() {
		late += m.Late
	}
	if total != n || late != 0 {
		t.Fatalf("windows counted %d records and %d late, want %d and none late", total, late, n)
	}
}

// No more requests than the capacity are in flight at once, per subtask.
func TestAsyncMapCapacity(t *testing.T) {
	const capacity = 5
	var cur, peak atomic.Int64
	env := weir.New(weir.Parallelism(1))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 300}, func(seq int64) int64 { return seq }))
	got := weir.Collect(weir.AsyncMap(src, func(ctx context.Context, v int64) (int64, error) {
		c := cur.Add(1)
		defer cur.Add(-1)
		for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		return v, nil
	}, weir.AsyncCapacity(capacity)))
	run(t, env)
	if len(got.Values()) != 300 {
		t.Fatalf("got %d results, want 300", len(got.Values()))
	}
	if p := peak.Load(); p > capacity || p < 2 {
		t.Fatalf("at most %d requests were in flight, want 2 to %d", p, capacity)
	}
}

// A watermark does not make the operator wait for the requests before it:
// with a watermark after every record, later records' requests start while
// the first one is still in flight, and the watermark follows the results
// (an event-time window behind finds nothing late).
func TestAsyncMapDoesNotWaitAtWatermarks(t *testing.T) {
	const n, ahead = 300, 50
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprint("unordered ", unordered), func(t *testing.T) {
			var started atomic.Int64
			enough := make(chan struct{}) // closed when the request after ahead more starts
			opts := []weir.AsyncOption{weir.AsyncCapacity(100)}
			if unordered {
				opts = append(opts, weir.AsyncUnordered())
			}
			env := weir.New(weir.BatchSize(1)) // a poll, and a watermark, per record
			src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n}, func(seq int64) int64 { return seq }),
				weir.EventTime(func(v int64) time.Time { return time.UnixMilli(v) }, 0))
			enriched := weir.AsyncMap(src, func(ctx context.Context, v int64) (int64, error) {
				if started.Add(1) == ahead+1 {
					close(enough)
				}
				if v != 0 {
					return v, nil
				}
				// Record 0 completes only once the requests of the records
				// after it, and after their watermarks, have started.
				select {
				case <-enough:
					return v, nil
				case <-time.After(5 * time.Second): // before the default AsyncTimeout
					return 0, fmt.Errorf("only %d requests started while record 0 was in flight", started.Load())
				}
			}, opts...)
			recs := weir.Collect(enriched)
			ws := weir.Windowed(weir.KeyBy(enriched, func(v int64) int64 { return v % 3 }), weir.TumblingEventTime(10*time.Millisecond))
			windows := weir.Collect(weir.Aggregate(ws, countInts{}))
			run(t, env)
			if got := len(recs.Values()); got != n {
				t.Fatalf("got %d results, want %d", got, n)
			}
			checkNoneLate(t, env, windows, n)
		})
	}
}

// A subtask whose input goes idle while a request is in flight does not go
// idle before the result is out: a window behind it, which also reads an
// input that keeps going, waits for the result instead of firing past it
// and finding it late.
func TestAsyncMapNotIdleWhileHolding(t *testing.T) {
	out := &output{added: make(chan struct{}, 1)}
	env := weir.New(weir.Parallelism(1), weir.BatchSize(2))
	at := func(r rec) time.Time { return time.UnixMilli(r.Ts) }
	// a: one record whose request takes 500 ms, then nothing (idle after
	// 20 ms) until y's first window is out; then both inputs end.
	a := weir.From(env, &scriptSource{in: &scriptInput{name: "a", items: []scriptItem{
		{op: "rec", key: "x", value: 500, ts: 100},
		{op: "await", line: "y [0,1000) 10"},
	}}, out: out}, weir.EventTime(at, 0), weir.IdleTimeout(20*time.Millisecond))
	slow := weir.AsyncMap(a, sleepValue)
	// b: y at 0, 100, …, 1900 ms at once, so its watermark passes 1 s of
	// event time while x's request is in flight; then it waits too.
	var bItems []scriptItem
	for ts := int64(0); ts < 2000; ts += 100 {
		bItems = append(bItems, scriptItem{op: "rec", key: "y", value: 1, ts: ts})
	}
	bItems = append(bItems, scriptItem{op: "await", line: "y [0,1000) 10"})
	b := weir.From(env, &scriptSource{in: &scriptInput{name: "b", items: bItems}, out: out}, weir.EventTime(at, 0))
	lateRecs := weir.NewOutputTag[rec]("late")
	ws := weir.Windowed(weir.KeyBy(weir.Union(slow, b), func(r rec) string { return r.Key }),
		weir.TumblingEventTime(time.Second), weir.LateData(lateRecs))
	sums := weir.Aggregate(ws, sumAgg{})
	weir.To(weir.Map(sums, func(r weir.WindowResult[string, int64]) string {
		return fmt.Sprintf("%s %v %d", r.Key, r.Window, r.Value)
	}), sinkFunc[string](func(s string) { out.add(s) }))
	weir.To(weir.Map(weir.SideOutput(sums, lateRecs), func(r rec) string {
		return fmt.Sprintf("late %s %d @%d", r.Key, r.Value, r.Ts)
	}), sinkFunc[string](func(s string) { out.add(s) }))
	run(t, env)
	got := sorted(out.lines)
	want := []string{"x [0,1000) 500", "y [0,1000) 10", "y [1000,2000) 10"}
	if !slices.Equal(got, want) {
		t.Fatalf("output %v, want %v", got, want)
	}
}

// In input order, completed results waiting behind an earlier record count
// towards the capacity: no more than the capacity of records are held, so
// a slow request bounds memory rather than letting results pile up.
func TestAsyncMapCapacityBoundsWaitingResults(t *testing.T) {
	const capacity = 5
	var started atomic.Int64
	tooMany := make(chan struct{}) // closed when request capacity+1 starts
	env := weir.New(weir.Parallelism(1))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 100}, func(seq int64) int64 { return seq }))
	got := weir.Collect(weir.AsyncMap(src, func(ctx context.Context, v int64) (int64, error) {
		if started.Add(1) == capacity+1 {
			close(tooMany)
		}
		if v != 0 {
			return v, nil
		}
		// While record 0 is in flight, only the records that fit beside it
		// may start: watch for one more over 100 ms, which would start at
		// once if the capacity did not count the waiting results.
		select {
		case <-tooMany:
			return 0, fmt.Errorf("request %d started while record 0 was in flight, capacity %d", capacity+1, capacity)
		case <-time.After(100 * time.Millisecond):
			return v, nil
		}
	}, weir.AsyncCapacity(capacity)))
	run(t, env)
	if len(got.Values()) != 100 {
		t.Fatalf("got %d results, want 100", len(got.Values()))
	}
}

// Canceling the job cancels the requests in flight at once, whatever their
// timeout, and a request that failed because of it is not a bad record:
// nothing goes to the dead letters.
func TestAsyncMapCanceledJobCancelsRequests(t *testing.T) {
	dlq := filepath.Join(t.TempDir(), "dead")
	env := weir.New(weir.OnError(weir.DeadLetter), weir.DeadLetters(dlq))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 1000}, func(seq int64) int64 { return seq }))
	started := make(chan struct{}, 1000)
	weir.Collect(weir.AsyncMap(src, func(ctx context.Context, v int64) (int64, error) {
		started <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}, weir.AsyncTimeout(time.Hour), weir.AsyncCapacity(10)))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- env.Run(ctx) }()
	<-started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of the cancel")
	}
	if letters := readDeadLetters(t, dlq); len(letters) > 0 {
		t.Fatalf("dead letters after a cancel:\n%s", strings.Join(letters, "\n"))
	}
}

// flaky fails the first attempt for record bad, hangs the second until its
// timeout and succeeds on the third; every other record succeeds at once.
func flaky(bad int64, attempts *atomic.Int32) func(context.Context, int64) (int64, error) {
	return func(ctx context.Context, v int64) (int64, error) {
		if v != bad {
			return v, nil
		}
		switch attempts.Add(1) {
		case 1:
			return 0, errors.New("unavailable")
		case 2:
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return v, nil
	}
}

func TestAsyncMapRetries(t *testing.T) {
	items := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	t.Run("enough retries", func(t *testing.T) {
		var attempts atomic.Int32
		env := weir.New()
		src := weir.From(env, weir.Slice(items...))
		got := weir.Collect(weir.AsyncMap(src, flaky(3, &attempts),
			weir.AsyncRetries(2, time.Millisecond), weir.AsyncTimeout(20*time.Millisecond)))
		run(t, env)
		if g := got.Values(); !slices.Equal(g, items) {
			t.Fatalf("got %v, want %v", g, items)
		}
		if a := attempts.Load(); a != 3 {
			t.Fatalf("record 3 took %d attempts, want 3", a)
		}
	})
	t.Run("too few retries", func(t *testing.T) {
		var attempts atomic.Int32
		env := weir.New()
		src := weir.From(env, weir.Slice(items...))
		weir.Collect(weir.AsyncMap(src, flaky(3, &attempts),
			weir.AsyncRetries(1, time.Millisecond), weir.AsyncTimeout(20*time.Millisecond)).Name("enrich"))
		err := env.Run(context.Background())
		var oe *weir.OperatorError
		if !errors.As(err, &oe) {
			t.Fatalf("Run = %v, want an *OperatorError", err)
		}
		if oe.Operator != "enrich" || oe.Origin == nil || oe.Origin.Offset != 3 {
			t.Fatalf("error %v: want operator enrich and the origin of record 3", err)
		}
		if !errors.Is(err, weir.ErrAsyncTimeout) {
			t.Fatalf("error %v: want the timeout of the last attempt", err)
		}
	})
	t.Run("skip policy", func(t *testing.T) {
		var attempts atomic.Int32
		env := weir.New()
		src := weir.From(env, weir.Slice(items...))
		got := weir.Collect(weir.AsyncMap(src, flaky(3, &attempts), weir.AsyncTimeout(20*time.Millisecond)).OnError(weir.Skip))
		run(t, env)
		want := slices.DeleteFunc(slices.Clone(items), func(v int64) bool { return v == 3 })
		if g := got.Values(); !slices.Equal(g, want) {
			t.Fatalf("got %v, want %v", g, want)
		}
	})
}

// Options out of range are reported before the job runs.
func TestAsyncMapBadOptions(t *testing.T) {
	env := weir.New()
	src := weir.From(env, weir.Slice[int64](1))
	weir.Collect(weir.AsyncMap(src, func(context.Context, int64) (int64, error) { return 0, nil },
		weir.AsyncCapacity(0), weir.AsyncTimeout(-time.Second)))
	err := env.Validate()
	if err == nil || !strings.Contains(err.Error(), "AsyncCapacity") || !strings.Contains(err.Error(), "AsyncTimeout") {
		t.Fatalf("Validate = %v, want errors naming AsyncCapacity and AsyncTimeout", err)
	}
}

// asyncCountJob reads n numbers, enriches them slowly enough that requests
// are in flight at every barrier, may fail after a checkpoint completed,
// and counts per key with exactly-once keyed state: the counts are exact
// only if every request in flight at the restored checkpoint was sent again.
func asyncCountJob(dir string, n int64, p int, calls *atomic.Int64, fail bool, opts ...weir.Option) (*weir.Env, *weir.Collector[string]) {
	env := weir.New(append([]weir.Option{weir.Parallelism(p), weir.Checkpoints(5*time.Millisecond, dir)}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 3, Count: n, Rate: 20000}, func(seq int64) int64 { return seq })).ID("numbers")
	enriched := weir.AsyncMap(src, func(ctx context.Context, v int64) (int64, error) {
		calls.Add(1)
		select {
		case <-time.After(time.Millisecond):
			return v, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}, weir.AsyncCapacity(20)).ID("enrich")
	var seen atomic.Int64
	checked := weir.TryMap(enriched, func(v int64) (int64, error) {
		if fail && seen.Add(1) > n/3 && completedCheckpoints(dir) > 0 {
			return 0, errInjected
		}
		return v, nil
	}).ID("maybe-fail")
	counts := weir.Process(weir.KeyBy(checked, func(v int64) int64 { return v % 10 }), &finalCount{}).ID("count")
	return env, weir.Collect(counts)
}

// A job whose async requests are in flight at its checkpoints fails and is
// restored: the requests in flight at the checkpoint are sent again, so no
// input is lost (nor counted twice by the exactly-once keyed state).
func TestAsyncMapRestoreLosesNothing(t *testing.T) {
	const n = 3000
	for _, tc := range []struct{ first, second int }{{1, 1}, {2, 1}, {1, 2}} {
		t.Run(fmt.Sprintf("parallelism %d to %d", tc.first, tc.second), func(t *testing.T) {
			dir := t.TempDir()
			var calls atomic.Int64
			env, _ := asyncCountJob(dir, n, tc.first, &calls, true)
			if err := env.Run(context.Background()); !errors.Is(err, errInjected) {
				t.Fatalf("first run: %v, want the injected failure", err)
			}
			env, got := asyncCountJob(dir, n, tc.second, &calls, false, weir.Restore("latest"))
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("restored run: %v", err)
			}
			if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
				t.Fatalf("counts after restore %v, want %v", g, wantCounts(n))
			}
			// The restored run's async map balances: what it took in, the
			// requests it issued again included, it emitted.
			var in, out int64
			for _, m := range env.Metrics() {
				if m.ID == "enrich" {
					in, out = in+m.In, out+m.Out
				}
			}
			if in != out || in == 0 {
				t.Fatalf("restored async map took in %d records and emitted %d", in, out)
			}
			t.Logf("%d calls for %d records", calls.Load(), n)
		})
	}
}
