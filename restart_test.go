package weir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// quick restarts at once, so tests do not wait for backoffs.
var quick = weir.RestartStrategy{InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond, Jitter: -1}

// restarts records the restarts of a job.
type restarts struct {
	mu sync.Mutex
	rs []weir.Restart
}

func (r *restarts) add(x weir.Restart) {
	r.mu.Lock()
	r.rs = append(r.rs, x)
	r.mu.Unlock()
}

// failOnce returns a hook that fails once, at the first record after the
// after-th once a checkpoint has completed (or at once without needing one
// when dir is empty); n is the number of records, at the last of which it
// waits for a checkpoint (holdLast).
func failOnce(dir string, after, n int64) func(int64) error {
	var failed atomic.Bool
	return func(seen int64) error {
		if dir != "" {
			holdLast(seen, n, func() bool { return completedCheckpoints(dir) > 0 })
		}
		if seen > after && (dir == "" || completedCheckpoints(dir) > 0) && failed.CompareAndSwap(false, true) {
			return errInjected
		}
		return nil
	}
}

// A job whose operator fails once restarts itself from its latest
// checkpoint and ends with exactly the counts of an uninterrupted run.
func TestRestartFromLatestCheckpointIsExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		p       int
		n       int64
		backend []weir.Option
	}{
		{1, 3000, nil}, {2, 3000, nil},
		// Incremental checkpoints: the restart takes the files over. A
		// checkpoint on Pebble flushes at the barrier, so the job runs
		// longer for one to complete after the 1000th record.
		{2, 12000, []weir.Option{weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{}))}},
	} {
		p, n := tc.p, tc.n
		t.Run(fmt.Sprintf("parallelism %d %d", p, len(tc.backend)), func(t *testing.T) {
			dir := t.TempDir()
			var rs restarts
			env, got := countJobWith(dir, n, p, failOnce(dir, 1000, n), append(tc.backend, weir.Restarts(quick), weir.OnRestart(rs.add))...)
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
				t.Fatalf("counts %v, want %v", g, wantCounts(n))
			}
			if len(rs.rs) != 1 {
				t.Fatalf("%d restarts, want 1", len(rs.rs))
			}
			r := rs.rs[0]
			if r.Attempt != 1 || r.InARow != 1 || !errors.Is(r.Cause, errInjected) || !strings.Contains(r.From, "chk-") {
				t.Fatalf("restart %+v, want attempt 1 caused by the injected failure, from a checkpoint", r)
			}
			if m := env.JobMetrics(); len(m.Restarts) != 1 || m.RestartsTotal != 1 || m.CheckpointsCompleted == 0 {
				t.Fatalf("JobMetrics: %d restarts, %d checkpoints completed", len(m.Restarts), m.CheckpointsCompleted)
			}
		})
	}
}

// Before any checkpoint of the run has completed, a restart starts where
// the run started: from the beginning here.
func TestRestartBeforeTheFirstCheckpointStartsOver(t *testing.T) {
	const n = 2000
	var rs restarts
	env, got := countJobWith(t.TempDir(), n, 2, failOnce("", 10, n),
		weir.Checkpoints(time.Hour, t.TempDir()), weir.Restarts(quick), weir.OnRestart(rs.add))
	if err := env.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
		t.Fatalf("counts %v, want %v", g, wantCounts(n))
	}
	if len(rs.rs) != 1 || rs.rs[0].From != "" {
		t.Fatalf("restarts %+v, want one from the beginning", rs.rs)
	}
}

// A job that keeps failing restarts MaxAttempts times, then fails with the
// cause.
func TestRestartsRunOut(t *testing.T) {
	var rs restarts
	s := quick
	s.MaxAttempts = 2
	env, _ := countJobWith(t.TempDir(), 1000, 1, func(int64) error { return errInjected },
		weir.Restarts(s), weir.OnRestart(rs.add))
	err := env.Run(context.Background())
	if !errors.Is(err, weir.ErrRestartsExhausted) || !errors.Is(err, errInjected) {
		t.Fatalf("Run = %v, want restarts exhausted, caused by the injected failure", err)
	}
	var inARow []int
	for _, r := range rs.rs {
		inARow = append(inARow, r.InARow)
	}
	if !slices.Equal(inARow, []int{1, 2}) {
		t.Fatalf("restarts in a row %v, want [1 2]", inARow)
	}
}

