package weir

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// A checkpoint's report reaches JobMetrics and the "checkpoint completed"
// record with where its time went: the sync, async and metadata parts.
func TestReportCheckpointParts(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	e := New()
	e.reportCheckpoint(log, "/cp", runtime.CheckpointStats{ID: 7, Duration: 10 * time.Second, SyncDuration: 3 * time.Second,
		AsyncDuration: 5 * time.Second, MetadataDuration: time.Second, Bytes: 42, Alignment: 2 * time.Second})

	m := e.JobMetrics()
	if len(m.Checkpoints) != 1 {
		t.Fatalf("JobMetrics holds %d checkpoints, want 1", len(m.Checkpoints))
	}
	c := m.Checkpoints[0]
	if c.ID != 7 || c.Duration != 10*time.Second || c.SyncDuration != 3*time.Second || c.AsyncDuration != 5*time.Second ||
		c.MetadataDuration != time.Second || c.Bytes != 42 || c.Alignment != 2*time.Second || c.Err != nil {
		t.Errorf("JobMetrics checkpoint %+v, want checkpoint 7 of 10s: sync 3s, async 5s, metadata 1s; 42 bytes, alignment 2s", c)
	}

	var r map[string]any
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("%s: %v", buf.Bytes(), err)
	}
	want := map[string]any{"msg": "checkpoint completed", "id": 7.0, "duration": 10e9, "sync": 3e9, "async": 5e9,
		"metadata": 1e9, "bytes": 42.0, "alignment": 2e9}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("record %s = %v, want %v (record %s)", k, r[k], v, bytes.TrimSpace(buf.Bytes()))
		}
	}
}
