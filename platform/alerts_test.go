package platform_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/platform"
)

// hookRecorder is a webhook endpoint keeping what it was posted.
type hookRecorder struct {
	mu     sync.Mutex
	alerts []platform.Alert
	keys   []string
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var a platform.Alert
	if err := json.Unmarshal(b, &a); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.alerts = append(h.alerts, a)
	h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
	h.mu.Unlock()
}

func (h *hookRecorder) of(rule string) []platform.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []platform.Alert
	for _, a := range h.alerts {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

// waitUntil polls cond, failing the test after a minute: a bound for a
// stuck test, not a measurement.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alertingConfig(t *testing.T, yaml string) *platform.Alerting {
	t.Helper()
	a, err := platform.ParseConfig("config.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &a
}

// failsLater is a pipeline whose map fails on its 301st record, some
// tenths of a second after its process starts.
const failsLater = `version: 1
inputs:
  numbers:
    type: generator
    rate: 1000
    fields:
      id: seq
steps:
  - name: boom
    from: [numbers]
    map:
      x: 'id > 300 ? int("nope") : 1'
outputs:
  out: {type: stdout, from: boom}
`

// A job made to fail until the server gives up on it opens the built-in
// "job-restarting" alert once and closes it once its restarts are out of
// the rule's window; the webhook gets the opening and the closing, each
// once.
func TestAlertJobRestartingToWebhook(t *testing.T) {
	hook := &hookRecorder{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	ts := newTestServer(t, platform.Config{Alerting: alertingConfig(t, fmt.Sprintf(`
alerts:
  interval: 100ms
  rules:
    - {name: job-restarting, window: 2s}
  webhook: {url: %q, backoff: 10ms}
`, hs.URL+"/hook"))})
	j := ts.submit(t, failsLater)
	ts.waitFor(t, j.ID, "failed", func(j platform.Job) bool { return j.State == platform.Failed })
	waitUntil(t, "the alert to open and close", func() bool { return len(hook.of("job-restarting")) >= 2 })
	got := hook.of("job-restarting")
	if len(got) != 2 || got[0].State != "open" || got[1].State != "closed" {
		t.Fatalf("webhook got %+v; want one opening, then one closing", got)
	}
	open, closed := got[0], got[1]
	if open.ID != closed.ID || open.JobID != j.ID || open.Labels["job_id"] != j.ID {
		t.Fatalf("opening %+v and closing %+v: want one alert of job %s", open, closed, j.ID)
	}
	if open.Value < 1 || open.ClosedAt != nil || closed.ClosedAt == nil || !closed.ClosedAt.After(closed.OpenedAt) {
		t.Fatalf("opening %+v, closing %+v: want a value of at least one restart, and a closing time after the opening", open, closed)
	}
	as, err := ts.Client.Alerts(t.Context(), "", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].ID != open.ID || as[0].State != "closed" || as[0].ClosedAt == nil {
		t.Fatalf("GET /api/v1/alerts: %+v; want the closed alert %s", as, open.ID)
	}
	hook.mu.Lock()
	keys := hook.keys
	hook.mu.Unlock()
	if keys[0] != open.ID+"-open" || keys[1] != open.ID+"-closed" {
		t.Fatalf("idempotency keys %q; want the alert's ID and state", keys)
	}
	if !ts.logs.has("alert opened: " + open.Message) {
		t.Fatalf("the server's log has no line for the opening %q", open.Message)
	}
}

// stalled is a pipeline whose event time never moves: every record has
// the same time, so its watermark falls behind the clock a second every
// second.
const stalled = `version: 1
inputs:
  beacons:
    type: generator
    rate: 200
    fields:
      id: seq
      ts: 1700000000000
    event_time: {field: ts}
outputs:
  out: {type: stdout}
`

// A source whose watermark stalls opens "watermark-stalled", delivered to
// a Kafka topic; canceling the job closes it. The topic holds the opening
// and the closing, each once.
func TestAlertWatermarkStalledToKafka(t *testing.T) {
	kc := kafkatest.NewCluster(t)
	kc.Topic("alerts", 1)
	ts := newTestServer(t, platform.Config{Alerting: alertingConfig(t, fmt.Sprintf(`
alerts:
  interval: 100ms
  log: false
  rules:
    - {name: watermark-stalled, window: 1s, for: 500ms}
  kafka: {brokers: [%q], topic: alerts}
`, kc.Brokers()[0]))})
	j := ts.submit(t, stalled)
	var opened []platform.Alert
	waitUntil(t, "watermark-stalled to open", func() bool {
		as, err := ts.Client.Alerts(t.Context(), "open", j.ID)
		if err != nil {
			t.Fatal(err)
		}
		opened = as
		return len(as) > 0
	})
	for _, a := range opened {
		if a.Rule != "watermark-stalled" || a.Value < 0.9 {
			t.Fatalf("alert %+v: want watermark-stalled, its watermark lag growing by about a second a second", a)
		}
	}
	if _, err := ts.Client.Cancel(t.Context(), j.ID); err != nil {
		t.Fatal(err)
	}
	var all []platform.Alert
	waitUntil(t, "watermark-stalled to close", func() bool {
		as, err := ts.Client.Alerts(t.Context(), "open", j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) > 0 {
			return false
		}
		all, err = ts.Client.Alerts(t.Context(), "", j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return true
	})
	// Every alert the job opened was opened once and closed once.
	var recs []platform.Alert
	waitUntil(t, "the topic to hold the openings and the closings", func() bool {
		recs = recs[:0]
		for _, r := range kc.ReadUncommitted("alerts") {
			var a platform.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatalf("record %q: %v", r.Value, err)
			}
			if string(r.Key) != a.ID {
				t.Fatalf("record key %q; want the alert's ID %s", r.Key, a.ID)
			}
			recs = append(recs, a)
		}
		return len(recs) >= 2*len(all)
	})
	if len(all) != 1 {
		t.Fatalf("alerts of the job %+v; want one", all)
	}
	states := map[string]string{}
	for _, a := range recs {
		states[a.ID] += a.State + " "
	}
	if len(recs) != 2*len(all) {
		t.Fatalf("topic alerts holds %d records for %d alerts: %+v", len(recs), len(all), recs)
	}
	for _, a := range all {
		if a.State != "closed" || states[a.ID] != "open closed " {
			t.Fatalf("alert %s is %s, its records %q; want it closed, opened and closed once each", a.ID, a.State, states[a.ID])
		}
	}
}
