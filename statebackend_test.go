package weir_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// Every backend restores the others' checkpoints: a job that fails after
// a checkpoint on one backend is restored on another, at another
// parallelism, and ends with the counts of an uninterrupted run. The count
// job keeps a value per key and an event-time timer per key that emits it.
func TestBackendsRestoreEachOther(t *testing.T) {
	mem, byt, peb := weir.MemoryBackend, weir.BytesBackend, weir.PebbleBackend(weir.PebbleOptions{Dir: t.TempDir()})
	full := weir.PebbleBackend(weir.PebbleOptions{Dir: t.TempDir(), FullCheckpoints: true})
	for _, tc := range []struct {
		from, to      weir.Backend
		first, second int
	}{
		{byt, byt, 1, 1},
		{byt, byt, 2, 3},
		{mem, byt, 2, 1},
		{byt, mem, 1, 2},
		{peb, peb, 2, 3},
		{peb, peb, 3, 2},
		{peb, peb, 2, 2},
		{peb, peb, 1, 2},
		{peb, peb, 2, 1},
		{full, peb, 2, 3},
		{mem, peb, 1, 2},
		{full, mem, 2, 1},
		{full, byt, 3, 2},
	} {
		// The first run fails once a checkpoint has completed after its
		// 1000th record; a job on Pebble runs longer, so that its first
		// checkpoint completes before the input ends on a busy machine or
		// under the race detector too.
		n := int64(3000)
		if tc.from.String() == "pebble" {
			n = 12000
		}
		t.Run(fmt.Sprintf("%v p%d to %v p%d", tc.from, tc.first, tc.to, tc.second), func(t *testing.T) {
			dir := t.TempDir()
			env, _ := countJob(dir, n, tc.first, 1000, weir.StateBackend(tc.from))
			if err := env.Run(context.Background()); !errors.Is(err, errInjected) {
				t.Fatalf("first run: %v, want the injected failure", err)
			}
			env, got := countJob(dir, n, tc.second, 0, weir.Restore("latest"), weir.StateBackend(tc.to))
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("restored run: %v", err)
			}
			if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
				t.Fatalf("counts after restore %v, want %v", g, wantCounts(n))
			}
		})
	}
}

// bucketTimers keeps, per key, a list of the values seen and a map from
// 100 ms bucket to count, and sets a timer at the end of each bucket (plus
// one it deletes again); each firing emits the key, its time, its bucket's
// count, how many values up to its time the list holds, and how many
// earlier buckets are left in the map (none: each firing deletes its own).
type bucketTimers struct {
	seen    weir.ListState[int64, int64]
	buckets weir.MapState[int64, int64, int64]
}

func (b *bucketTimers) Open(oc weir.KeyedOpenContext[int64]) error {
	b.seen = weir.List[int64](oc, "seen")
	b.buckets = weir.MapOf[int64, int64](oc, "buckets")
	return nil
}

func (b *bucketTimers) Process(ctx weir.KeyedContext[int64], v int64, _ weir.Out[string]) error {
	if err := b.seen.Add(ctx, v); err != nil {
		return err
	}
	bucket := v / 100
	c, _, err := b.buckets.Get(ctx, bucket)
	if err != nil {
		return err
	}
	if err := b.buckets.Put(ctx, bucket, c+1); err != nil {
		return err
	}
	if err := ctx.Timers().RegisterEventTime(time.UnixMilli(bucket*100 + 99)); err != nil {
		return err
	}
	if v%3 == 0 {
		never := time.UnixMilli(v + 1_000_000_000)
		if err := ctx.Timers().RegisterEventTime(never); err != nil {
			return err
		}
		return ctx.Timers().DeleteEventTime(never)
	}
	return nil
}

func (b *bucketTimers) OnTimer(ctx weir.TimerContext[int64], out weir.Out[string]) error {
	ms := ctx.Time().UnixMilli()
	c, _, err := b.buckets.Get(ctx, ms/100)
	if err != nil {
		return err
	}
	if err := b.buckets.Delete(ctx, ms/100); err != nil {
		return err
	}
	seen, err := b.seen.Get(ctx)
	if err != nil {
		return err
	}
	// What arrived after the watermark passed depends on timing; what
	// arrived before does not.
	upTo, earlier := 0, 0
	for _, v := range seen {
		if v <= ms {
			upTo++
		}
	}
	for bucket := range b.buckets.All(ctx) {
		if bucket < ms/100 {
			earlier++ // a bucket whose timer fired and deleted it: never
		}
	}
	out.Emit(fmt.Sprintf("%d %d %d %d %d", ctx.Key(), ms, c, upTo, earlier))
	return nil
}

