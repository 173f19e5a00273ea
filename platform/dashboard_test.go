package platform_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform"
)

// getJSON GETs path with the token into v and reports whether it answered
// 200.
func (ts *testServer) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, body := ts.request(t, "GET", path, "", true)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// TestDashboardRoutes: the routes the dashboard reads show the running
// job's graph from its process, with every operator's parallelism and
// rates, its history, its stats in the list, and its dead letters with
// their errors.
func TestDashboardRoutes(t *testing.T) {
	// A normal rule with one-second steps that judges from its fifth: the
	// history's samples soon carry the range it expected.
	ts := newTestServer(t, platform.Config{HistoryInterval: 100 * time.Millisecond, Alerting: alertingConfig(t, `
alerts:
  interval: 200ms
  rules:
    - {name: tput, kind: normal, series: throughput, per: source, step: 1s, warmup: 5}
    - {name: throughput-abnormal, step: 1s, warmup: 5}
`)})
	name := strings.ReplaceAll(t.Name(), "/", "-")
	j, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Pipeline: fmt.Sprintf(dashboardPipeline, name, name, name), Parallelism: 2, CheckpointInterval: "200ms"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	base := "/api/v1/jobs/" + j.ID
	var g platform.GraphView
	var h platform.HistoryView
	var d platform.DeadLetters
	var st platform.Stats
	deadline := time.Now().Add(time.Minute)
	for {
		ts.getJSON(t, base+"/graph", &g)
		ts.getJSON(t, base+"/history", &h)
		ts.getJSON(t, base+"/deadletters", &d)
		ts.getJSON(t, "/api/v1/stats", &st)
		rated := 0
		for _, o := range g.Operators {
			if o.InPerSecond > 0 || o.OutPerSecond > 0 {
				rated++
			}
		}
		expected, sourceExpected := false, false
		for _, smp := range h.Samples {
			_, ok := smp.Expected["records_per_second"]
			expected = expected || ok
			for _, src := range smp.Sources {
				_, ok := src.Expected["records_per_second"]
				sourceExpected = sourceExpected || ok
			}
		}
		if g.Running && rated == len(g.Operators) && len(g.Operators) > 0 && len(h.Samples) >= 2 && len(d.Letters) > 0 && len(h.Checkpoints) > 0 && st.Jobs[j.ID].RecordsPerSecond > 0 &&
			expected && sourceExpected {
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(map[string]any{"graph": g, "history": h, "dead": d, "stats": st}, "", "  ")
			t.Fatalf("waited a minute for the dashboard's figures; they are\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ids := map[string]bool{}
	for _, o := range g.Operators {
		ids[o.ID] = true
		if o.Parallelism != 2 {
			t.Errorf("operator %s (%s): parallelism %d; want 2", o.Name, o.ID, o.Parallelism)
		}
	}
	for _, e := range g.Edges {
		if !ids[e.From] || !ids[e.To] {
			t.Errorf("edge %+v names an operator the graph does not have", e)
		}
	}
	if len(g.Edges) < len(g.Operators)-1 {
		t.Errorf("%d edges between %d operators: the graph is not connected", len(g.Edges), len(g.Operators))
	}
	for _, l := range d.Letters {
		if !strings.Contains(l.Error, `step "parse"`) || l.Operator == "" || len(l.Record) == 0 {
			t.Errorf("dead letter %+v: want the parse step's error, its operator and record", l)
		}
	}
	if !strings.HasSuffix(d.Dir, "dead/"+name) {
		t.Errorf("dead letters read from %s; want the pipeline's dead/%s", d.Dir, name)
	}
	// A job's routes answer 404 for a job that does not exist, and need
	// the token.
	for _, p := range []string{"/graph", "/history", "/deadletters"} {
		if code, _ := ts.request(t, "GET", "/api/v1/jobs/j000000000000"+p, "", true); code != 404 {
			t.Errorf("GET %s of no job: %d; want 404", p, code)
		}
		if code, _ := ts.request(t, "GET", base+p, "", false); code != 401 {
			t.Errorf("GET %s without the token: %d; want 401", p, code)
		}
	}
}
