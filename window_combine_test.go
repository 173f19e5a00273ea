package weir_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// ooRec is a record of the local-aggregation tests: a key, an event time
// in milliseconds and a value.
type ooRec struct{ K, Ts, V int64 }

// ooGen returns the generator of record seq: ten keys, event time five
// records a millisecond with up to jitter ms of disorder, drawn from a
// SplitMix64-style mix of seq and seed.
func ooGen(seed, jitter int64) func(int64) ooRec {
	return func(seq int64) ooRec {
		h := uint64(seq)*0x9e3779b97f4a7c15 ^ uint64(seed)*0xbf58476d1ce4e5b9
		h ^= h >> 29
		h *= 0x94d049bb133111eb
		h ^= h >> 32
		return ooRec{K: int64(h % 10), Ts: 1000 + seq/5 - int64(h>>8)%(jitter+1), V: seq % 97}
	}
}

// ooSum sums values.
type ooSum struct{}

func (ooSum) CreateAccumulator() int64     { return 0 }
func (ooSum) Add(r ooRec, acc int64) int64 { return acc + r.V }
func (ooSum) Result(acc int64) int64       { return acc }
func (ooSum) Merge(a, b int64) int64       { return a + b }
func ooTime(r ooRec) time.Time             { return time.UnixMilli(r.Ts) }
func ooKey(r ooRec) int64                  { return r.K }
func ooLine(r weir.WindowResult[int64, int64]) string {
	return fmt.Sprintf("%d %v %d", r.Key, r.Window, r.Value)
}

// ooJob is n generated records with the given disorder, read at
// parallelism 1 from two splits (so each window subtask sees one channel
// and its watermarks and lateness are the same in every run), summed in
// windows at parallelism 2. The watermark moves after each round of polls
// (512 records, about 100 ms of event time), so records more than that
// out of order can be late. The watermark interval is long, so that a
// poll slowed down by backpressure (a slow state backend, a busy machine)
// does not send a watermark part way through: lateness depends on the
// records alone.
func ooJob(n, seed, jitter int64, a weir.WindowAssigner, opts []weir.WindowOption[ooRec]) (*weir.Env, *weir.Collector[string]) {
	env := weir.New(weir.Parallelism(2), weir.WatermarkInterval(time.Hour))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Splits: 2}, ooGen(seed, jitter)),
		weir.EventTime(ooTime, 20*time.Millisecond)).Parallelism(1).ID("records")
	sums := weir.Aggregate(weir.Windowed(weir.KeyBy(src, ooKey), a, opts...), ooSum{}).Parallelism(2).ID("sums")
	return env, weir.Collect(weir.Map(sums, ooLine).ID("lines"))
}

// runOO runs a job and returns its sorted output and what the window
// operator counted late.
func runOO(t *testing.T, env *weir.Env, got *weir.Collector[string]) ([]string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var late int64
	for _, m := range env.Metrics() {
		late += m.Late
	}
	out := got.Values()
	slices.Sort(out)
	return out, late
}

var ooAssigners = map[string]weir.WindowAssigner{
	"tumbling": weir.TumblingEventTime(100 * time.Millisecond),
	"sliding":  weir.SlidingEventTime(100*time.Millisecond, 25*time.Millisecond),
	"sliding3": weir.SlidingEventTime(90*time.Millisecond, 30*time.Millisecond),
	"sessions": weir.EventTimeSessions(5 * time.Millisecond),
}

