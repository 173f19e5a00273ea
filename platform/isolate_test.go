package platform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// isolatedRoute routes generated ids to two file outputs, each a job of
// its own.
const isolatedRoute = `version: 1
inputs:
  numbers:
    type: generator
    rate: 500
    fields:
      id: seq
steps:
  - name: split
    from: [numbers]
    route:
      isolate: true
      cases:
        - when: id %% 2 == 0
          to: evens
      default: odds
outputs:
  evens: {type: file, path: out/%[1]s-evens}
  odds: {type: file, path: out/%[1]s-odds}
`

// TestIsolatedRouteRunsAJobPerOutput: a pipeline whose route isolates its
// outputs is submitted as one supervised job per output, each a process
// of its own (weir run --output) with its own checkpoints; canceling one
// leaves the other running and checkpointing; a rewind's dry run of one
// restates its output only.
func TestIsolatedRouteRunsAJobPerOutput(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	j, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Pipeline: fmt.Sprintf(isolatedRoute, "iso"), CheckpointInterval: "100ms", Retain: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Group) != 2 || j.Group[0] != j.ID || j.Output != "evens" {
		t.Fatalf("submitted job = %+v; want the first of a group of two, running evens", j)
	}
	evens := ts.waitFor(t, j.Group[0], "a checkpoint", hasCheckpoint)
	odds := ts.waitFor(t, j.Group[1], "a checkpoint", hasCheckpoint)
	if odds.Output != "odds" || evens.PID == odds.PID || evens.Checkpoints.Dir == odds.Checkpoints.Dir {
		t.Fatalf("the jobs share a process or checkpoints: %+v\n%+v", evens, odds)
	}
	log, err := ts.Client.Log(t.Context(), odds.ID)
	if err != nil || !strings.Contains(log, "--output odds") {
		t.Errorf("the odds job's process was not started with --output odds: %v\n%s", err, log)
	}
	jobs, err := ts.Client.List(t.Context())
	if err != nil || len(jobs) != 2 {
		t.Fatalf("list: %d jobs, %v; want 2", len(jobs), err)
	}

	if _, err := ts.Client.Cancel(t.Context(), evens.ID); err != nil {
		t.Fatal(err)
	}
	before := odds.Checkpoints.Latest.ID
	odds = ts.waitFor(t, odds.ID, "a checkpoint after the other job was canceled", func(j platform.Job) bool {
		return hasCheckpoint(j) && j.Checkpoints.Latest.ID > before+2
	})
	if j, _ := ts.Client.Show(t.Context(), evens.ID); j.State != platform.Canceled {
		t.Errorf("evens is %s; want canceled", j.State)
	}

	plan, err := ts.Client.Rewind(t.Context(), odds.ID, platform.RewindRequest{To: time.Now().UTC().Format(time.RFC3339Nano), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Outputs) != 1 || plan.Outputs[0].Name != "odds" || plan.Outputs[0].ToDir != filepath.Join(ts.Dir(), "out", "iso-odds.v2") {
		t.Errorf("dry run of odds' job: outputs %+v; want odds only, to out/iso-odds.v2", plan.Outputs)
	}
	unisolated := strings.Replace(fmt.Sprintf(isolatedRoute, "iso"), "isolate: true", "isolate: false", 1)
	if _, err := ts.Client.Rewind(t.Context(), odds.ID, platform.RewindRequest{To: time.Now().UTC().Format(time.RFC3339Nano), Pipeline: unisolated, DryRun: true}); !isStatus(err, 422) || !strings.Contains(err.Error(), "keep isolate: true") {
		t.Errorf("a rewind of an isolated output's job with a pipeline that isolates nothing: %v; want 422", err)
	}
	if _, err := os.Stat(filepath.Join(ts.Dir(), "out", "iso-odds")); err != nil {
		t.Errorf("odds wrote nothing: %v", err)
	}
}
