package weir_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// finalCount counts records per key and emits each key's count when the
// input ends: its output is exact only if keyed state and source positions
// were restored exactly once.
type finalCount struct {
	n weir.ValueState[int64, int64]
}

func (c *finalCount) Open(oc weir.KeyedOpenContext[int64]) error {
	c.n = weir.Value[int64](oc, "n")
	return nil
}

func (c *finalCount) Process(ctx weir.KeyedContext[int64], _ int64, _ weir.Out[string]) error {
	n, ok, err := c.n.Get(ctx)
	if err != nil {
		return err
	}
	if !ok {
		if err := ctx.Timers().RegisterEventTime(weir.EndOfTime); err != nil {
			return err
		}
	}
	return c.n.Set(ctx, n+1)
}

func (c *finalCount) OnTimer(ctx weir.TimerContext[int64], out weir.Out[string]) error {
	n, _, err := c.n.Get(ctx)
	out.Emit(fmt.Sprintf("%d=%d", ctx.Key(), n))
	return err
}

var errInjected = errors.New("injected failure")

// completedCheckpoints counts the checkpoints in dir that have metadata.
func completedCheckpoints(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "chk-*", "_metadata"))
	return len(m)
}

// countJob is a generator of n records over 10 keys into finalCount. When
// failAfter is set, a map fails once it has seen that many records and a
// checkpoint has completed.
func countJob(dir string, n int64, p int, failAfter int64, opts ...weir.Option) (*weir.Env, *weir.Collector[string]) {
	return countJobWith(dir, n, p, func(seen int64) error {
		if failAfter > 0 {
			holdLast(seen, n, func() bool { return completedCheckpoints(dir) > 0 })
		}
		if failAfter > 0 && seen > failAfter && completedCheckpoints(dir) > 0 {
			return errInjected
		}
		return nil
	}, opts...)
}

// holdLast waits, when seen is n, the job's last record, until ready
// reports true or a minute has passed. A job that must fail once a
// checkpoint has completed would otherwise fail or end by timing: on
// Pebble a checkpoint flushes its memtable at the barrier, and a short
// input can end before the first one completes, on a busy machine or under
// the race detector. The barriers sent before the last record have passed
// the operator that waits, so their checkpoint completes meanwhile.
func holdLast(seen, n int64, ready func() bool) {
	if seen != n {
		return
	}
	for deadline := time.Now().Add(time.Minute); !ready() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// countJobWith is countJob with hook called with the number of records seen
// so far, for every record; an error it returns fails the job. opts come
// after the defaults, so they may override the checkpoint interval.
func countJobWith(dir string, n int64, p int, hook func(seen int64) error, opts ...weir.Option) (*weir.Env, *weir.Collector[string]) {
	env := weir.New(append([]weir.Option{weir.Parallelism(p), weir.Checkpoints(5*time.Millisecond, dir)}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 3, Count: n, Rate: 20000}, func(seq int64) int64 { return seq }),
		weir.EventTime(func(v int64) time.Time { return time.UnixMilli(v) }, 0)).ID("numbers")
	var seen atomic.Int64
	checked := weir.TryMap(src, func(v int64) (int64, error) {
		return v, hook(seen.Add(1))
	}).ID("maybe-fail")
	counts := weir.Process(weir.KeyBy(checked, func(v int64) int64 { return v % 10 }), &finalCount{}).ID("count")
	return env, weir.Collect(counts)
}

// closeAt returns a hook that closes ch when the 500th record is seen.
func closeAt(ch chan struct{}) func(int64) error {
	return func(seen int64) error {
		if seen == 500 {
			close(ch)
		}
		return nil
	}
}

func wantCounts(n int64) []string {
	var want []string
	for k := range int64(10) {
		want = append(want, fmt.Sprintf("%d=%d", k, (n-k+9)/10))
	}
	slices.Sort(want)
	return want
}

