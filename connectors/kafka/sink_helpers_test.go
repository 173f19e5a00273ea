package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// event is the record type of the sink's tests.
type event struct {
	N    int    `json:"n"`
	User string `json:"user"`
}

func eventKey(e event) []byte { return []byte(e.User) }

// sinkConfig is a sink of events to topic on c, keyed by user.
func sinkConfig(c *kafkatest.Cluster, topic string, d Delivery) SinkConfig[event] {
	cfg := SinkConfig[event]{
		Conn:     Conn{Brokers: c.Brokers(), StartTimeout: 10 * time.Second},
		Topic:    topic,
		Value:    format.JSON[event](),
		Key:      eventKey,
		Delivery: d,
	}
	if d == ExactlyOnce {
		cfg.TransactionalIDPrefix = "weir-test-" + topic
	}
	return cfg
}

func newTestSink(t *testing.T, cfg SinkConfig[event]) *Sink[event] {
	t.Helper()
	s, err := NewSink(cfg)
	if err != nil {
		t.Fatalf("NewSink: %v", err)
	}
	return s
}

// openTxn opens the exactly-once writer of subtask of p, as a run restored
// from checkpoint restored (0: a fresh start) at previous parallelism
// prev.
func openTxn(t *testing.T, s *Sink[event], subtask, p int, restored int64, prev int) *txnWriter[event] {
	t.Helper()
	w, err := s.Open(context.Background(), weir.SinkInfo{Name: "kafka", Subtask: subtask, Parallelism: p,
		RestoredCheckpointID: restored, PreviousParallelism: prev})
	if err != nil {
		t.Fatalf("Open subtask %d of %d: %v", subtask, p, err)
	}
	tw, ok := w.(*txnWriter[event])
	if !ok {
		t.Fatalf("Open returned a %T, want an exactly-once writer", w)
	}
	t.Cleanup(func() { crash(tw) })
	return tw
}

func write(t *testing.T, w weir.SinkWriter[event], from, to int) {
	t.Helper()
	for n := from; n < to; n++ {
		if err := w.Write(event{N: n, User: "u" + strconv.Itoa(n%5)}); err != nil {
			t.Fatalf("Write(%d): %v", n, err)
		}
	}
}

func prepare(t *testing.T, w weir.TwoPhaseWriter, id int64) []byte {
	t.Helper()
	c, err := w.Prepare(id)
	if err != nil {
		t.Fatalf("Prepare(%d): %v", id, err)
	}
	return c
}

func commit(t *testing.T, w weir.TwoPhaseWriter, cs ...[]byte) {
	t.Helper()
	if err := w.Commit(context.Background(), cs); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// sent waits until the brokers have every record of w's open transaction,
// as they may before a crash.
func sent(t *testing.T, w *txnWriter[event]) {
	t.Helper()
	if err := w.cur.cl.Flush(context.Background()); err != nil {
		t.Fatalf("flush of transaction %s: %v", w.cur.id, err)
	}
}

// crash abandons w as a dying process would: its producers disconnect,
// and nothing is aborted or committed.
func crash(w *txnWriter[event]) {
	if w.closed {
		return
	}
	w.closed = true
	if w.cur != nil {
		w.cur.cl.Close()
		w.cur = nil
	}
	w.admin.Close()
}

// numbers returns the N of each event in rs, decoded, sorted.
func numbers(t *testing.T, rs []*kgo.Record) []int {
	t.Helper()
	out := make([]int, 0, len(rs))
	for _, r := range rs {
		var e event
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("record at %s/%d offset %d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		out = append(out, e.N)
	}
	slices.Sort(out)
	return out
}

// span returns the numbers in [from, to) of each range, sorted.
func span(ranges ...[2]int) []int {
	var out []int
	for _, r := range ranges {
		for n := r[0]; n < r[1]; n++ {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func equal(t *testing.T, what string, got, want []int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %d records %s, want %d records %s", what, len(got), short(got), len(want), short(want))
	}
}

func short(ns []int) string {
	if len(ns) > 12 {
		return fmt.Sprintf("%v … %v", ns[:6], ns[len(ns)-6:])
	}
	return fmt.Sprint(ns)
}

// committed is what a read_committed consumer sees of topic.
func committed(t *testing.T, c *kafkatest.Cluster, topic string) []int {
	t.Helper()
	return numbers(t, c.ReadCommitted(topic))
}

func noneHeldBack(t *testing.T, c *kafkatest.Cluster, topic string) {
	t.Helper()
	if h := c.HeldBack(topic); len(h) > 0 {
		t.Fatalf("open transactions hold back the last stable offset of %s (partition: offsets): %v", topic, h)
	}
}
