package weir_test

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// lagSource has two splits of n records each; its readers report how many
// records of their split are left, and hold their last record back until
// release is closed.
type lagSource struct {
	n       int
	release chan struct{}
}

func (s *lagSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "a"}, {ID: "b"}}, nil
}
func (s *lagSource) Bounded() bool { return true }
func (s *lagSource) OpenSplit(_ context.Context, sp weir.Split, _ []byte) (weir.SplitReader[int], error) {
	return &lagReader{src: s}, nil
}

// Metrics reports the source's own metric, once for all its subtasks.
func (s *lagSource) Metrics() []weir.Metric {
	return []weir.Metric{{Name: "test_source_splits", Value: 2}}
}

type lagReader struct {
	src  *lagSource
	next int
	left atomic.Int64
}

func (r *lagReader) Poll(out weir.SourceOutput[int], max int) (weir.PollStatus, error) {
	for ; r.next < r.src.n-1 && max > 0; max-- {
		out.Emit(r.next, int64(r.next))
		r.next++
	}
	r.left.Store(int64(r.src.n - r.next))
	if r.next < r.src.n-1 {
		return weir.More, nil
	}
	select {
	case <-r.src.release:
		out.Emit(r.next, int64(r.next))
		r.left.Store(0)
		return weir.End, nil
	default:
		return weir.Wait, nil
	}
}
func (r *lagReader) Position() []byte { return strconv.AppendInt(nil, int64(r.next), 10) }
func (r *lagReader) Close() error     { return nil }
func (r *lagReader) Metrics() []weir.Metric {
	return []weir.Metric{{Name: "test_lag_records", Value: float64(r.left.Load()), Labels: [][2]string{{"kind", "test"}}}}
}

// countSink's writers count what they write.
type countSink struct{}

func (countSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[int], error) {
	return &countWriter{}, nil
}

type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(int) error { w.n.Add(1); return nil }
func (w *countWriter) Close() error    { return nil }
func (w *countWriter) Metrics() []weir.Metric {
	return []weir.Metric{{Name: "test_written_total", Value: float64(w.n.Load()), Counter: true}}
}

func connectorMetrics(env *weir.Env, op string) []weir.Metric {
	var out []weir.Metric
	for _, m := range env.Metrics() {
		if m.Operator == op {
			out = append(out, m.Connector...)
		}
	}
	return out
}

func value(ms []weir.Metric, name string, labels ...[2]string) (float64, bool) {
	for _, m := range ms {
		if m.Name == name && slices.Equal(m.Labels, labels) {
			return m.Value, true
		}
	}
	return 0, false
}

// Connector metrics come with their operator subtask's counts: each open
// split reader's with its split's ID as a label, a source's own once, a
// sink writer's; an ended split's are gone.
func TestConnectorMetrics(t *testing.T) {
	src := &lagSource{n: 100, release: make(chan struct{})}
	env := weir.New(weir.Parallelism(2))
	weir.To(weir.From(env, src).Name("src"), countSink{}).Name("sink")
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	deadline := time.After(time.Minute)
	for {
		ms := connectorMetrics(env, "src")
		a, okA := value(ms, "test_lag_records", [2]string{"kind", "test"}, [2]string{"split", "a"})
		b, okB := value(ms, "test_lag_records", [2]string{"kind", "test"}, [2]string{"split", "b"})
		var written float64
		for _, m := range connectorMetrics(env, "sink") {
			if m.Name == "test_written_total" && m.Counter {
				written += m.Value
			}
		}
		if okA && okB && a == 1 && b == 1 && written == 198 {
			splits := 0
			for _, m := range ms {
				if m.Name == "test_source_splits" {
					splits++
				}
			}
			if splits != 1 {
				t.Fatalf("the source's own metric came %d times, want once: %v", splits, ms)
			}
			break
		}
		select {
		case <-deadline:
			t.Fatalf("metrics %v, sink %v: want a lag of 1 on splits a and b and 198 written", ms, connectorMetrics(env, "sink"))
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(src.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ms := connectorMetrics(env, "src"); slices.ContainsFunc(ms, func(m weir.Metric) bool { return m.Name == "test_lag_records" }) {
		t.Fatalf("ended splits still report: %v", ms)
	}
	var written float64
	for _, m := range connectorMetrics(env, "sink") {
		written += m.Value
	}
	if written != 200 {
		t.Fatalf("sink writers report %v written, want 200", written)
	}
}