// A job that fails after a checkpoint and is restored from the latest one
// ends with exactly the counts of an uninterrupted run, at the same or at
// another parallelism.
func TestRestoreAfterFailureIsExactlyOnce(t *testing.T) {
	const n = 3000
	for _, tc := range []struct{ first, second int }{{1, 1}, {1, 2}, {2, 1}, {2, 3}} {
		t.Run(fmt.Sprintf("parallelism %d to %d", tc.first, tc.second), func(t *testing.T) {
			dir := t.TempDir()
			env, _ := countJob(dir, n, tc.first, 1000)
			if err := env.Run(context.Background()); !errors.Is(err, errInjected) {
				t.Fatalf("first run: %v, want the injected failure", err)
			}
			env, got := countJob(dir, n, tc.second, 0, weir.Restore("latest"))
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("restored run: %v", err)
			}
			if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
				t.Fatalf("counts after restore %v, want %v", g, wantCounts(n))
			}
		})
	}
}

// A bounded job with checkpoints ends with a final checkpoint that holds
// every split as ended: restoring it reads nothing again.
func TestFinalCheckpointCoversTheEnd(t *testing.T) {
	const n = 500
	dir := t.TempDir()
	env, got := countJob(dir, n, 2, 0)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
		t.Fatalf("counts %v", g)
	}
	if completedCheckpoints(dir) == 0 {
		t.Fatal("no checkpoint completed")
	}
	env, again := countJob(dir, n, 2, 0, weir.Restore("latest"))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := again.Values(); len(g) != 0 {
		t.Fatalf("restoring the final checkpoint emitted %v; its timers had all fired", g)
	}
}

// State of an operator the job no longer has fails the restore, naming
// the operator, unless dropping it is allowed.
func TestRestoreUnmatchedStateNamesOperator(t *testing.T) {
	dir := t.TempDir()
	env, _ := countJob(dir, 200, 1, 0)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	build := func(opts ...weir.Option) *weir.Env {
		env := weir.New(append([]weir.Option{weir.Checkpoints(time.Hour, dir), weir.Restore("latest")}, opts...)...)
		src := weir.From(env, weir.Slice[int64](1, 2, 3)).ID("numbers")
		weir.Collect(src)
		return env
	}
	err := build().Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `(id count)`) {
		t.Fatalf("Run = %v, want an error naming operator count", err)
	}
	if err := build(weir.AllowNonRestoredState()).Run(context.Background()); err != nil {
		t.Fatalf("with AllowNonRestoredState: %v", err)
	}
}

// Stopping with a savepoint ends the job without a final watermark — no
// event-time timer fires — and the savepoint resumes it exactly: the
// restored run ends with the counts of an uninterrupted one.
func TestStopWithSavepointResumes(t *testing.T) {
	const n = 3000
	dir := t.TempDir()
	stop := make(chan struct{})
	var seen atomic.Int64
	env, first := countJobWith(dir, n, 2, func(s int64) error {
		seen.Store(s)
		return closeAt(stop)(s)
	}, weir.Checkpoints(time.Hour, dir), weir.StopOn(stop))
	if err := env.Run(context.Background()); err != nil {
		t.Fatalf("stopped run: %v", err)
	}
	if v := first.Values(); len(v) != 0 {
		t.Fatalf("a stop fired event-time timers: %v", v)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "sp-*", "_metadata")); len(m) != 1 {
		t.Fatalf("savepoints %v, want one", m)
	}
	if seen.Load() >= n {
		t.Fatalf("the job read all %d records before stopping", n)
	}
	env, got := countJob(dir, n, 1, 0, weir.Restore("latest"))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
		t.Fatalf("counts after resuming from the savepoint %v, want %v", g, wantCounts(n))
	}
}

