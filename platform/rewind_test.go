package platform_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// restated is a bounded pipeline of one split whose filter is given: the
// buggy one keeps the odd ids, the fixed one the even.
const restated = `version: 1
inputs:
  numbers:
    type: generator
    count: %d
    rate: 1000
    splits: 1
    fields:
      id: seq
steps:
  - name: keep
    from: [numbers]
    filter: %s
outputs:
  out:
    type: file
    from: keep
    path: out/w
`

// TestRewindRestatesTheOutput: a job with a wrong filter runs to its end;
// a rewind with the fixed pipeline to a time while it ran restores the
// newest checkpoint before that time (kept by the job's retention), makes
// version 2 of the output — the files that checkpoint had committed, then
// what the fixed pipeline makes of the input from the checkpoint's
// position — and switches out/w.current to it. The dry run says so first
// and changes nothing.
func TestRewindRestatesTheOutput(t *testing.T) {
	ts := newTestServer(t, platform.Config{})
	const n = 4000
	buggy := fmt.Sprintf(restated, n, "id % 2 == 1")
	fixed := fmt.Sprintf(restated, n, "id % 2 == 0")
	j, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Pipeline: buggy, CheckpointInterval: "200ms", Retain: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if j.Retain != "1h0m0s" {
		t.Errorf("retain = %q; want 1h0m0s", j.Retain)
	}
	link := filepath.Join(ts.Dir(), "out", "w.current")
	if target, err := os.Readlink(link); err != nil || target != "w" {
		t.Fatalf("out/w.current = %q, %v; want a link to w from the submission on", target, err)
	}
	ts.waitFor(t, j.ID, "a checkpoint", hasCheckpoint)
	ts.waitFor(t, j.ID, "a second checkpoint", func(j platform.Job) bool { return j.Checkpoints.Count >= 2 })
	mid := time.Now().UTC()
	j = ts.waitFor(t, j.ID, "finished", func(j platform.Job) bool { return !j.State.Live() })
	if j.State != platform.Finished {
		t.Fatalf("job is %s: %s", j.State, j.LastError)
	}
	if j.Checkpoints.Count <= 3 {
		t.Fatalf("%d checkpoints kept; want all of them (retain 1h)", j.Checkpoints.Count)
	}
	old := readIDs(t, filepath.Join(ts.Dir(), "out", "w"))

	for to, status := range map[string]int{
		"":                     http.StatusBadRequest,
		"../../token":          http.StatusBadRequest,
		"yesterday":            http.StatusBadRequest,
		"2001-01-01T00:00:00Z": http.StatusConflict,
		"chk-999999":           http.StatusNotFound,
	} {
		if _, err := ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: to, Pipeline: fixed, DryRun: true}); !isStatus(err, status) {
			t.Errorf("rewind to %q: %v; want %d", to, err, status)
		}
	}
	outside := strings.Replace(fixed, "path: out/w", "path: ../elsewhere", 1)
	if _, err := ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: mid.Format(time.RFC3339Nano), Pipeline: outside, DryRun: true}); !isStatus(err, http.StatusUnprocessableEntity) {
		t.Errorf("rewind with an output outside DIR: %v; want 422", err)
	}

	to := mid.Format(time.RFC3339Nano)
	plan, err := ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: to, Pipeline: fixed, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.DryRun || plan.Job != nil || !plan.PipelineChanged || plan.Checkpoint.Completed.After(mid) || plan.Checkpoint.Kind != "checkpoint" {
		t.Errorf("dry run plan = %+v", plan)
	}
	if len(plan.Inputs) != 1 || plan.Inputs[0].Name != "numbers" || !strings.Contains(plan.Inputs[0].From, fmt.Sprintf("checkpoint %d", plan.Checkpoint.ID)) {
		t.Errorf("dry run inputs = %+v", plan.Inputs)
	}
	if len(plan.Outputs) != 1 {
		t.Fatalf("dry run outputs = %+v", plan.Outputs)
	}
	o := plan.Outputs[0]
	v2 := filepath.Join(ts.Dir(), "out", "w.v2")
	if o.FromVersion != 1 || o.ToVersion != 2 || o.ToDir != v2 || o.Current != link || o.KeptFiles == 0 || o.ReplacedFiles == 0 {
		t.Errorf("dry run output = %+v; want version 1 → 2 in %s, some files kept and some replaced", o, v2)
	}
	if _, err := os.Stat(v2); !os.IsNotExist(err) {
		t.Errorf("the dry run made %s: %v", v2, err)
	}
	if target, _ := os.Readlink(link); target != "w" {
		t.Errorf("the dry run switched the link to %q", target)
	}

	plan, err = ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: to, Pipeline: fixed})
	if err != nil {
		t.Fatal(err)
	}
	if plan.DryRun || plan.Job == nil || !plan.Job.State.Live() {
		t.Fatalf("rewind = %+v; want the job's new run", plan)
	}
	j = ts.waitFor(t, j.ID, "the rewound run finished", func(j platform.Job) bool { return !j.State.Live() })
	log, _ := ts.Client.Log(t.Context(), j.ID)
	if j.State != platform.Finished {
		t.Fatalf("the rewound job is %s: %s\n%s", j.State, j.LastError, log)
	}
	if !strings.Contains(log, "--restore "+plan.Checkpoint.Path) {
		t.Errorf("the rewound run did not restore %s:\n%s", plan.Checkpoint.Path, log)
	}
	if target, err := os.Readlink(link); err != nil || target != "w.v2" {
		t.Fatalf("out/w.current = %q, %v; want w.v2", target, err)
	}
	current, err := filepath.EvalSymlinks(link)
	if err != nil {
		t.Fatal(err)
	}
	got := readIDs(t, current)
	// The reference: the odd ids the checkpoint had committed, below the
	// checkpoint's position b, then every even id from b on, each once.
	b := int64(n)
	for _, id := range got {
		if id%2 == 0 {
			b = min(b, id)
		}
	}
	// The first even id is b, so the position is b or b-1 (an odd id the
	// fixed filter dropped).
	reference := func(b int64) []int64 {
		var want []int64
		for id := int64(0); id < n; id++ {
			if (id < b && id%2 == 1) || (id >= b && id%2 == 0) {
				want = append(want, id)
			}
		}
		return want
	}
	slices.Sort(got)
	want := reference(b)
	if !slices.Equal(got, want) {
		want = reference(b - 1)
	}
	if b <= 1 || b >= n || !slices.Equal(got, want) {
		t.Errorf("version 2 holds %d records (position %d); want %d: the odd ids below the checkpoint's position, then the even ids, each once", len(got), b, len(want))
	}
	if again := readIDs(t, filepath.Join(ts.Dir(), "out", "w")); !slices.Equal(again, old) {
		t.Errorf("version 1 changed: %d records, was %d", len(again), len(old))
	}
	pl, err := os.ReadFile(filepath.Join(ts.Dir(), "jobs", j.ID, "pipeline.yaml"))
	if err != nil || !strings.Contains(string(pl), "out/w.v2") || !strings.Contains(string(pl), "id % 2 == 0") {
		t.Errorf("the job's pipeline after the rewind:\n%s", pl)
	}
	// A second dry run goes from version 2 to 3.
	plan, err = ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: time.Now().UTC().Format(time.RFC3339Nano), DryRun: true})
	if err != nil || plan.Outputs[0].FromVersion != 2 || plan.Outputs[0].ToVersion != 3 || plan.PipelineChanged {
		t.Errorf("second dry run = %+v, %v; want version 2 → 3, the pipeline unchanged", plan, err)
	}
}
