package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// committed returns the lines of the committed part files in dir, sorted.
func committed(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines = slices.AppendSeq(lines, strings.Lines(string(b)))
	}
	slices.Sort(lines)
	return lines
}

// deadOrders returns the IDs of the orders in the committed dead letters
// under dir, sorted, and how many there are of each error.
func deadOrders(t *testing.T, dir string) (ids []int64, errs map[string]int) {
	t.Helper()
	errs = map[string]int{}
	for _, l := range committed(t, dir) {
		var d struct {
			Error  string
			Record Order
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("dead letter %q: %v", l, err)
		}
		ids = append(ids, d.Record.ID)
		// an order whose first attempt found the service unavailable
		errs[strings.TrimPrefix(d.Error, "after 2 attempts: ")]++
	}
	slices.Sort(ids)
	return ids, errs
}

func runJob(t *testing.T, dir string, stop <-chan struct{}, out *lineWriter, args ...string) {
	t.Helper()
	args = append(args, "-out", filepath.Join(dir, "out"), "-dead", filepath.Join(dir, "dead"),
		"-checkpoints", filepath.Join(dir, "checkpoints"))
	if err := run(context.Background(), args, stop, out); err != nil {
		t.Fatal(err)
	}
}

// Every order is enriched or a dead letter, once: the unavailable
// service is retried, a bad request and a customer not found are not.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	runJob(t, dir, nil, &lineWriter{}, "-orders", "100")
	enriched := committed(t, filepath.Join(dir, "out"))
	ids, errs := deadOrders(t, filepath.Join(dir, "dead"))
	if len(enriched)+len(ids) != 100 {
		t.Errorf("%d orders enriched and %d dead letters, want 100 in all", len(enriched), len(ids))
	}
	want := map[string]int{"customer 20: bad request": 4, "customer 21 not found": 5, "customer 22 not found": 4}
	if len(errs) != len(want) {
		t.Errorf("dead letters %v, want %v", errs, want)
	}
	for e, n := range want {
		if errs[e] != n {
			t.Errorf("%d dead letters %q, want %d (all: %v)", errs[e], e, n, errs)
		}
	}
}

// A run stopped with a savepoint and resumed with -restore latest commits
// what a run without a stop commits, each order once.
func TestStopAndRestoreLatest(t *testing.T) {
	whole := t.TempDir()
	runJob(t, whole, nil, &lineWriter{}, "-orders", "20000")
	want := committed(t, filepath.Join(whole, "out"))
	wantDead, _ := deadOrders(t, filepath.Join(whole, "dead"))

	dir := t.TempDir()
	stop := make(chan struct{})
	first := &lineWriter{wait: "checkpoint 2 completed", seen: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-first.seen
		close(stop)
	}()
	// 20 000 orders at 20 000 a second, a checkpoint every 50 ms: the
	// stop comes well before the end.
	runJob(t, dir, stop, first, "-orders", "20000", "-rate", "20000", "-interval", "50ms")
	<-done
	if !strings.Contains(first.String(), "stopped; resume with -restore latest") {
		t.Fatalf("the first run did not stop with a savepoint; it printed:\n%s", first.String())
	}
	runJob(t, dir, nil, &lineWriter{}, "-orders", "20000", "-restore", "latest")
	if got := committed(t, filepath.Join(dir, "out")); !slices.Equal(got, want) {
		t.Errorf("stopped and restored: %d orders enriched, want the %d of a run without a stop", len(got), len(want))
	}
	if got, _ := deadOrders(t, filepath.Join(dir, "dead")); !slices.Equal(got, wantDead) {
		t.Errorf("stopped and restored: %d dead letters, want the %d of a run without a stop", len(got), len(wantDead))
	}
}

// lineWriter keeps what the program prints; when wait is set it closes
// seen at the first line holding it.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wait string
	seen chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.wait != "" && bytes.Contains(p, []byte(w.wait)) {
		close(w.seen)
		w.wait = ""
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
