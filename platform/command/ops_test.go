package command

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// TestJobsOpsVerbs: weir jobs restore, rescale and delete call the API and
// print its refusals.
func TestJobsOpsVerbs(t *testing.T) {
	dir := t.TempDir()
	s, err := platform.Open(platform.Config{Dir: filepath.Join(dir, "data"), Executable: "/nonexistent/weir",
		Restart: platform.RestartPolicy{InitialBackoff: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	token, _ := s.NewToken()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("version: 1\ninputs:\n  g: {type: generator, count: 1, fields: {a: seq}}\noutputs:\n  o: {type: stdout, from: g}\n"), 0o600)
	srv := "--server=" + hs.URL
	env := map[string]string{"WEIR_TOKEN": token}
	out, err := run(t, []string{"jobs", "submit", good, srv}, env)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	if _, err := run(t, []string{"jobs", "delete", id, srv}, env); err == nil || !strings.Contains(err.Error(), "stop or cancel it") {
		t.Errorf("delete of a live job: %v; want it refused", err)
	}
	if _, err := run(t, []string{"jobs", "rescale", id, srv}, env); err == nil || !strings.Contains(err.Error(), "needs --parallelism") {
		t.Errorf("rescale without --parallelism: %v", err)
	}
	if _, err := run(t, []string{"jobs", "cancel", id, srv}, env); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, []string{"jobs", "restore", id, "--from", "../token", srv}, env); err == nil || !strings.Contains(err.Error(), "not a path") {
		t.Errorf("restore from a path: %v; want it refused", err)
	}
	if _, err := run(t, []string{"jobs", "restore", id, srv}, env); err == nil || !strings.Contains(err.Error(), "no completed checkpoint") {
		t.Errorf("restore of a job without checkpoints: %v", err)
	}
	if _, err := run(t, []string{"jobs", "rescale", id, "--parallelism", "2", srv}, env); err == nil || !strings.Contains(err.Error(), "HTTP 409") {
		t.Errorf("rescale of a canceled job: %v; want 409", err)
	}
	out, err = run(t, []string{"jobs", "delete", id, srv}, env)
	if err != nil || !strings.Contains(out, id+" deleted") {
		t.Errorf("delete: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "jobs", id)); !os.IsNotExist(err) {
		t.Errorf("the job's directory after delete: %v", err)
	}
}

// TestJobsSubmitTemplate: weir jobs templates lists the templates; weir
// jobs submit --template sends its --param values, and the server's
// refusal of a bad one is printed.
func TestJobsSubmitTemplate(t *testing.T) {
	dir := t.TempDir()
	s, err := platform.Open(platform.Config{Dir: filepath.Join(dir, "data"), Executable: "/nonexistent/weir",
		Restart: platform.RestartPolicy{InitialBackoff: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	token, _ := s.NewToken()
	srv := "--server=" + hs.URL
	env := map[string]string{"WEIR_TOKEN": token}
	out, err := run(t, []string{"jobs", "templates", srv}, env)
	if err != nil || !strings.Contains(out, "nexmark:") || !strings.Contains(out, "query (enum") {
		t.Errorf("templates: %v\n%s", err, out)
	}
	out, err = run(t, []string{"jobs", "submit", "--template", "nexmark", "--param", "query=q2", "--param", "events=10", srv}, env)
	if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "j") {
		t.Errorf("submit --template: %v\n%s", err, out)
	}
	if _, err := run(t, []string{"jobs", "submit", "--template", "nexmark", "--param", "query=q9", srv}, env); err == nil || !strings.Contains(err.Error(), "want one of q0, q1, q2") {
		t.Errorf("submit with a bad query: %v", err)
	}
	if _, err := run(t, []string{"jobs", "submit", "--template", "nexmark", "--param", "query", srv}, env); err == nil || !strings.Contains(err.Error(), "want name=value") {
		t.Errorf("submit with a bad --param: %v", err)
	}
	if _, err := run(t, []string{"jobs", "submit", srv}, env); err == nil || !strings.Contains(err.Error(), "needs a pipeline file or --template") {
		t.Errorf("submit of nothing: %v", err)
	}
}

// TestPrintRewindPlan: weir jobs rewind prints, per Kafka partition, the
// offset it goes back to and what it reads again, and per output what
// happens to it.
func TestPrintRewindPlan(t *testing.T) {
	plan := platform.RewindPlan{DryRun: true,
		Checkpoint: platform.CheckpointFile{Kind: "checkpoint", ID: 7, Path: "jobs/j1/checkpoints/chk-7"},
		Inputs: []platform.RewindInput{{Name: "clicks", Type: "kafka", Reads: "topics clicks", From: "the offsets checkpoint 7 recorded",
			Offsets: []platform.RewindOffset{{Topic: "clicks", Partition: 0, Offset: 503, End: 1023, Records: 520}, {Topic: "clicks", Partition: 1, Offset: -2, End: -1, Records: -1}}}},
		Outputs: []platform.RewindOutput{
			{Name: "out", Type: "kafka", FromTopic: "out", FromVersion: 1, ToTopic: "out.v2", ToVersion: 2, Partitions: 3},
			{Name: "table", Type: "kafka", FromTopic: "table", FromVersion: 1, ToTopic: "table", ToVersion: 1, Compacted: true},
			{Name: "log", Type: "stdout"},
		}}
	var b strings.Builder
	printPlan(&b, plan)
	for _, want := range []string{
		"would rewind to:  checkpoint 7",
		"clicks/0:       back to offset 503 (end now 1023: 520 records read again)",
		"clicks/1:       back to offset earliest\n",
		"topic out (version 1) by the new topic out.v2 (version 2, 3 partitions); out stays as it is, consumers switch to out.v2",
		"re-emit table:    over the compacted topic table (version 1)",
		"output log:       stdout, written again",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the plan printed lacks %q:\n%s", want, b.String())
		}
	}
}
