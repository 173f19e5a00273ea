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

// committed returns the lines of the committed part files in dir, sorted;
// hidden files are not committed.
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
		for l := range strings.Lines(string(b)) {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// runJob runs the program with args plus its own directories under dir.
func runJob(t *testing.T, dir string, stop <-chan struct{}, out *lineWriter, args ...string) {
	t.Helper()
	args = append(args, "-out", filepath.Join(dir, "out"), "-checkpoints", filepath.Join(dir, "checkpoints"))
	if err := run(context.Background(), args, stop, out); err != nil {
		t.Fatal(err)
	}
}

// The generated incident is found: every title of the customer it hits
// gets an alert opened, then closed, and no other customer gets one.
func TestRunFindsTheIncident(t *testing.T) {
	dir := t.TempDir()
	runJob(t, dir, nil, &lineWriter{}, "-views", "100000", "-parallelism", "1")
	var alerts []Alert
	for _, l := range committed(t, filepath.Join(dir, "out")) {
		var a Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert %q: %v", l, err)
		}
		if a.Customer != incidentCustomer {
			t.Errorf("alert for %s, which had no incident: %s", a.Customer, l)
		}
		alerts = append(alerts, a)
	}
	slices.SortFunc(alerts, func(a, b Alert) int { return a.At.Compare(b.At) })
	open := map[string]bool{}
	opened := 0
	for _, a := range alerts {
		if a.Open == open[a.Title] {
			t.Errorf("alert for %s at %s: open %v twice in a row", a.Title, a.At, a.Open)
		}
		if a.Open {
			opened++
		}
		open[a.Title] = a.Open
	}
	if want := titles / len(customers); opened != want {
		t.Errorf("%d alerts opened, want one for each of the %d titles of %s", opened, want, incidentCustomer)
	}
	for title, o := range open {
		if o {
			t.Errorf("the alert for %s is still open after the incident", title)
		}
	}
}

// A run stopped with a savepoint and resumed with -restore latest commits
// the same alerts, each once, as a run without a stop.
func TestStopAndRestoreLatest(t *testing.T) {
	whole := t.TempDir()
	runJob(t, whole, nil, &lineWriter{}, "-views", "100000", "-parallelism", "1")
	want := committed(t, filepath.Join(whole, "out"))
	if len(want) == 0 {
		t.Fatal("the uninterrupted run wrote no alert")
	}

	dir := t.TempDir()
	stop := make(chan struct{})
	first := &lineWriter{wait: "checkpoint 3 completed", seen: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-first.seen
		close(stop)
	}()
	// 100 000 views at 100 000 a second, a checkpoint every 50 ms: the
	// stop comes well before the end.
	runJob(t, dir, stop, first, "-views", "100000", "-rate", "100000", "-interval", "50ms", "-parallelism", "1")
	<-done
	if !strings.Contains(first.String(), "stopped; resume with -restore latest") {
		t.Fatalf("the first run did not stop with a savepoint; it printed:\n%s", first.String())
	}
	stoppedWith := len(committed(t, filepath.Join(dir, "out")))
	second := &lineWriter{}
	runJob(t, dir, nil, second, "-views", "100000", "-parallelism", "1", "-restore", "latest")
	if !strings.Contains(second.String(), "resumed from savepoint") {
		t.Fatalf("the second run did not resume from the savepoint; it printed:\n%s", second.String())
	}
	got := committed(t, filepath.Join(dir, "out"))
	if !slices.Equal(got, want) {
		t.Fatalf("stopped (%d alerts committed) and restored: %d alerts\n%s\nwant the %d of a run without a stop\n%s",
			stoppedWith, len(got), strings.Join(got, ""), len(want), strings.Join(want, ""))
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
