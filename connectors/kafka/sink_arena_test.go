package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// arenaEvent is record n of TestSinkReusesMemoryOnlyWhenDone: values of
// 30 to 250 bytes, every 17th of 1.5 to 5.5 KB (more than a slab's
// least room, and at times more than its room left), their bytes
// different from their neighbours'.
func arenaEvent(n int) event {
	size := 20 + n%230
	if n%17 == 0 {
		size = 1500 + n%4000
	}
	return event{N: n, User: strings.Repeat(string(rune('a'+n%26)), size)}
}

// produceFaults makes the cluster answer the 5th, 25th and 35th produce
// requests with a retriable error on each partition (the producer sends
// the same records again, after a metadata refresh of some seconds) and
// the 15th and 45th with one that fails their records.
// It returns the counts of each.
func produceFaults(c *kafkatest.Cluster) (retried, failed *atomic.Int64) {
	retried, failed = new(atomic.Int64), new(atomic.Int64)
	var requests atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		i := requests.Add(1)
		var code int16
		switch {
		case i == 15 || i == 45:
			code = kerr.InvalidRecord.Code
			failed.Add(1)
		case i == 5 || i == 25 || i == 35:
			code = kerr.NotEnoughReplicas.Code
			retried.Add(1)
		default:
			return nil, nil, false
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.BaseOffset = p.Partition, code, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return retried, failed
}

// The writers reuse the memory of their records (see arena) only once the
// producer is done with them: thousands of records of many sizes, through
// a few hundred slabs, with produce requests failing now and then — some
// retried, some failing their records and the writer, which the test
// replaces by another of the same sink, as a restarted job would — all arrive byte for byte as they were encoded, in
// the partition SinkConfig.Partition gave them. Memory reused too early
// would have the producer send (or resend) other records' bytes, or the
// partitioner see another record's value.
func TestSinkReusesMemoryOnlyWhenDone(t *testing.T) {
	const total, every = 6000, 600
	for _, tc := range []struct {
		name      string
		d         Delivery
		partition bool
	}{
		{"at-least-once", AtLeastOnce, false},
		{"at-least-once/Partition", AtLeastOnce, true},
		{"exactly-once", ExactlyOnce, false},
		{"exactly-once/Partition", ExactlyOnce, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := kafkatest.NewCluster(t)
			c.Topic("out", 3)
			retried, failed := produceFaults(c)
			cfg := sinkConfig(c, "out", tc.d)
			// Many small batches, in many requests.
			cfg.Linger, cfg.BatchMaxBytes = time.Millisecond, 16<<10
			if tc.partition {
				cfg.Partition = func(e event, n int) int { return e.N % n }
			}
			s := newTestSink(t, cfg)
			var checkpoint int64 // the last completed
			open := func() weir.SinkWriter[event] {
				t.Helper()
				info := weir.SinkInfo{Name: "kafka", Parallelism: 1, RestoredCheckpointID: checkpoint}
				if checkpoint > 0 {
					info.PreviousParallelism = 1
				}
				w, err := s.Open(context.Background(), info)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return w
			}
			complete := func(w weir.SinkWriter[event]) error {
				if w, ok := w.(weir.TwoPhaseWriter); ok {
					c, err := w.Prepare(checkpoint + 1)
					if err == nil {
						err = w.Commit(context.Background(), [][]byte{c})
					}
					return err
				}
				return w.(weir.Flusher).Flush()
			}
			w := open()
			var pending []int
			must := make(map[int]bool) // written before a completed checkpoint
			restarts := 0
			for n := range total {
				err := w.Write(arenaEvent(n))
				if err == nil {
					pending = append(pending, n)
					if n%every == every-1 || n == total-1 {
						err = complete(w)
					}
					if err == nil && len(pending) > 0 && (n%every == every-1 || n == total-1) {
						for _, p := range pending {
							must[p] = true
						}
						pending = pending[:0]
						checkpoint++
					}
				}
				if err != nil {
					// As a restarted job: the records since the last
					// checkpoint may be lost (no one writes them again
					// here), those before it must not be.
					_ = w.Close()
					pending = pending[:0]
					restarts++
					w = open()
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if retried.Load() == 0 || failed.Load() == 0 {
				t.Fatalf("%d produce requests retried, %d failed: the test needs both", retried.Load(), failed.Load())
			}

			read := c.ReadUncommitted
			if tc.d == ExactlyOnce {
				read = c.ReadCommitted
			}
			enc := format.JSON[event]()
			seen := make(map[int]bool)
			for _, r := range read("out") {
				var e event
				if err := json.Unmarshal(r.Value, &e); err != nil {
					t.Fatalf("partition %d offset %d: %v: value %.200q", r.Partition, r.Offset, err, r.Value)
				}
				want, err := enc.Encode(nil, arenaEvent(e.N))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(r.Value, want) {
					t.Fatalf("partition %d offset %d: value %.200q, want %.200q", r.Partition, r.Offset, r.Value, want)
				}
				if tc.partition && int(r.Partition) != e.N%3 {
					t.Fatalf("record %d in partition %d, want %d", e.N, r.Partition, e.N%3)
				}
				if seen[e.N] && tc.d == ExactlyOnce {
					t.Fatalf("record %d committed twice", e.N)
				}
				seen[e.N] = true
			}
			for n := range must {
				if !seen[n] {
					t.Fatalf("record %d, written before checkpoint that completed, is missing (%d of %d read)", n, len(seen), total)
				}
			}
			t.Logf("%d records read, %d written before completed checkpoints; %d requests retried, %d failed, %d writers replaced",
				len(seen), len(must), retried.Load(), failed.Load(), restarts)
		})
	}
}