// Failures a restart cannot fix fail the job at once: a state declared
// twice, a checkpoint that does not match the job.
func TestNoRestartForWhatARestartCannotFix(t *testing.T) {
	t.Run("state declared twice", func(t *testing.T) {
		var rs restarts
		env := weir.New(weir.Checkpoints(time.Hour, t.TempDir()), weir.Restarts(quick), weir.OnRestart(rs.add))
		s := weir.From(env, weir.Slice("a", "b"))
		weir.Collect(weir.Process(weir.KeyBy(s, func(v string) string { return v }), &twice{}).Name("twice"))
		if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `"n"`) {
			t.Fatalf("Run = %v, want the state declared twice", err)
		}
		if len(rs.rs) != 0 {
			t.Fatalf("restarted %d times", len(rs.rs))
		}
	})
	t.Run("checkpoint of another max parallelism", func(t *testing.T) {
		dir := t.TempDir()
		env, _ := countJob(dir, 200, 1, 0)
		if err := env.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		var rs restarts
		env, _ = countJob(dir, 200, 1, 0, weir.Restore("latest"), weir.MaxParallelism(64), weir.Restarts(quick), weir.OnRestart(rs.add))
		if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "max parallelism") {
			t.Fatalf("Run = %v, want the max parallelism mismatch", err)
		}
		if len(rs.rs) != 0 {
			t.Fatalf("restarted %d times", len(rs.rs))
		}
	})
}

// Restarts without checkpoints would repeat output; the job is rejected.
func TestRestartsNeedCheckpoints(t *testing.T) {
	env := weir.New(weir.Restarts(weir.RestartStrategy{}))
	weir.Collect(weir.From(env, weir.Slice(1, 2)))
	if err := env.Validate(); err == nil || !strings.Contains(err.Error(), "Restarts: restarting needs Checkpoints") {
		t.Fatalf("Validate = %v", err)
	}
	env = weir.New(weir.Checkpoints(time.Second, t.TempDir()), weir.Restarts(weir.RestartStrategy{Multiplier: 0.5, MaxBackoff: time.Millisecond}))
	weir.Collect(weir.From(env, weir.Slice(1, 2)))
	err := env.Validate()
	if err == nil || !strings.Contains(err.Error(), "Multiplier 0.5") || !strings.Contains(err.Error(), "MaxBackoff 1ms is below InitialBackoff 1s") {
		t.Fatalf("Validate = %v", err)
	}
}

// The backoff grows by the multiplier from the initial one up to the
// maximum; the defaults are Flink's exponential-delay ones.
func TestRestartBackoff(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 12; n++ {
		got = append(got, weir.Backoff(weir.RestartStrategy{}, n))
	}
	want := []time.Duration{1000, 1500, 2250, 3375, 5062, 7593, 11390, 17085, 25628, 38443, 57665, 60000}
	for i := range want {
		want[i] *= time.Millisecond
		if d := got[i] - want[i]; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("backoffs %v, want %v", got, want)
		}
	}
	s := weir.RestartStrategy{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second, Multiplier: 2}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 100: 10 * time.Second} {
		if got := weir.Backoff(s, n); got != want {
			t.Errorf("backoff %d = %v, want %v", n, got, want)
		}
	}
}