// A bounded job ends as soon as its input does, whatever the checkpoint
// interval: the final checkpoint is taken at once.
func TestBoundedJobEndsWithoutWaitingForTheInterval(t *testing.T) {
	dir := t.TempDir()
	env := weir.New(weir.Checkpoints(time.Hour, dir))
	got := weir.Collect(weir.From(env, weir.Slice(1, 2, 3)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(got.Values()) != 3 || completedCheckpoints(dir) != 1 {
		t.Fatalf("values %v, %d checkpoints; want 3 values and the final checkpoint", got.Values(), completedCheckpoints(dir))
	}
}

// A savepoint taken while the job runs leaves the job running and can be
// restored by its path.
func TestSavepointOnDemand(t *testing.T) {
	const n = 3000
	dir := t.TempDir()
	half := make(chan struct{})
	env, got := countJobWith(dir, n, 2, closeAt(half), weir.Checkpoints(time.Hour, dir))
	if _, err := env.Savepoint(context.Background()); !errors.Is(err, weir.ErrNotRunning) {
		t.Fatalf("Savepoint before Run = %v, want ErrNotRunning", err)
	}
	var (
		path string
		serr error
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		<-half
		path, serr = env.Savepoint(context.Background())
	})
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if serr != nil {
		t.Fatalf("Savepoint: %v", serr)
	}
	if _, err := os.Stat(filepath.Join(path, "_metadata")); err != nil || !strings.Contains(filepath.Base(path), "sp-") {
		t.Fatalf("savepoint at %q: %v", path, err)
	}
	if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
		t.Fatalf("the job did not go on after the savepoint: %v", g)
	}
	env, again := countJob(dir, n, 3, 0, weir.Restore(path))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := sorted(again.Values()); !slices.Equal(g, wantCounts(n)) {
		t.Fatalf("counts restored from the savepoint %v, want %v", g, wantCounts(n))
	}
}

// A sink without two-phase commit is at-least-once across a restore: every
// record reaches it, some twice.
func TestPlainSinkIsAtLeastOnce(t *testing.T) {
	const n = 3000
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out.txt")
	build := func(failAfter int64, opts ...weir.Option) *weir.Env {
		env := weir.New(append([]weir.Option{weir.Checkpoints(5*time.Millisecond, dir)}, opts...)...)
		src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Rate: 20000}, func(seq int64) int64 { return seq })).ID("numbers")
		var seen atomic.Int64
		checked := weir.TryMap(src, func(v int64) (int64, error) {
			if failAfter > 0 && seen.Add(1) > failAfter && completedCheckpoints(dir) > 0 {
				return 0, errInjected
			}
			return v, nil
		}).ID("maybe-fail")
		weir.To(checked, weir.File[int64](out, nil)).ID("file")
		return env
	}
	if err := build(1000).Run(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("first run: %v", err)
	}
	if err := build(0, weir.Restore("latest")).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		seen[l]++
	}
	for i := range n {
		if seen[fmt.Sprint(i)] == 0 {
			t.Fatalf("record %d lost", i)
		}
	}
}

// flakySink is a two-phase sink whose Prepare fails the first fail times.
type flakySink struct {
	fail      int
	prepares  atomic.Int64
	committed atomic.Int64
}

func (s *flakySink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[int64], error) {
	return &flakyWriter{s: s}, nil
}

type flakyWriter struct {
	s       *flakySink
	pending int64
}

func (w *flakyWriter) Write(int64) error { w.pending++; return nil }
func (w *flakyWriter) Close() error      { return nil }

func (w *flakyWriter) Prepare(int64) ([]byte, error) {
	if w.s.prepares.Add(1) <= int64(w.s.fail) {
		return nil, errInjected
	}
	n := w.pending
	w.pending = 0
	return []byte(fmt.Sprint(n)), nil
}

func (w *flakyWriter) Commit(_ context.Context, cs [][]byte) error {
	for _, c := range cs {
		var n int64
		fmt.Sscan(string(c), &n)
		w.s.committed.Add(n)
	}
	return nil
}

