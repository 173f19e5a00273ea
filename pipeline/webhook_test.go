package pipeline_test

import (
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

	"github.com/weirstream/weir"
)

// receiver is a webhook endpoint that fails transiently: the first
// request of every key gets a 503. A record with "reject" gets a 400.
// While hold is set, the requests of records with id ≥ holdFrom wait
// until the client gives up.
type receiver struct {
	mu       sync.Mutex
	keys     map[string]string // idempotency key → body
	idKeys   map[float64]map[string]bool
	tries    map[string]int
	acked    map[float64]bool
	held     int
	hold     bool
	holdFrom float64
	changed  chan struct{}
}

func newReceiver() *receiver {
	return &receiver{keys: map[string]string{}, idKeys: map[float64]map[string]bool{}, tries: map[string]int{},
		acked: map[float64]bool{}, changed: make(chan struct{}, 1)}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil || key == "" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON record and an idempotency key", http.StatusUnprocessableEntity)
		return
	}
	id, _ := rec["id"].(float64)
	rc.mu.Lock()
	if prev, ok := rc.keys[key]; ok && prev != string(body) {
		rc.mu.Unlock()
		http.Error(w, "a key with two bodies", http.StatusConflict)
		panic(fmt.Sprintf("key %s: body %s, earlier %s", key, body, prev))
	}
	rc.keys[key] = string(body)
	if rc.idKeys[id] == nil {
		rc.idKeys[id] = map[string]bool{}
	}
	rc.idKeys[id][key] = true
	rc.tries[key]++
	first, hold := rc.tries[key] == 1, rc.hold && id >= rc.holdFrom
	if hold && !first {
		rc.held++
	}
	rc.mu.Unlock()
	rc.notify()
	switch {
	case rec["reject"] == true:
		http.Error(w, "rejected", http.StatusBadRequest)
	case first:
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case hold:
		<-r.Context().Done()
	default:
		rc.mu.Lock()
		rc.acked[id] = true
		rc.mu.Unlock()
		rc.notify()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (rc *receiver) notify() {
	select {
	case rc.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds (under the receiver's lock).
func (rc *receiver) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		rc.mu.Lock()
		ok := cond()
		rc.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-rc.changed:
		case <-deadline:
			rc.mu.Lock()
			state := fmt.Sprintf("acked %v, held %d, tries %v", rc.acked, rc.held, rc.tries)
			rc.mu.Unlock()
			t.Fatalf("after a minute, still not: %s (%s)", what, state)
		}
	}
}

const webhookPipeline = `version: 1
inputs:
  events:
    type: file
    path: ${env:IN}
    watch: true
    discovery_interval: 10ms
steps:
  - name: shaped
    map: {n: id * 10}
outputs:
  hook:
    type: webhook
    url: ${env:HOOK}/events?token=${env:TOKEN}
    timeout: 1m
    retries: 3
    backoff: 1ms
    concurrency: 64
dead_letter: {path: "${env:DEAD}"}
`

// The webhook output delivers every record at least once, through 503s,
// with one idempotency key per record that stays the same when the
// record is sent again — after a retry and after a restore, which sends
// the records that were in flight at the savepoint again. A 400 is a dead
// letter, not retried.
func TestWebhookDeliversAcrossRestore(t *testing.T) {
	rc := newReceiver()
	rc.hold, rc.holdFrom = true, 30
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	in, chk, dead := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "chk"), filepath.Join(dir, "dead")
	var lines []string
	const n = 40
	for i := range n {
		if i == 7 {
			lines = append(lines, `{"id":7,"reject":true}`)
			continue
		}
		lines = append(lines, fmt.Sprintf(`{"id":%d}`, i))
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := parse(t, webhookPipeline, map[string]string{"IN": in, "HOOK": srv.URL, "TOKEN": "s3cret", "DEAD": dead})

	// The first run delivers the records below 30 and holds the others in
	// flight; once a checkpoint has completed with them in flight, it is
	// killed (canceled: no savepoint, no draining).
	var mu sync.Mutex
	checkpoints := 0
	counted := weir.OnCheckpoint(func(weir.CheckpointMetrics) {
		mu.Lock()
		checkpoints++
		mu.Unlock()
		rc.notify()
	})
	env := weir.New(append(p.EnvOptions(), weir.Checkpoints(10*time.Millisecond, chk), counted)...)
	job, err := p.Build(env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	rc.waitFor(t, "records 0-29 delivered and 30-39 in flight", func() bool {
		for i := range 30 {
			if i != 7 && !rc.acked[float64(i)] {
				return false
			}
		}
		return rc.held >= n-30
	})
	mu.Lock()
	after := checkpoints + 2 // the next may have begun before
	mu.Unlock()
	rc.waitFor(t, "two checkpoints with the records in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return checkpoints >= after
	})
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the canceled run returned nil")
	}
	rc.mu.Lock()
	rc.hold = false
	rc.mu.Unlock()

	// The restored run sends the records in flight again and ends with a
	// savepoint.
	stop := make(chan struct{})
	env = weir.New(append(p.EnvOptions(), weir.Checkpoints(time.Hour, chk), weir.StopOn(stop), weir.Restore("latest"))...)
	if job, err = p.Build(env); err != nil {
		t.Fatal(err)
	}
	go func() { done <- job.Run(context.Background()) }()
	rc.waitFor(t, "every record delivered", func() bool { return len(rc.acked) == n-1 })
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := range n {
		if keys := rc.idKeys[float64(i)]; len(keys) != 1 {
			t.Errorf("record %d was sent with %d keys, want 1: %v", i, len(keys), keys)
		}
	}
	for i := 30; i < n; i++ {
		for k := range rc.idKeys[float64(i)] {
			// A 503, a held attempt in the first run, the retry after the
			// restore.
			if rc.tries[k] < 3 {
				t.Errorf("record %d: %d requests, want the first run's and the restored run's", i, rc.tries[k])
			}
		}
	}
	if !strings.Contains(rc.keys[firstKey(rc.idKeys[3])], `"n":30`) {
		t.Errorf("record 3 was posted as %s, want its mapped fields", rc.keys[firstKey(rc.idKeys[3])])
	}
	letters := committed(t, dead)
	if len(letters) != 1 || !strings.Contains(letters[0], `400 Bad Request: rejected`) ||
		!strings.Contains(letters[0], `token=${env:TOKEN}`) || strings.Contains(letters[0], "s3cret") {
		t.Errorf("dead letters %q, want the rejected record with its 400 and the URL as written", letters)
	}
	if k := firstKey(rc.idKeys[7]); rc.tries[k] != 1 {
		t.Errorf("the rejected record was sent %d times, want 1", rc.tries[k])
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// With idempotency_key the key is the expression's value.
func TestWebhookKeyFromField(t *testing.T) {
	rc := newReceiver()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	src := strings.Replace(webhookPipeline, "    concurrency: 64\n", "    concurrency: 64\n    idempotency_key: '\"evt-\" + string(id)'\n", 1)
	src = strings.Replace(src, "    watch: true\n    discovery_interval: 10ms\n", "", 1)
	runLines(t, src, map[string]string{"HOOK": srv.URL, "TOKEN": "x"}, []string{`{"id":1}`, `{"id":2}`})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range []float64{1, 2} {
		if k := firstKey(rc.idKeys[id]); k != fmt.Sprintf("evt-%d", int(id)) || !rc.acked[id] {
			t.Errorf("record %v: key %q (delivered %v), want evt-%d", id, k, rc.acked[id], int(id))
		}
	}
}