// The bytes and Pebble backends run keyed state, timers and windows of
// every kind as the memory backend does: the same job on each emits the
// same results, and each key's timers fire in time order.
func TestByteBackendsMatchMemory(t *testing.T) {
	const n = 4000
	run := func(b weir.Backend, p int) (timers, windows []string) {
		t.Helper()
		env := weir.New(weir.Parallelism(p), weir.StateBackend(b))
		src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 2, Count: n}, func(seq int64) int64 { return seq }),
			weir.EventTime(func(v int64) time.Time { return time.UnixMilli(v) }, 0))
		keyed := weir.KeyBy(src, func(v int64) int64 { return v % 13 })
		tc := weir.Collect(weir.Process(keyed, &bucketTimers{}))
		label := func(kind string) func(r weir.WindowResult[int64, int64]) string {
			return func(r weir.WindowResult[int64, int64]) string {
				return fmt.Sprintf("%s %d %v %d", kind, r.Key, r.Window, r.Value)
			}
		}
		tumbling := weir.Map(weir.Aggregate(weir.Windowed(keyed, weir.TumblingEventTime(100*time.Millisecond)), countInts{}), label("tumbling"))
		sliding := weir.Map(weir.Aggregate(weir.Windowed(keyed, weir.SlidingEventTime(300*time.Millisecond, 100*time.Millisecond)), countInts{}), label("sliding"))
		gappy := src.Filter(func(v int64) bool { return v%500 < 250 })
		sessions := weir.Map(weir.Aggregate(weir.Windowed(weir.KeyBy(gappy, func(v int64) int64 { return v % 5 }), weir.EventTimeSessions(50*time.Millisecond)), countInts{}), label("session"))
		wc := weir.Collect(weir.Union(tumbling, sliding, sessions))
		if err := env.Run(context.Background()); err != nil {
			t.Fatalf("%v backend, parallelism %d: %v", b, p, err)
		}
		return tc.Values(), sorted(wc.Values())
	}
	memTimers, memWindows := run(weir.MemoryBackend, 1)
	if len(memTimers) == 0 || len(memWindows) == 0 {
		t.Fatal("the reference run emitted nothing")
	}
	for _, b := range []weir.Backend{weir.BytesBackend, weir.PebbleBackend(weir.PebbleOptions{Dir: t.TempDir()})} {
		for _, p := range []int{1, 3} {
			gotTimers, gotWindows := run(b, p)
			checkTimerOrder(t, gotTimers)
			if !slices.Equal(sorted(gotTimers), sorted(memTimers)) {
				t.Fatalf("%v backend, parallelism %d: timer firings differ from the memory backend's:\n%v\n%v", b, p, firstDiff(sorted(gotTimers), sorted(memTimers)), len(gotTimers))
			}
			if !slices.Equal(gotWindows, memWindows) {
				t.Fatalf("%v backend, parallelism %d: windows differ from the memory backend's: %v", b, p, firstDiff(gotWindows, memWindows))
			}
		}
	}
}

// checkTimerOrder checks that each key's timers fired in time order.
func checkTimerOrder(t *testing.T, lines []string) {
	t.Helper()
	last := map[string]int64{}
	for _, l := range lines {
		f := strings.Fields(l)
		ms, _ := strconv.ParseInt(f[1], 10, 64)
		if prev, ok := last[f[0]]; ok && ms <= prev {
			t.Fatalf("key %s: timer %d fired after %d", f[0], ms, prev)
		}
		last[f[0]] = ms
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %q vs %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
}

// ParseBackend knows the backends by name, and a job refuses a zero one.
func TestParseBackend(t *testing.T) {
	for _, name := range []string{"memory", "bytes", "pebble"} {
		b, err := weir.ParseBackend(name)
		if err != nil || b.String() != name {
			t.Fatalf("ParseBackend(%q) = %v, %v", name, b, err)
		}
	}
	if _, err := weir.ParseBackend("rocksdb"); err == nil || !strings.Contains(err.Error(), "rocksdb") || !strings.Contains(err.Error(), "pebble") {
		t.Fatalf("ParseBackend(rocksdb) = %v; want an error naming it and the backends", err)
	}
	env := weir.New(weir.StateBackend(weir.Backend{}))
	weir.Collect(weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 1}, func(seq int64) int64 { return seq })))
	if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "StateBackend") {
		t.Fatalf("Run with a zero Backend = %v; want an error naming StateBackend", err)
	}
}

