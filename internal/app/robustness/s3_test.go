package robustness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
	"github.com/weirstream/weir/internal/failpoint"
)

// s3Failpoints are the moments the S3 branch kills the job at, besides
// random ones: a state file uploaded, the metadata object written (the
// checkpoint complete, nothing committed), a sink prepared or about to
// commit, part files half committed, and a retired checkpoint's metadata
// deleted but not its state files.
var s3Failpoints = []string{
	failpoint.StateWritten,
	checkpoint.FailpointStateFileSynced,
	checkpoint.FailpointMetadataRenamed,
	failpoint.SinkPrepared,
	failpoint.SinkCommitting,
	PartFileCommitted,
	checkpoint.FailpointDeleteMetadataRemoved,
}

// TestExactlyOnceUnderKillS3 runs the crash harness's job on the Pebble
// state backend with its checkpoints on S3: an S3 server hosted by the
// test, which the job's kills do not touch. The job is killed with SIGKILL
// at random moments and at every failpoint, restarted from its latest
// checkpoint in the bucket at parallelism 1, 2, 1, …, and the committed
// output must equal the model: nothing lost, nothing duplicated. Every
// checkpoint left in the bucket is then complete and whole, or incomplete
// and newer than the newest complete one.
func TestExactlyOnceUnderKillS3(t *testing.T) {
	// Half the kills are at failpoints, each in turn, so there must be at
	// least two kills per failpoint.
	events, minKills, pause := 14_000, 2*len(s3Failpoints), 4
	if *soak {
		events, minKills = 120_000, 140
	}
	if testing.Short() {
		t.Skip("the crash harness builds and kills processes")
	}
	fake := checkpointtest.StartFakeS3(t, "weir-crash")
	fake.SetEnv(t)
	h := &harness{t: t, dir: t.TempDir(), pause: pause, kills: map[string]int{}, state: "pebble"}
	h.input = filepath.Join(h.dir, "input")
	h.output = filepath.Join(h.dir, "output")
	h.dead = filepath.Join(h.dir, "dead-letters")
	h.chk = "s3://weir-crash/jobs/eojob"
	h.bin = filepath.Join(h.dir, "eojob")
	// Pebble's working directories, which a killed job leaves, go under
	// the test's directory.
	tmp := filepath.Join(h.dir, "tmp")
	h.env = append(fake.Env(), "TMPDIR="+tmp)
	if out, err := exec.Command("go", "build", "-o", h.bin, "./eojob").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, d := range []string{h.input, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in, bad, err := Generate(h.input, 4, events, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Model(in)

	h.killUntilDone(minKills, s3Failpoints)

	got, err := Committed(h.output)
	if err != nil {
		t.Fatal(err)
	}
	h.compare(fmt.Sprintf("Pebble state, checkpoints on S3: %d input lines, %d output records expected, %d committed, %d runs",
		len(in)+len(bad), len(want), len(got), h.runs), s3Failpoints, want, got, bad)

	s, err := checkpoint.Open(h.chk)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.(*checkpoint.S3).Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var newest int64
	for _, e := range entries {
		switch e.Status {
		case checkpoint.Complete:
			newest = max(newest, e.Ref.ID)
		case checkpoint.Broken:
			t.Errorf("%v is broken: %v", e.Ref, e.Problem)
		}
	}
	for _, e := range entries {
		if e.Status == checkpoint.Incomplete && e.Ref.Kind == checkpoint.KindCheckpoint && e.Ref.ID < newest {
			t.Errorf("incomplete %v left older than the newest complete checkpoint %d", e.Ref, newest)
		}
	}
}
