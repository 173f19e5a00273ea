package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

const enrichRestore = `version: 1
inputs:
  views:
    type: file
    path: ${env:IN}
    watch: true
    discovery_interval: 10ms
    schema: {id: int}
steps:
  - name: lookup
    enrich:
      http: {url: "${env:BASE}/n/{{ id }}"}
      timeout: 1m
      concurrency: 64
      into: found
outputs:
  out: {type: file, path: "${env:OUT}"}
`

// Records whose lookups are in flight at a checkpoint are in it: a run
// killed with lookups held, restored from its checkpoint, writes every
// record exactly once, enriched.
func TestEnrichRestoresLookupsInFlight(t *testing.T) {
	var mu sync.Mutex
	hold, held := true, 0
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/n/"), "%d", &id)
		mu.Lock()
		h := hold && id >= 20
		if h {
			held++
		}
		mu.Unlock()
		notify()
		if h {
			<-r.Context().Done()
			return
		}
		fmt.Fprintf(w, `{"double":%d}`, 2*id)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	in, out, chk := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out"), filepath.Join(dir, "chk")
	var lines, want []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf(`{"id":%d}`, i))
		want = append(want, fmt.Sprintf(`{"found":{"double":%d},"id":%d}`, 2*i, i))
	}
	slices.Sort(want)
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := parse(t, enrichRestore, map[string]string{"IN": in, "OUT": out, "BASE": srv.URL})
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(time.Minute)
		for !cond() {
			select {
			case <-changed:
			case <-time.After(10 * time.Millisecond): // the output files
			case <-deadline:
				t.Fatalf("after a minute, still not: %s", what)
			}
		}
	}
	locked := func(f func() bool) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return f()
		}
	}

	checkpoints := 0
	env := weir.New(append(p.EnvOptions(), weir.Checkpoints(10*time.Millisecond, chk), weir.OnCheckpoint(func(weir.CheckpointMetrics) {
		mu.Lock()
		checkpoints++
		mu.Unlock()
		notify()
	}))...)
	job, err := p.Build(env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	wait("10 lookups held", locked(func() bool { return held >= 10 }))
	mu.Lock()
	after := checkpoints + 2
	mu.Unlock()
	wait("two checkpoints with the lookups in flight", locked(func() bool { return checkpoints >= after }))
	cancel()
	<-done
	if got := committed(t, out); len(got) > 20 {
		t.Fatalf("the killed run committed %d records, want at most the 20 not held", len(got))
	}
	mu.Lock()
	hold = false
	mu.Unlock()

	stop := make(chan struct{})
	env = weir.New(append(p.EnvOptions(), weir.Checkpoints(10*time.Millisecond, chk), weir.StopOn(stop), weir.Restore("latest"))...)
	if job, err = p.Build(env); err != nil {
		t.Fatal(err)
	}
	go func() { done <- job.Run(context.Background()) }()
	wait("every record committed", func() bool { return len(committed(t, out)) >= len(want) })
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := committed(t, out); !slices.Equal(got, want) {
		t.Errorf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