// The job logs its start and end, each checkpoint, the failure with the
// operator and record it happened on, the restart and its cause, and the
// restore.
func TestJobLogs(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil))
	env, _ := countJobWith(dir, 2000, 1, failOnce(dir, 500, 2000), weir.Restarts(quick), weir.Logger(log))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	byMsg := map[string][]map[string]any{}
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		byMsg[r["msg"].(string)] = append(byMsg[r["msg"].(string)], r)
	}
	for _, msg := range []string{"job starting", "job running", "checkpoint completed", "job run failed", "job restarting", "restoring", "job finished"} {
		if len(byMsg[msg]) == 0 {
			t.Errorf("no %q record in\n%s", msg, buf.String())
		}
	}
	if t.Failed() {
		return
	}
	if c := byMsg["checkpoint completed"][0]; c["id"] == nil || c["bytes"].(float64) <= 0 || c["duration"] == nil {
		t.Errorf("checkpoint record %v, want id, bytes and duration", c)
	} else if sync, async, meta := c["sync"], c["async"], c["metadata"]; sync == nil || async == nil || meta == nil ||
		sync.(float64)+async.(float64)+meta.(float64) > c["duration"].(float64) || sync.(float64) <= 0 {
		t.Errorf("checkpoint record %v, want its sync, async and metadata parts within its duration", c)
	}
	if f := byMsg["job run failed"][0]; f["operator_id"] != "maybe-fail" || f["source"] == nil || f["offset"] == nil ||
		!strings.Contains(f["error"].(string), errInjected.Error()) {
		t.Errorf("failure record %v, want the operator, the record's origin and the error", f)
	}
	if r := byMsg["job restarting"][0]; !strings.Contains(r["from"].(string), "chk-") || !strings.Contains(r["cause"].(string), errInjected.Error()) {
		t.Errorf("restart record %v, want where from and why", r)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The runtime keeps, per checkpoint, its duration and bytes, and per
// operator its watermark, the watermark's lag and the time its output was
// held back by a slow consumer.
func TestOperationalMetrics(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	env := weir.New(weir.Checkpoints(5*time.Millisecond, t.TempDir()), weir.QueueCapacity(1), weir.BatchSize(1), weir.DisableChaining())
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 200, Rate: 1000}, func(seq int64) int64 { return seq }),
		weir.EventTime(func(v int64) time.Time { return time.UnixMilli(1000 + v) }, 0)).ID("numbers")
	// The slow map holds the first record until released: the source's
	// output backs up, with its watermark where it stopped.
	slow := weir.Map(src, func(v int64) int64 {
		once.Do(func() { <-release })
		return v
	}).ID("slow")
	weir.Collect(weir.Process(weir.KeyBy(slow, func(v int64) int64 { return v % 10 }), &finalCount{}).ID("count"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var source weir.OperatorMetrics
	for source.Watermark.IsZero() || source.Backpressured == 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			close(release)
			t.Fatalf("no watermark or backpressure seen: %+v", source)
		}
		for _, m := range env.Metrics() {
			if m.ID == "numbers" {
				source = m
			}
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ms := source.Watermark.UnixMilli(); ms < 999 || ms > 1200 {
		t.Errorf("source watermark %d ms, want just below one of the records' times", ms)
	}
	if d := time.Since(source.Watermark) - source.WatermarkLag; d < 0 || d > time.Minute {
		t.Errorf("watermark %v lags %v behind the wall clock when read", source.Watermark, source.WatermarkLag)
	}
	m := env.JobMetrics()
	if m.CheckpointsCompleted == 0 || len(m.Checkpoints) == 0 {
		t.Fatalf("no checkpoint in %+v", m)
	}
	last := m.Checkpoints[len(m.Checkpoints)-1]
	if last.Bytes <= 0 || last.Duration <= 0 || last.Err != nil {
		t.Errorf("last checkpoint %+v, want bytes and a duration", last)
	}
}

// A job that never ran — its source lists no splits when it starts — is
// not restarted.
func TestNoRestartOfAJobThatNeverRan(t *testing.T) {
	var rs restarts
	env := weir.New(weir.Checkpoints(time.Hour, t.TempDir()), weir.Restarts(quick), weir.OnRestart(rs.add))
	weir.Collect(weir.From(env, weir.Lines(t.TempDir()+"/none-*.txt")))
	if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Fatalf("Run = %v, want no file matching", err)
	}
	if len(rs.rs) != 0 {
		t.Fatalf("restarted %d times", len(rs.rs))
	}
}

// Canceling the job while it waits to restart ends it at once, with the
// failure and the cancellation; closing StopOn does the same.
func TestStopWhileWaitingToRestart(t *testing.T) {
	slow := weir.RestartStrategy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, _ := countJobWith(t.TempDir(), 1000, 1, func(int64) error { return errInjected },
		weir.Restarts(slow), weir.OnRestart(func(weir.Restart) { cancel() }))
	if err := env.Run(ctx); !errors.Is(err, errInjected) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want the failure and the cancellation", err)
	}
	stop := make(chan struct{})
	env, _ = countJobWith(t.TempDir(), 1000, 1, func(int64) error { return errInjected },
		weir.Restarts(slow), weir.StopOn(stop), weir.OnRestart(func(weir.Restart) { close(stop) }))
	if err := env.Run(context.Background()); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "stopped while waiting to restart") {
		t.Fatalf("Run = %v, want the failure, stopped", err)
	}
}