// dirLister lists a directory when it sees its first record, by which
// time its subtask's state is open. The job runs a copy of it; seen is
// shared.
type dirLister struct {
	dir  string
	seen *[]string
}

func (d *dirLister) Process(_ weir.KeyedContext[int64], _ int64, _ weir.Out[int64]) error {
	if *d.seen == nil {
		es, err := os.ReadDir(d.dir)
		if err != nil {
			return err
		}
		*d.seen = []string{}
		for _, e := range es {
			*d.seen = append(*d.seen, e.Name())
		}
	}
	return nil
}

// PebbleBackend keeps each operator subtask's state in a working directory
// under its Dir and removes it when the job ends; a memory budget below
// the minimum fails the job before it runs, naming the option.
func TestPebbleBackendWorkingDirectories(t *testing.T) {
	dir := t.TempDir()
	env := weir.New(weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{Dir: dir, Memory: 8 << 20})))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 100}, func(seq int64) int64 { return seq }))
	var seen []string
	weir.Collect(weir.Process(weir.KeyBy(src, func(v int64) int64 { return v % 7 }), &dirLister{dir: dir, seen: &seen}).ID("lister"))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "weir-state-lister-0-") {
		t.Fatalf("working directories while running: %v; want weir-state-lister-0-*", seen)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("%d working directories left after the job", len(es))
	}

	env = weir.New(weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{Memory: 1 << 20})))
	weir.Collect(weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 1}, func(seq int64) int64 { return seq })))
	if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "StateBackend") || !strings.Contains(err.Error(), "Memory") {
		t.Fatalf("Run with a 1 MiB Pebble budget = %v; want an error naming StateBackend and Memory", err)
	}
}

// failingOpen declares a state and then fails its Open.
type failingOpen struct{}

var errOpen = errors.New("open refused")

func (failingOpen) Open(oc weir.KeyedOpenContext[int64]) error {
	weir.Value[int64](oc, "n")
	return errOpen
}

func (failingOpen) Process(weir.KeyedContext[int64], int64, weir.Out[int64]) error { return nil }

// A keyed operator whose Open fails releases its state itself, since the
// job closes only the operators that opened: the Pebble database closes
// and its working directory goes.
func TestFailedOpenReleasesState(t *testing.T) {
	dir := t.TempDir()
	env := weir.New(weir.Parallelism(2), weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{Dir: dir})))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 10}, func(seq int64) int64 { return seq }))
	weir.Collect(weir.Process(weir.KeyBy(src, func(v int64) int64 { return v }), &failingOpen{}))
	if err := env.Run(context.Background()); !errors.Is(err, errOpen) {
		t.Fatalf("Run = %v; want the Open failure", err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("%d working directories left after Open failed", len(es))
	}
}

// A savepoint is portable between backends: one taken on the memory
// backend resumes on Pebble and the reverse, each at another parallelism,
// and the resumed job ends with the counts of an uninterrupted run. The
// stop leaves every key's event-time timer pending, so the timers travel
// in the savepoint too.
func TestSavepointsMoveBetweenBackends(t *testing.T) {
	// The stop comes after 500 records; the generator's 20 000 a second
	// leave it two seconds before the input would end, which a Pebble job
	// under the race detector on a busy machine needs.
	const n = 40000
	mem, peb := weir.MemoryBackend, weir.PebbleBackend(weir.PebbleOptions{Dir: t.TempDir()})
	for _, tc := range []struct {
		from, to      weir.Backend
		first, second int
	}{
		{mem, peb, 2, 3},
		{peb, mem, 3, 1},
	} {
		t.Run(fmt.Sprintf("%v p%d to %v p%d", tc.from, tc.first, tc.to, tc.second), func(t *testing.T) {
			dir := t.TempDir()
			stop := make(chan struct{})
			env, first := countJobWith(dir, n, tc.first, closeAt(stop),
				weir.Checkpoints(time.Hour, dir), weir.StopOn(stop), weir.StateBackend(tc.from))
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("stopped run: %v", err)
			}
			if v := first.Values(); len(v) != 0 {
				t.Fatalf("the stop fired event-time timers: %v", v)
			}
			sp, _ := filepath.Glob(filepath.Join(dir, "sp-*"))
			if len(sp) != 1 {
				t.Fatalf("savepoints %v, want one", sp)
			}
			env, got := countJob(dir, n, tc.second, 0, weir.Restore(sp[0]), weir.StateBackend(tc.to))
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("run resumed from %s: %v", sp[0], err)
			}
			if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
				t.Fatalf("counts after resuming on %v: %v, want %v", tc.to, g, wantCounts(n))
			}
		})
	}
}
