package weir_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// logLines decodes a JSON log into its records.
func logLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// find returns the first log record with message msg.
func find(recs []map[string]any, msg string) map[string]any {
	for _, r := range recs {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// OnCheckpoint, JobMetrics and the log say of each checkpoint and
// savepoint which kind it is, its ID and its path; the savepoint a job
// stops with is marked so, and a restore of "latest" says which one it
// took.
func TestCheckpointReportsKindIDAndPath(t *testing.T) {
	dir := t.TempDir()
	stop := make(chan struct{})
	var (
		mu       sync.Mutex
		reported []weir.CheckpointMetrics
	)
	var logs bytes.Buffer
	env := weir.New(weir.Checkpoints(time.Millisecond, dir), weir.StopOn(stop),
		weir.Logger(slog.New(slog.NewJSONHandler(&logs, nil))),
		weir.OnCheckpoint(func(c weir.CheckpointMetrics) {
			mu.Lock()
			defer mu.Unlock()
			if reported = append(reported, c); len(reported) == 2 {
				close(stop)
			}
		}))
	weir.Collect(weir.From(env, weir.Generator(weir.GeneratorSpec{Rate: 1000}, func(seq int64) int64 { return seq })).ID("numbers"))
	run(t, env)

	mu.Lock()
	defer mu.Unlock()
	// A checkpoint may complete between close(stop) and the savepoint.
	if len(reported) < 3 {
		t.Fatalf("OnCheckpoint was called %d times, want two checkpoints, then the stop", len(reported))
	}
	last := len(reported) - 1
	for i, c := range reported {
		kind, name, stopped := "checkpoint", "chk-", false
		if i == last {
			kind, name, stopped = "savepoint", "sp-", true
		}
		if c.Kind() != kind || c.Stop != stopped || filepath.Dir(c.Path) != dir || !strings.HasPrefix(filepath.Base(c.Path), name) ||
			!strings.HasSuffix(c.Path, strconv.FormatInt(c.ID, 10)) {
			t.Fatalf("report %d: kind %s, ID %d, stop %v, path %q; want a %s at %s<id>, stop %v", i, c.Kind(), c.ID, c.Stop, c.Path, kind, name, stopped)
		}
		if _, err := os.Stat(filepath.Join(c.Path, "_metadata")); err != nil && i == last {
			t.Fatalf("the stop savepoint's path: %v", err)
		}
	}
	sp := reported[last]
	if m := env.JobMetrics(); m.Stopped == nil || m.Stopped.ID != sp.ID || m.Stopped.Path != sp.Path || m.Restored != nil {
		t.Fatalf("JobMetrics stopped %+v restored %+v; want the savepoint %d and no restore", m.Stopped, m.Restored, sp.ID)
	}
	recs := logLines(t, logs.Bytes())
	if r := find(recs, "job stopped with savepoint"); r == nil || r["id"] != float64(sp.ID) || r["path"] != sp.Path {
		t.Fatalf("stop logged as %v; want savepoint %d at %s", r, sp.ID, sp.Path)
	}
	if r := find(recs, "savepoint completed"); r == nil || r["stop"] != true || r["path"] != sp.Path {
		t.Fatalf("savepoint logged as %v", r)
	}

	// Restore "latest": the stop savepoint is the newest.
	logs.Reset()
	stop2 := make(chan struct{})
	close(stop2)
	env = weir.New(weir.Checkpoints(time.Hour, dir), weir.StopOn(stop2), weir.Restore("latest"), weir.Logger(slog.New(slog.NewJSONHandler(&logs, nil))))
	weir.Collect(weir.From(env, weir.Generator(weir.GeneratorSpec{Rate: 1000}, func(seq int64) int64 { return seq })).ID("numbers"))
	run(t, env)
	r := find(logLines(t, logs.Bytes()), "restoring")
	if r == nil || r["from"] != "latest" || r["kind"] != "savepoint" || r["id"] != float64(sp.ID) || r["path"] != sp.Path {
		t.Fatalf("restore logged as %v; want from latest: savepoint %d at %s", r, sp.ID, sp.Path)
	}
	if m := env.JobMetrics(); m.Restored == nil || !m.Restored.Savepoint || m.Restored.ID != sp.ID || m.Restored.Path != sp.Path {
		t.Fatalf("JobMetrics restored %+v, want savepoint %d at %s", m.Restored, sp.ID, sp.Path)
	}
	if !strings.HasPrefix(sp.Path, dir) {
		t.Fatalf("path %s outside the checkpoint directory %s", sp.Path, dir)
	}
}