// A failed checkpoint does not fail the job unless more fail in a row than
// tolerated; the records of a failed one are committed with the next.
func TestCheckpointFailuresTolerated(t *testing.T) {
	const n = 2000
	for _, tc := range []struct {
		fail, tolerable int
		ok              bool
	}{{2, 3, true}, {1000, 3, false}} {
		t.Run(fmt.Sprintf("%d failures, %d tolerated", tc.fail, tc.tolerable), func(t *testing.T) {
			sink := &flakySink{fail: tc.fail}
			env := weir.New(weir.Checkpoints(5*time.Millisecond, t.TempDir()), weir.TolerableCheckpointFailures(tc.tolerable))
			src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Rate: 20000}, func(seq int64) int64 { return seq }))
			weir.To(src, weir.Sink[int64](sink))
			err := env.Run(context.Background())
			if tc.ok {
				if err != nil || sink.committed.Load() != n {
					t.Fatalf("Run = %v, %d committed; want nil and %d", err, sink.committed.Load(), n)
				}
				return
			}
			if !errors.Is(err, weir.ErrTooManyCheckpointFailures) || !errors.Is(err, errInjected) {
				t.Fatalf("Run = %v, want too many checkpoint failures caused by the injected one", err)
			}
		})
	}
}

type countInts struct{}

func (countInts) CreateAccumulator() int64     { return 0 }
func (countInts) Add(_ int64, acc int64) int64 { return acc + 1 }
func (countInts) Result(acc int64) int64       { return acc }
func (countInts) Merge(a, b int64) int64       { return a + b }

// Windows restore like any keyed state: a job that fails and is restored
// emits every window exactly as an uninterrupted run does, at another
// parallelism too.
func TestWindowsRestoreExactly(t *testing.T) {
	const n = 3000
	for _, tc := range []struct{ first, second int }{{1, 2}, {2, 1}} {
		t.Run(fmt.Sprintf("parallelism %d to %d", tc.first, tc.second), func(t *testing.T) {
			dir := t.TempDir()
			build := func(p int, failAfter int64, opts ...weir.Option) (*weir.Env, *weir.Collector[string]) {
				env := weir.New(append([]weir.Option{weir.Parallelism(p), weir.Checkpoints(5*time.Millisecond, dir)}, opts...)...)
				src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 3, Count: n, Rate: 20000}, func(seq int64) int64 { return seq }),
					weir.EventTime(func(v int64) time.Time { return time.UnixMilli(v) }, 0)).ID("numbers")
				var seen atomic.Int64
				checked := weir.TryMap(src, func(v int64) (int64, error) {
					if failAfter > 0 && seen.Add(1) > failAfter && completedCheckpoints(dir) > 0 {
						return 0, errInjected
					}
					return v, nil
				}).ID("maybe-fail")
				ws := weir.Windowed(weir.KeyBy(checked, func(v int64) int64 { return v % 7 }), weir.TumblingEventTime(100*time.Millisecond))
				out := weir.Map(weir.Aggregate(ws, countInts{}).ID("windows"), func(r weir.WindowResult[int64, int64]) string {
					return fmt.Sprintf("%d %v %d", r.Key, r.Window, r.Value)
				})
				return env, weir.Collect(out)
			}
			env, first := build(tc.first, 1000)
			if err := env.Run(context.Background()); !errors.Is(err, errInjected) {
				t.Fatalf("first run: %v", err)
			}
			env, second := build(tc.second, 0, weir.Restore("latest"))
			if err := env.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Every window fires once in an uninterrupted run; across the
			// failure, a window that fired before the restored checkpoint
			// fires in the first run, the others in the second.
			var want []string
			for k := range int64(7) {
				for start := int64(0); start < n; start += 100 {
					c := 0
					for v := start; v < start+100 && v < n; v++ {
						if v%7 == k {
							c++
						}
					}
					want = append(want, fmt.Sprintf("%d [%d,%d) %d", k, start, start+100, c))
				}
			}
			slices.Sort(want)
			restored := map[string]bool{}
			for _, s := range second.Values() {
				restored[s] = true
			}
			for _, w := range want {
				if !restored[w] && !slices.Contains(first.Values(), w) {
					t.Fatalf("window %q fired in neither run", w)
				}
			}
			for _, g := range second.Values() {
				if !slices.Contains(want, g) {
					t.Fatalf("restored run emitted %q, which no window is", g)
				}
			}
		})
	}
}

