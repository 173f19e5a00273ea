package cli

import (
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

// TestS3CheckpointDir: the run verbs checkpoint to an s3:// location,
// restore "latest" from it, and weir checkpoints list lists it; a wrong
// key fails the run at its start naming the endpoint and the bucket.
func TestS3CheckpointDir(t *testing.T) {
	fake := checkpointtest.StartFakeS3(t, "ckpts")
	fake.SetEnv(t)
	loc := "s3://ckpts/nexmark/q1"
	args := []string{"nexmark", "run", "--query", "q1", "--events", "2000", "--checkpoint-dir", loc}
	_, stderr, err := execute(t, args...)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "into "+loc) || !strings.Contains(stderr, loc+" keeps 1 checkpoint") {
		t.Errorf("the run's summary does not say where its checkpoints went:\n%s", stderr)
	}
	stdout, _, err := execute(t, "checkpoints", "list", loc)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) < 2 || !strings.HasPrefix(lines[1], "checkpoint") ||
		!strings.Contains(lines[1], loc+"/chk-") {
		t.Fatalf("checkpoints list %s:\n%s", loc, stdout)
	}
	if stdout, _, err := execute(t, "checkpoints", "show", loc); err != nil || !strings.Contains(stdout, loc+"/chk-") {
		t.Fatalf("checkpoints show %s: %v\n%s", loc, err, stdout)
	}
	if _, stderr, err := execute(t, append(args, "--restore", "latest")...); err != nil || !strings.Contains(stderr, "restoring from checkpoint") {
		t.Fatalf("restore latest: %v\n%s", err, stderr)
	}
	if _, _, err := execute(t, "checkpoints", "list", loc+"/chk-0000000000000000001"); err == nil ||
		!strings.Contains(err.Error(), "weir checkpoints list "+loc) {
		t.Fatalf("listing a checkpoint rather than its storage: %v", err)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "wrong")
	_, _, err = execute(t, args...)
	if err == nil || !strings.Contains(err.Error(), fake.URL+" refused the credentials") || !strings.Contains(err.Error(), `bucket "ckpts"`) {
		t.Fatalf("run with a wrong key: %v", err)
	}
}
