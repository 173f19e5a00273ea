package pipeline_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

const httpPipeline = `version: 1
inputs:
  beacons:
    type: http
    path: /beacons
    listen: 127.0.0.1:0
    journal: ${env:JOURNAL}
    partitions: 2
    partition_field: view
    schema: {view: string, bitrate: int}
steps:
  - name: slow
    filter: bitrate < 1000
outputs:
  out: {type: stdout}
`

// An http input serves the collector while the job runs: events posted
// to its path are acknowledged once in its journal and flow through the
// pipeline; an event that does not match the schema is refused with 400.
func TestHTTPInput(t *testing.T) {
	p := parse(t, httpPipeline, map[string]string{"JOURNAL": filepath.Join(t.TempDir(), "journal")})
	var out syncBuffer
	env := weir.New(p.EnvOptions()...)
	job, err := p.Build(env, pipeline.Stdout(&out))
	if err != nil {
		t.Fatal(err)
	}
	addr := job.Addr("beacons")
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr %q, want the port chosen", addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()

	post := func(body string) int {
		t.Helper()
		resp, err := http.Post("http://"+addr+"/beacons", "application/x-ndjson", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(`{"view":"a","bitrate":500}` + "\n" + `{"view":"b","bitrate":5000}` + "\n" + `{"view":"c","bitrate":700}`); code != http.StatusOK {
		t.Fatalf("posting beacons: %d, want 200", code)
	}
	if code := post(`{"view":"d","bitrate":"fast"}`); code != http.StatusBadRequest {
		t.Errorf("a beacon that does not match the schema: %d, want 400", code)
	}
	deadline := time.After(time.Minute)
	for strings.Count(out.String(), "\n") < 2 {
		select {
		case err := <-done:
			t.Fatalf("the job ended: %v", err)
		case <-deadline:
			t.Fatalf("after a minute the output is %q", out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	// The collector's counts come with the input's source's.
	var accepted, rejected float64
	for _, m := range env.Metrics() {
		for _, c := range m.Connector {
			switch c.Name {
			case "http_ingest_requests_accepted_total":
				accepted += c.Value
			case "http_ingest_requests_rejected_total":
				if slices.Equal(c.Labels, [][2]string{{"reason", "bad_request"}}) {
					rejected += c.Value
				}
			}
		}
	}
	if accepted != 1 || rejected != 1 {
		t.Errorf("connector metrics: %v accepted, %v rejected as bad requests; want 1 and 1", accepted, rejected)
	}
	cancel()
	<-done
	got := out.String()
	if !strings.Contains(got, `"view":"a"`) || !strings.Contains(got, `"view":"c"`) || strings.Contains(got, `"view":"b"`) {
		t.Errorf("output %q, want views a and c", got)
	}
	// The server is stopped and the journal closed: a second job opens it.
	env = weir.New(p.EnvOptions()...)
	job, err = p.Build(env, pipeline.Stdout(&out))
	if err != nil {
		t.Fatalf("building again after the first job: %v", err)
	}
	if err := job.Close(); err != nil {
		t.Fatal(err)
	}
}