// Local aggregation changes what crosses the exchange, not what a window
// emits: on out-of-order input with late records, with and without allowed
// lateness, every result (re-firings included) and every late count is the
// same as when records cross one by one.
func TestLocalAggregationMatchesRecordByRecord(t *testing.T) {
	const n = 20_000
	for name, a := range ooAssigners {
		for _, lateness := range []time.Duration{0, 40 * time.Millisecond} {
			for seed := range int64(3) {
				t.Run(fmt.Sprintf("%s/lateness=%v/seed=%d", name, lateness, seed), func(t *testing.T) {
					opts := []weir.WindowOption[ooRec]{weir.AllowedLateness[ooRec](lateness)}
					env, got := ooJob(n, seed, 300, a, opts)
					gotOut, gotLate := runOO(t, env, got)
					var in, out int64
					for _, m := range env.Metrics() {
						if m.Operator == "window-combine" {
							in, out = in+m.In, out+m.Out
						}
					}
					if in != n || out >= in {
						t.Errorf("combiner took %d records and sent %d; want all %d in and fewer out", in, out, n)
					}
					env, want := ooJob(n, seed, 300, a, append(opts, weir.WithoutLocalAggregation[ooRec]()))
					wantOut, wantLate := runOO(t, env, want)
					if !slices.Equal(gotOut, wantOut) {
						t.Fatalf("results differ from record-by-record windows:\n%s", weir.DiffLines(gotOut, wantOut))
					}
					if gotLate != wantLate || wantLate == 0 {
						t.Fatalf("late records %d, record by record %d (want equal and some)", gotLate, wantLate)
					}
				})
			}
		}
	}
}

// A job stopped with a savepoint part way and restored at another
// parallelism emits, over both runs, what an uninterrupted run emits: what
// the combiner held went downstream before the savepoint's barrier. The
// window's state is the same with and without local aggregation, so the
// restored run may turn it off or on.
func TestLocalAggregationAcrossSavepoint(t *testing.T) {
	const n = 20_000
	for name, a := range ooAssigners {
		for _, localFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/local-first=%v", name, localFirst), func(t *testing.T) {
				env, want := ooJob(n, 1, 15, a, []weir.WindowOption[ooRec]{weir.WithoutLocalAggregation[ooRec]()})
				wantOut, _ := runOO(t, env, want)
				opts := func(local bool) []weir.WindowOption[ooRec] {
					if local {
						return nil
					}
					return []weir.WindowOption[ooRec]{weir.WithoutLocalAggregation[ooRec]()}
				}

				dir := t.TempDir()
				stop := make(chan struct{})
				var once sync.Once
				env = weir.New(weir.Parallelism(2), weir.Checkpoints(time.Hour, dir), weir.StopOn(stop))
				gen := ooGen(1, 15)
				src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Splits: 2, Rate: 40_000}, gen),
					weir.EventTime(ooTime, 20*time.Millisecond)).Parallelism(1).ID("records")
				seen := weir.Map(src, func(r ooRec) ooRec {
					if r.Ts > 1000+n/10 {
						once.Do(func() { close(stop) })
					}
					return r
				}).ID("watch")
				sums := weir.Aggregate(weir.Windowed(weir.KeyBy(seen, ooKey), a, opts(localFirst)...), ooSum{}).Parallelism(2).ID("sums")
				first := weir.Collect(weir.Map(sums, ooLine).ID("lines"))
				firstOut, _ := runOO(t, env, first)

				env = weir.New(weir.Parallelism(3), weir.Checkpoints(time.Hour, dir), weir.Restore("latest"))
				src = weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Splits: 2}, gen),
					weir.EventTime(ooTime, 20*time.Millisecond)).Parallelism(1).ID("records")
				seen = weir.Map(src, func(r ooRec) ooRec { return r }).ID("watch")
				sums = weir.Aggregate(weir.Windowed(weir.KeyBy(seen, ooKey), a, opts(!localFirst)...), ooSum{}).ID("sums")
				second := weir.Collect(weir.Map(sums, ooLine).ID("lines"))
				secondOut, _ := runOO(t, env, second)

				if len(firstOut) == 0 || len(secondOut) == 0 {
					t.Fatalf("%d results before the stop and %d after; want some of each", len(firstOut), len(secondOut))
				}
				all := append(firstOut, secondOut...)
				slices.Sort(all)
				if !slices.Equal(all, wantOut) {
					t.Fatalf("results over both runs differ from an uninterrupted run:\n%s", weir.DiffLines(all, wantOut))
				}
			})
		}
	}
}