// A damaged _metadata in the newest checkpoint fails a restore of
// "latest", naming it, where it used to fall back silently to an older
// checkpoint and so write again the output the newer one had committed;
// the older one is restored only when named.
func TestRestoreLatestRefusesDamagedNewest(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	env, _ := countJob(dir, n, 1, 0)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "chk-*", "_metadata"))
	if len(all) < 2 {
		t.Fatalf("the run left %d checkpoints, want at least 2", len(all))
	}
	newest, older := all[len(all)-1], filepath.Dir(all[len(all)-2])
	data, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(newest, data, 0o644); err != nil {
		t.Fatal(err)
	}

	env, got := countJob(dir, n, 1, 0, weir.Restore("latest"))
	err = env.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), newest) || !strings.Contains(err.Error(), "does not fall back") {
		t.Fatalf("restore latest with a damaged newest checkpoint: %v (emitted %d counts); want an error naming %s", err, len(got.Values()), newest)
	}
	env, _ = countJob(dir, n, 1, 0, weir.Restore(older))
	if err := env.Run(context.Background()); err != nil {
		t.Fatalf("restore of the older %s, named: %v", older, err)
	}
}

// A checkpoint whose state file was deleted fails the restore naming the
// file, before any task opens.
func TestRestoreNamesMissingStateFile(t *testing.T) {
	dir := t.TempDir()
	env, _ := countJob(dir, 500, 1, 0)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "chk-*", "count-*"))
	if len(all) == 0 {
		t.Fatal("no state file of operator count")
	}
	gone := all[len(all)-1]
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	env, _ = countJob(dir, 500, 1, 0, weir.Restore(filepath.Dir(gone)))
	if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), gone+" is missing") {
		t.Fatalf("restore without %s: %v; want an error naming it", gone, err)
	}
}

// A checkpoint directory the job cannot write fails the job before it
// reads a record, naming the directory, where it used to fail only once
// more checkpoints had failed than are tolerated.
func TestUnwritableCheckpointDirFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		t.Skip("the permission bits do not stop this user from writing (root)")
	}
	var seen atomic.Int64
	env, _ := countJobWith(dir, 1000, 1, func(int64) error { seen.Add(1); return nil })
	err := env.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), dir+" is not writable") {
		t.Fatalf("Run = %v; want an error saying %s is not writable", err, dir)
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("the job read %d records before failing", n)
	}
}

// InputParameters are kept with each checkpoint: a restore with another
// value of one fails naming both; one only a side has is not compared.
func TestRestoreComparesInputParameters(t *testing.T) {
	dir := t.TempDir()
	env, _ := countJob(dir, 200, 1, 0, weir.InputParameters(map[string]string{"seed": "1"}))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	env, _ = countJob(dir, 200, 1, 0, weir.Restore("latest"), weir.InputParameters(map[string]string{"seed": "2"}))
	if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "taken with seed=1, the job runs with seed=2") {
		t.Fatalf("restore with seed 2: %v; want an error naming both values", err)
	}
	env, _ = countJob(dir, 200, 1, 0, weir.Restore("latest"), weir.InputParameters(map[string]string{"size": "9"}))
	if err := env.Run(context.Background()); err != nil {
		t.Fatalf("restore with a parameter the checkpoint lacks: %v", err)
	}
}
