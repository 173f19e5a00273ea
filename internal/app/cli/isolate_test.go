package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const isolatedPipeline = `version: 1
inputs:
  events:
    type: file
    path: IN
    schema: {id: int}
steps:
  - name: split
    route:
      isolate: true
      cases:
        - when: id % 2 == 0
          to: evens
      default: hook
outputs:
  evens: {type: file, path: OUT}
  hook: {type: webhook, url: URL, concurrency: 2, timeout: 5m}
`

// stalledHook is a webhook endpoint that holds every request until it is
// released, then takes it; it counts the ids it took and the requests it
// holds.
type stalledHook struct {
	release chan struct{}
	mu      sync.Mutex
	ids     map[float64]bool
	held    int
}

func (h *stalledHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil {
		http.Error(w, "want a JSON record", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.held++
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-r.Context().Done():
		return
	}
	h.mu.Lock()
	h.ids[rec["id"].(float64)] = true
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *stalledHook) taken() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

// With isolate, each output of the route is a job of its own: while the
// webhook's endpoint holds every request, the file output's job reads the
// whole input and commits all of its records; once the endpoint answers,
// the webhook's job delivers all of its own. Each job balances, has its
// own checkpoint directory, and says so.
func TestRunIsolated(t *testing.T) {
	const n = 20_000
	dir := t.TempDir()
	in, out, chk := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out"), filepath.Join(dir, "chk")
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"id\":%d}\n", i)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	hook := &stalledHook{release: make(chan struct{}), ids: map[float64]bool{}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	path := filepath.Join(dir, "p.yaml")
	src := strings.NewReplacer("IN", in, "OUT", out, "URL", srv.URL).Replace(isolatedPipeline)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := NewRootCommand()
	var stdout, stderr lockedBuffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"run", path, "--checkpoint-dir", chk, "--checkpoint-interval", "50ms", "--progress", "0"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	evens := func() map[int]int {
		got := map[int]int{}
		files, _ := filepath.Glob(filepath.Join(out, "part-*"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				var rec struct{ ID int }
				if json.Unmarshal([]byte(l), &rec) == nil {
					got[rec.ID]++
				}
			}
		}
		return got
	}
	for len(evens()) < n/2 {
		select {
		case err := <-done:
			t.Fatalf("weir run ended before the file output had its records: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("the file output's job has %d of %d records while the webhook is stalled: the webhook holds it back\n%s", len(evens()), n/2, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := hook.taken(); got != 0 {
		t.Fatalf("the stalled endpoint took %d records", got)
	}
	close(hook.release)
	if err := <-done; err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr.String())
	}
	got := evens()
	for id, c := range got {
		if id%2 != 0 || c != 1 {
			t.Fatalf("the file output has id %d %d times", id, c)
		}
	}
	if len(got) != n/2 {
		t.Errorf("the file output has %d records, want %d", len(got), n/2)
	}
	if taken := hook.taken(); taken != n/2 {
		t.Errorf("the endpoint took %d records, want %d", taken, n/2)
	}
	errText := stderr.String()
	for _, w := range []string{
		"weir run: output evens runs as a job of its own: inputs events; steps split, checkpoints in " + filepath.Join(chk, "evens") + "\n",
		"weir run: output hook runs as a job of its own: inputs events; steps split, checkpoints in " + filepath.Join(chk, "hook") + "\n",
		"weir run: output evens's job stopped after", fmt.Sprintf(": %d records read, %d written\n", n, n/2),
		"weir run: output hook's job stopped after",
		"weir run: output evens: records per operator", "weir run: output hook: records per operator",
	} {
		if !strings.Contains(errText, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errText)
		}
	}
	if strings.Count(errText, fmt.Sprintf(": %d records read, %d written\n", n, n/2)) != 2 {
		t.Errorf("stderr does not balance both jobs at %d read, %d written:\n%s", n, n/2, errText)
	}
	for _, o := range []string{"evens", "hook"} {
		if m, _ := filepath.Glob(filepath.Join(chk, o, "chk-*")); len(m) == 0 {
			t.Errorf("no checkpoint in %s", filepath.Join(chk, o))
		}
	}
}

// An isolated route with an input that cannot be read again from its
// start is refused at validate time, naming the place.
func TestValidateIsolatedHTTPInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	src := `version: 1
inputs:
  beacons:
    type: http
    journal: ` + filepath.Join(dir, "journal") + `
steps:
  - name: split
    route:
      isolate: true
      cases:
        - {when: 'true', to: a}
outputs:
  a: {type: stdout}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := execute(t, "validate", path)
	if err == nil || !strings.Contains(err.Error(), path+":9:7: step \"split\": route: isolate: input \"beacons\" (type http, line 3) is not replayable") {
		t.Fatalf("weir validate: %v, want the isolate refused at 9:7", err)
	}
}

// lockedBuffer is a bytes.Buffer that the command's goroutines may write
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// weir run --output NAME runs the job of one isolated output alone, with
// its checkpoints in --checkpoint-dir itself and a control socket, as
// weir serve runs it; an output the pipeline lacks, or --output of a
// pipeline without isolate, is refused.
func TestRunIsolatedOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	var b strings.Builder
	for id := range 100 {
		fmt.Fprintf(&b, "{\"id\":%d}\n", id)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src := strings.NewReplacer("IN", in, "OUT", filepath.Join(dir, "evens"), "URL", "http://127.0.0.1:1/never").Replace(isolatedPipeline)
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	chk := filepath.Join(dir, "chk")
	_, stderr, err := execute(t, "run", path, "--output", "evens", "--checkpoint-dir", chk, "--control-socket", filepath.Join(dir, "c.sock"), "--progress", "0")
	if err != nil {
		t.Fatalf("weir run --output evens: %v\n%s", err, stderr)
	}
	got := 0
	files, _ := filepath.Glob(filepath.Join(dir, "evens", "*"))
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), ".") {
			continue // the sink's own files
		}
		data, _ := os.ReadFile(f)
		got += strings.Count(string(data), "\n")
	}
	if got != 50 {
		t.Errorf("evens holds %d records; want the 50 even ids (and the webhook's job, which would fail, did not run)", got)
	}
	if cs, _ := filepath.Glob(filepath.Join(chk, "sp-*")); len(cs) == 0 {
		if cs, _ = filepath.Glob(filepath.Join(chk, "chk-*")); len(cs) == 0 {
			t.Errorf("no checkpoint in %s itself", chk)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", path, "--output", "nope"}, `--output nope: the pipeline has no output "nope"; its outputs are evens, hook`},
		{[]string{"run", path, "--output", ""}, "invalid --output"},
	} {
		if _, _, err := execute(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("weir %s: %v; want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	plain := filepath.Join(dir, "plain.yaml")
	os.WriteFile(plain, []byte("version: 1\ninputs:\n  g: {type: generator, count: 1, fields: {a: seq}}\noutputs:\n  o: {type: stdout, from: g}\n"), 0o644)
	if _, _, err := execute(t, "run", plain, "--output", "o"); err == nil || !strings.Contains(err.Error(), "runs as one job") {
		t.Errorf("weir run --output of a pipeline without isolate: %v", err)
	}
}