// A window with a late-data output keeps the records: it does not
// aggregate locally.
func TestLateDataWindowsDoNotCombine(t *testing.T) {
	env := weir.New()
	src := weir.From(env, weir.Slice(ooRec{K: 1, Ts: 5, V: 1}), weir.EventTime(ooTime, 0))
	late := weir.NewOutputTag[ooRec]("late")
	weir.Collect(weir.Aggregate(weir.Windowed(weir.KeyBy(src, ooKey), weir.TumblingEventTime(time.Second), weir.LateData(late)), ooSum{}))
	plan, err := env.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plan, "window-combine") {
		t.Fatalf("plan has a combiner:\n%s", plan)
	}
}

// idleSplits is a source of two splits: split 0 emits 1@100 and 1@5000,
// then, to stay active, 2@5000 with value 0 on every poll until fired is
// closed; split 1 emits nothing until fired is closed, so that it goes idle,
// then 1@500 with value 7.
type idleSplits struct{ fired chan struct{} }

func (s idleSplits) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}, {ID: "1"}}, nil
}
func (s idleSplits) Bounded() bool { return true }
func (s idleSplits) OpenSplit(_ context.Context, sp weir.Split, _ []byte) (weir.SplitReader[ooRec], error) {
	r := &idleReader{fired: s.fired}
	if sp.ID == "0" {
		r.recs = []ooRec{{K: 1, Ts: 100, V: 1}, {K: 1, Ts: 5000, V: 1}}
		r.keep = &ooRec{K: 2, Ts: 5000}
	} else {
		r.late = []ooRec{{K: 1, Ts: 500, V: 7}}
	}
	return r, nil
}

type idleReader struct {
	fired      chan struct{}
	recs, late []ooRec
	keep       *ooRec
}

func (r *idleReader) Poll(out weir.SourceOutput[ooRec], _ int) (weir.PollStatus, error) {
	for _, rec := range r.recs {
		out.Emit(rec, rec.Ts)
	}
	r.recs = nil
	select {
	case <-r.fired:
	case <-time.After(time.Millisecond):
		if r.keep != nil {
			out.Emit(*r.keep, r.keep.Ts)
		}
		return weir.More, nil
	}
	for _, rec := range r.late {
		out.Emit(rec, rec.Ts)
	}
	return weir.End, nil
}
func (r *idleReader) Position() []byte { return nil }
func (r *idleReader) Close() error     { return nil }

// A partial from an upstream subtask that was idle can reach a window that
// has fired: its records are counted late, as they are record by record.
func TestLocalAggregationAfterIdleInput(t *testing.T) {
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprintf("local=%v", local), func(t *testing.T) {
			fired := make(chan struct{})
			var once sync.Once
			env := weir.New(weir.Parallelism(2), weir.BatchSize(1))
			src := weir.From(env, idleSplits{fired: fired}, weir.EventTime(ooTime, 0), weir.IdleTimeout(20*time.Millisecond))
			var opts []weir.WindowOption[ooRec]
			if !local {
				opts = append(opts, weir.WithoutLocalAggregation[ooRec]())
			}
			lines := weir.Map(weir.Aggregate(weir.Windowed(weir.KeyBy(src, ooKey), weir.TumblingEventTime(time.Second), opts...), ooSum{}),
				func(r weir.WindowResult[int64, int64]) string {
					if r.Window.Start == 0 {
						once.Do(func() { close(fired) })
					}
					return ooLine(r)
				})
			out, late := runOO(t, env, weir.Collect(lines))
			if want := []string{"1 [0,1000) 1", "1 [5000,6000) 1", "2 [5000,6000) 0"}; !slices.Equal(out, want) || late != 1 {
				t.Fatalf("results %q with %d late, want %q and 1 late", out, late, want)
			}
		})
	}
}
