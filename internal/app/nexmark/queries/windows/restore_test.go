package windows

import (
	"testing"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// stopAndRestore runs q on the generated events of CheckGenerated at
// parallelism 2, stops it with a savepoint shortly after it starts,
// restores the savepoint at parallelism 1 and returns the rows of both
// runs. It reports whether the first run was stopped before the end of its
// input (otherwise the second has nothing left to do).
func stopAndRestore(t *testing.T, q job.Query, cfg nexmark.Config, after time.Duration) ([]string, bool) {
	t.Helper()
	dir := t.TempDir()
	stop := make(chan struct{})
	timer := time.AfterFunc(after, func() { close(stop) })
	defer timer.Stop()
	first, r, err := job.RunCollect(t.Context(), q, job.Options{Generator: cfg, Parallelism: 2,
		CheckpointDir: dir, CheckpointInterval: time.Hour, Stop: stop})
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	second, _, err := job.RunCollect(t.Context(), q, job.Options{Generator: cfg, Parallelism: 1,
		CheckpointDir: dir, CheckpointInterval: time.Hour, Restore: "latest"})
	if err != nil {
		t.Fatalf("restored run: %v", err)
	}
	return append(first, second...), r.Events < cfg.Events
}

// Each query's state and timers survive a stop with a savepoint and a
// restore at another parallelism: the two runs' rows together are the
// reference's.
func TestStopAndRestore(t *testing.T) {
	events, cfg := jobtest.Events(t, jobtest.Size(), 1000)
	for _, c := range []struct {
		q   job.Query
		ref func([]nexmark.Event) []reference.Row
	}{
		{Q5, reference.Q5}, {Q7, reference.Q7}, {Q8, reference.Q8}, {Q11, reference.Q11}, {Q12, reference.Q12},
	} {
		t.Run(c.q.Name, func(t *testing.T) {
			want := c.ref(events)
			stopped := 0
			for _, after := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond} {
				lines, mid := stopAndRestore(t, c.q, cfg, after)
				if mid {
					stopped++
				}
				if c.q.Name == "q12" {
					lines = q12Totals(t, lines)
				}
				jobtest.Check(t, lines, false, want)
			}
			if stopped == 0 {
				t.Log("every first run ended before its stop: the restore had nothing to do")
			}
		})
	}
}
