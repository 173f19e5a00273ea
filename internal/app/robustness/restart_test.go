package robustness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

var errInjected = errors.New("injected failure")

// TestExactlyOnceUnderRestarts is the crash harness's in-process branch:
// the job runs with a restart strategy instead of being killed and started
// again as a new process. Its parse operator fails at random moments —
// errors and panics, before the first checkpoint and between later ones —
// and the job restores itself from its latest checkpoint each time; the
// committed output must equal the model's: nothing lost, nothing
// duplicated, no hidden file left.
func TestExactlyOnceUnderRestarts(t *testing.T) {
	events, failures := 10_000, 6
	if *soak {
		events, failures = 200_000, 100
	}
	if testing.Short() {
		t.Skip("the crash harness runs a long job")
	}
	dir := t.TempDir()
	input, output, deadDir := filepath.Join(dir, "input"), filepath.Join(dir, "output"), filepath.Join(dir, "dead-letters")
	if err := os.MkdirAll(input, 0o755); err != nil {
		t.Fatal(err)
	}
	in, bad, err := Generate(input, 4, events, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := Model(in)

	// Failure i comes at a random line of the i-th slice of the input (or
	// later), so every failure happens (replays only add lines) and they
	// spread over the run; every third is a panic.
	r := rand.New(rand.NewPCG(4, 5))
	var at []int64
	slice := int64(events / failures)
	for i := range int64(failures) {
		at = append(at, i*slice+1+r.Int64N(slice))
	}
	var (
		mu        sync.Mutex
		next      int
		restarts  []weir.Restart
		completed int64 // checkpoints completed
		atRestart int64 // checkpoints completed at the last restart
	)
	fail := func(parsed int64) error {
		mu.Lock()
		defer mu.Unlock()
		// One failure per run: the other subtask may parse on while the
		// job stops after a failure. After the first, a failure waits for a
		// checkpoint of its run, so that most restarts go back to one.
		if next == len(at) || parsed < at[next] || next > len(restarts) || (next > 0 && completed == atRestart) {
			return nil
		}
		next++
		if next%3 == 0 {
			panic(fmt.Sprintf("injected panic %d", next))
		}
		return fmt.Errorf("%w %d", errInjected, next)
	}
	env, err := BuildJob(JobConfig{
		Input: filepath.Join(input, "*.jsonl"), Output: output, DeadLetters: deadDir, Checkpoints: filepath.Join(dir, "checkpoints"),
		Interval: 30 * time.Millisecond, Parallelism: 2, Pause: 16, Fail: fail,
		Options: []weir.Option{
			weir.Restarts(weir.RestartStrategy{MaxAttempts: failures, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}),
			weir.OnRestart(func(r weir.Restart) {
				mu.Lock()
				restarts = append(restarts, r)
				atRestart = completed
				mu.Unlock()
			}),
			weir.OnCheckpoint(func(weir.CheckpointMetrics) {
				mu.Lock()
				completed++
				mu.Unlock()
			}),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}

	fromCheckpoint := 0
	for _, r := range restarts {
		if r.From != "" {
			fromCheckpoint++
		}
	}
	// A failure waiting for a checkpoint may find none before the input
	// ends; most must have come.
	if len(restarts) != next || next < failures/2 {
		t.Fatalf("%d restarts after %d injected failures (of %d planned), want one per failure and at least half", len(restarts), next, failures)
	}
	got, err := Committed(output)
	if err != nil {
		t.Fatal(err)
	}
	lost, extra := Diff(want, got)
	dead, err := DeadLetterRecords(deadDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d output records expected, %d committed; %d dead letters; %d restarts (%d failures planned), %d of them from a checkpoint; %d checkpoints completed; lost %d, duplicated or wrong %d",
		len(want), len(got), len(dead), len(restarts), failures, fromCheckpoint, env.JobMetrics().CheckpointsCompleted, len(lost), len(extra))
	if len(lost) > 0 || len(extra) > 0 {
		t.Fatalf("not exactly once: lost %d (first %v), duplicated or wrong %d (first %v)",
			len(lost), lost[:min(3, len(lost))], len(extra), extra[:min(3, len(extra))])
	}
	if deadLost, deadExtra := Diff(bad, dead); len(deadLost) > 0 || len(deadExtra) > 0 {
		t.Fatalf("dead letters not exactly once: lost %d, duplicated or wrong %d", len(deadLost), len(deadExtra))
	}
	if fromCheckpoint == 0 {
		t.Errorf("no restart went back to a checkpoint; slow the job down")
	}
	for _, d := range []string{output, deadDir} {
		if hidden := hiddenFiles(t, d); len(hidden) > 0 {
			t.Fatalf("hidden part files left after the job completed: %v", hidden)
		}
	}
	if !slices.ContainsFunc(restarts, func(r weir.Restart) bool { return errors.Is(r.Cause, errInjected) }) {
		t.Errorf("no restart caused by an injected error: %v", restarts)
	}
}
