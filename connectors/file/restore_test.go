package file

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

var errBoom = errors.New("boom")

// restartJob writes n events through the sink, partitioned and bucketed,
// with a checkpoint every 5ms; with failAfter set, it fails once it has seen
// that many records and a checkpoint has completed.
func restartJob(t *testing.T, out, chk string, n int64, p int, failAfter int64, opts ...weir.Option) *weir.Env {
	env := weir.New(append([]weir.Option{weir.Parallelism(p), weir.Checkpoints(5*time.Millisecond, chk)}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 3, Count: n, Rate: 20000}, func(seq int64) event {
		return event{N: int(seq), User: "u" + strconv.Itoa(int(seq%3)), At: time.UnixMilli(seq * 60000)}
	}), weir.EventTime(func(e event) time.Time { return e.At }, 0)).ID("numbers")
	var seen atomic.Int64
	checked := weir.TryMap(src, func(e event) (event, error) {
		m, _ := filepath.Glob(filepath.Join(chk, "chk-*", "_metadata"))
		if failAfter > 0 && seen.Add(1) > failAfter && len(m) > 0 {
			return e, errBoom
		}
		return e, nil
	}).ID("maybe-fail")
	weir.To(checked, newSink(t, Config[event]{Dir: out, RollSize: 200, EventTimeBuckets: "2006-01-02--15", Partition: func(e event) string { return e.User }})).ID("files")
	return env
}

// A job with the sink fails after a checkpoint and is restored from the
// latest one, at the same or another parallelism: the committed output
// holds every record exactly once and no hidden file is left.
func TestJobRestoredAfterFailureCommitsEveryRecordOnce(t *testing.T) {
	const n = 3000
	for _, tc := range []struct{ first, second int }{{1, 1}, {1, 2}, {2, 1}, {2, 3}} {
		t.Run(fmt.Sprint(tc.first, tc.second), func(t *testing.T) {
			out, chk := t.TempDir(), t.TempDir()
			if err := restartJob(t, out, chk, n, tc.first, 1000).Run(context.Background()); !errors.Is(err, errBoom) {
				t.Fatalf("first: %v", err)
			}
			got := visibleLines(t, out)
			t.Logf("after crash: %d visible, %d hidden", len(got), len(hiddenFiles(t, out)))
			if err := restartJob(t, out, chk, n, tc.second, 0, weir.Restore("latest")).Run(context.Background()); err != nil {
				t.Fatalf("second: %v", err)
			}
			equal(t, "visible", visibleLines(t, out), nums([2]int{0, n}))
			equal(t, "hidden", hiddenFiles(t, out), nil)

		})
	}
}

// A job with the sink whose operator fails once, after a checkpoint,
// restarts itself in its process (weir.Restarts) from the latest
// checkpoint, at parallelism 1 and 2: the committed output is that of an
// uninterrupted run, and no hidden file is left.
func TestJobRestartingInProcessCommitsEveryRecordOnce(t *testing.T) {
	const n = 3000
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			out, chk := t.TempDir(), t.TempDir()
			var restarts atomic.Int64
			env := weir.New(weir.Parallelism(p), weir.Checkpoints(5*time.Millisecond, chk),
				weir.Restarts(weir.RestartStrategy{InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond}),
				weir.OnRestart(func(weir.Restart) { restarts.Add(1) }))
			src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 3, Count: n, Rate: 20000}, func(seq int64) event {
				return event{N: int(seq), User: "u" + strconv.Itoa(int(seq%3)), At: time.UnixMilli(seq * 60000)}
			}), weir.EventTime(func(e event) time.Time { return e.At }, 0)).ID("numbers")
			var seen atomic.Int64
			var failed atomic.Bool
			checked := weir.TryMap(src, func(e event) (event, error) {
				m, _ := filepath.Glob(filepath.Join(chk, "chk-*", "_metadata"))
				if seen.Add(1) > 1000 && len(m) > 0 && failed.CompareAndSwap(false, true) {
					return e, errBoom
				}
				return e, nil
			}).ID("fail-once")
			weir.To(checked, newSink(t, Config[event]{Dir: out, RollSize: 200, EventTimeBuckets: "2006-01-02--15",
				Partition: func(e event) string { return e.User }})).ID("files")
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if restarts.Load() != 1 {
				t.Fatalf("%d restarts, want 1", restarts.Load())
			}
			equal(t, "visible", visibleLines(t, out), nums([2]int{0, n}))
			equal(t, "hidden", hiddenFiles(t, out), nil)
		})
	}
}
