package platform

import (
	"testing"
	"time"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// A job's history keeps the last HistoryWindow of samples and no more,
// oldest first; rates come from the counters' growth between samples, and
// a new process starts them over.
func TestHistoryIsBoundedAndRates(t *testing.T) {
	h := newHistory(10 * time.Minute) // 6 samples in the hour
	g := &jobcontrol.Graph{Operators: []jobcontrol.GraphOperator{{ID: "src"}, {ID: "sink"}}, Edges: []jobcontrol.GraphEdge{{From: "src", To: "sink"}}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	metrics := func(n int64, bp float64) jobcontrol.Metrics {
		return jobcontrol.Metrics{Operators: []jobcontrol.Operator{
			{ID: "src", Subtask: 0, Out: n, BackpressuredSeconds: bp},
			{ID: "src", Subtask: 1, Out: n},
			{ID: "sink", Subtask: 0, In: 2 * n, WatermarkLagSeconds: 3},
		}}
	}
	for i := range 20 {
		h.add("j1", 100, g, metrics(int64(i)*600, float64(i)*300), t0.Add(time.Duration(i)*10*time.Minute))
	}
	s := h.samples("j1")
	if len(s) != h.capacity || h.capacity != 6 {
		t.Fatalf("%d samples kept (capacity %d); want 6", len(s), h.capacity)
	}
	for i, smp := range s {
		if want := t0.Add(time.Duration(14+i) * 10 * time.Minute); !smp.Time.Equal(want) {
			t.Errorf("sample %d at %v; want %v (the last six, oldest first)", i, smp.Time, want)
		}
		// Two subtasks of the source, each 600 more records in 600 s.
		if smp.RecordsPerSecond != 2 || smp.LagSeconds != 3 {
			t.Errorf("sample %d: %v records/s, lag %v; want 2 and 3", i, smp.RecordsPerSecond, smp.LagSeconds)
		}
	}
	_, ops, _ := h.current("j1")
	if st := ops["src"]; st.OutPerSecond != 2 || st.Backpressure != 0.25 {
		t.Errorf("source: %+v; want 2 records/s out and backpressure 0.25 (half of one subtask of two)", st)
	}
	if latest, ok := h.latest("j1"); !ok || !latest.Time.Equal(s[len(s)-1].Time) {
		t.Errorf("latest %v, %v; want the last sample", latest, ok)
	}
	// A new process: its first figures give no rate, and counters that
	// start over give no negative one.
	h.add("j1", 101, nil, metrics(5, 0), t0.Add(300*time.Minute))
	h.add("j1", 101, nil, metrics(1, 0), t0.Add(310*time.Minute))
	if latest, _ := h.latest("j1"); latest.RecordsPerSecond != 0 {
		t.Errorf("after a restart: %v records/s; want 0", latest.RecordsPerSecond)
	}
	h.prune(map[string]bool{})
	if len(h.samples("j1")) != 0 {
		t.Error("the history of a job the server no longer keeps is kept")
	}
}
