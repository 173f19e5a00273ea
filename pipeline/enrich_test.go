package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// runLines runs a pipeline over the JSON lines of records (its input's
// path is ${env:IN}) and returns what its stdout output printed, parsed,
// and its dead letters (${env:DEAD}, when the file has dead_letter).
func runLines(t *testing.T, src string, env map[string]string, records []string, opts ...weir.Option) (out []map[string]any, dead []map[string]any) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(records, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"IN": in, "DEAD": filepath.Join(dir, "dead")}
	for k, v := range env {
		vars[k] = v
	}
	p := parse(t, src, vars)
	var buf bytes.Buffer
	e := weir.New(append(p.EnvOptions(), opts...)...)
	job, err := p.Build(e, pipeline.Stdout(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		out = append(out, m)
	}
	for _, l := range committed(t, vars["DEAD"]) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("dead letter %q: %v", l, err)
		}
		dead = append(dead, m)
	}
	return out, dead
}

// customers is an HTTP service of customers by ID that counts the
// requests for each ID. Some IDs misbehave: see ServeHTTP.
type customers struct {
	mu       sync.Mutex
	requests map[string]int
	headers  []string
}

func newCustomers(t *testing.T) (*customers, string) {
	c := &customers{requests: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *customers) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[id]
}

func (c *customers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// As sent: a space or a slash in an ID must come escaped.
	id := strings.TrimPrefix(r.URL.EscapedPath(), "/customers/")
	c.mu.Lock()
	c.requests[id]++
	n := c.requests[id]
	c.headers = append(c.headers, r.Header.Get("Authorization"))
	c.mu.Unlock()
	switch id {
	case "404":
		http.NotFound(w, r)
	case "flaky": // 500 the first time, then an answer
		if n == 1 {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"name":"Flaky","tier":"gold"}`)
	case "down": // 503 always
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	case "bad": // 400: not worth retrying
		http.Error(w, "bad id", http.StatusBadRequest)
	case "garbage":
		fmt.Fprint(w, `<html>oops</html>`)
	case "slow": // answers only once the client has given up
		<-r.Context().Done()
	case "a%20b%2Fc":
		fmt.Fprint(w, `{"name":"Escaped","tier":"silver"}`)
	default:
		fmt.Fprintf(w, `{"name":"Customer %s","tier":"bronze","plan":{"seats":%d}}`, id, len(id))
	}
}

const enrichHTTP = `version: 1
inputs:
  views:
    type: file
    path: ${env:IN}
    schema: {view: int, customer: string}
steps:
  - name: with-customer
    enrich:
      http:
        url: "${env:BASE}/customers/{{ customer }}?v={{ .view }}"
        headers: {Authorization: "Bearer ${env:TOKEN}"}
      cache: {ttl: 1h, max_entries: 100}
      retries: 2
      backoff: 1ms
      into: c
outputs:
  out: {type: stdout}
`

// An HTTP lookup puts the answer under into; a 404 keeps the record with
// a null; a 500 is retried; the cache and the sharing of concurrent
// lookups make one request of each URL.
func TestEnrichHTTP(t *testing.T) {
	svc, base := newCustomers(t)
	var records []string
	for i, c := range []string{"1", "2", "1", "1", "404", "flaky", "2", "a b/c", "1"} {
		records = append(records, fmt.Sprintf(`{"view":%d,"customer":%q}`, i%2, c))
	}
	out, _ := runLines(t, enrichHTTP, map[string]string{"BASE": base, "TOKEN": "s3cret"}, records)
	if len(out) != len(records) {
		t.Fatalf("%d records out, want %d: %v", len(out), len(records), out)
	}
	names := map[string]any{}
	for _, r := range out {
		c, _ := r["c"].(map[string]any)
		if c == nil {
			names[r["customer"].(string)] = nil
			continue
		}
		names[r["customer"].(string)] = c["name"]
	}
	want := map[string]any{"1": "Customer 1", "2": "Customer 2", "404": nil, "flaky": "Flaky", "a b/c": "Escaped"}
	for k, v := range want {
		if names[k] != v {
			t.Errorf("customer %q: name %v, want %v", k, names[k], v)
		}
	}
	if _, ok := out[4]["c"]; !ok || out[4]["c"] != nil {
		t.Errorf("a miss kept: %v, want c: null", out[4])
	}
	// Two views (v=0 and v=1) of customer 1: two URLs, one request each.
	if n := svc.count("1"); n != 2 {
		t.Errorf("customer 1 was asked for %d times, want 2 (one per URL, the rest from the cache)", n)
	}
	if n := svc.count("flaky"); n != 2 {
		t.Errorf("the flaky customer was asked for %d times, want 2 (a 500, then the answer)", n)
	}
	if n := svc.count("a%20b%2Fc"); n != 1 {
		t.Errorf("the escaped ID was asked for %d times, want 1", n)
	}
	for _, h := range svc.headers {
		if h != "Bearer s3cret" {
			t.Fatalf("Authorization %q, want the token from the environment", h)
		}
	}
}

const enrichErrors = `version: 1
inputs:
  views:
    type: file
    path: ${env:IN}
steps:
  - name: lookup
    enrich:
      http:
        url: "${env:BASE}/customers/{{ customer }}?key=${env:TOKEN}"
      timeout: 200ms
      retries: 1
      backoff: 1ms
      fields: {who: name, seats: plan.seats}
      on_miss: MISS
outputs:
  out: {type: stdout}
dead_letter: {path: "${env:DEAD}"}
`

// What fails a lookup — a timeout, a 5xx after the retries, a 4xx, a
// body that is not JSON — goes to the dead letters with its cause, with
// the URL as written (no secret); a miss is dropped or dead-lettered as
// on_miss says.
func TestEnrichHTTPFailures(t *testing.T) {
	svc, base := newCustomers(t)
	records := []string{`{"customer":"7"}`, `{"customer":"slow"}`, `{"customer":"down"}`, `{"customer":"bad"}`,
		`{"customer":"garbage"}`, `{"customer":"404"}`, `{"customer":null}`}
	env := map[string]string{"BASE": base, "TOKEN": "s3cret"}

	out, dead := runLines(t, strings.Replace(enrichErrors, "MISS", "drop", 1), env, records)
	if len(out) != 1 || out[0]["who"] != "Customer 7" || out[0]["seats"] != float64(1) {
		t.Fatalf("output %v, want customer 7 with who and seats", out)
	}
	causes := map[string]string{}
	for _, d := range dead {
		rec, _ := d["record"].(map[string]any)
		causes[fmt.Sprint(rec["customer"])], _ = d["error"].(string)
	}
	wantCause := map[string][]string{
		"slow":    {"timed out", "GET ${env:BASE}/customers/slow?key=${env:TOKEN}"},
		"down":    {"after 2 attempts", "503"},
		"bad":     {"400", "bad id"},
		"garbage": {"not a JSON object", "<html>"},
	}
	if len(dead) != len(wantCause) {
		t.Errorf("%d dead letters, want %d: %v", len(dead), len(wantCause), dead)
	}
	for id, parts := range wantCause {
		for _, p := range parts {
			if !strings.Contains(causes[id], p) {
				t.Errorf("dead letter of %q: error %q, want it to say %q", id, causes[id], p)
			}
		}
		if strings.Contains(causes[id], "s3cret") {
			t.Errorf("dead letter of %q shows the secret: %q", id, causes[id])
		}
	}
	if n := svc.count("bad"); n != 1 {
		t.Errorf("a 400 was asked %d times, want 1: not retried", n)
	}
	if n := svc.count("garbage"); n != 1 {
		t.Errorf("garbage was asked %d times, want 1: not retried", n)
	}

	// on_miss dead-letter: the 404 and the null key are dead letters too.
	out, dead = runLines(t, strings.Replace(enrichErrors, "MISS", "dead-letter", 1), env, records)
	if len(out) != 1 {
		t.Fatalf("output %v, want customer 7 only", out)
	}
	var misses []string
	for _, d := range dead {
		if e := d["error"].(string); strings.Contains(e, "nothing found") || strings.Contains(e, "null") {
			misses = append(misses, e)
		}
	}
	slices.Sort(misses)
	if len(misses) != 2 || !strings.Contains(misses[1], "GET ${env:BASE}/customers/404?key=${env:TOKEN}") {
		t.Errorf("misses dead-lettered: %q, want the 404 and the null key", misses)
	}
}
