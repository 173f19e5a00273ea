package kafka

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
)

// reader reads one partition from its buffer in the shared client. It
// never blocks: the fetch goroutine fills the buffer and wakes the task.
type reader[T any] struct {
	src *Source[T]
	f   *fetcher
	buf *partBuffer
	tp  topicPartition
	id  string
	// next is the offset of the next record (earliestOffset until a
	// reader that starts at the earliest offset has read one); stop the
	// end offset of a bounded split (noStop otherwise).
	next, stop int64
	// first is a bounded split's start offset when the job started,
	// which stands for earliestOffset in the end check.
	first int64
	// decide is set for a split opened without a position that
	// StartingOffsets places: it starts at policy in a fresh run, at the
	// earliest offset in a restored one.
	decide   bool
	policy   int64
	fetching bool
	// gone is set for a split of a topic the source does not read.
	gone   bool
	closed bool
	batch  []*kgo.Record
	// read is next for Metrics, -1 until the reader knows its offset.
	read atomic.Int64
}

var (
	_ weir.WakingReader       = (*reader[string])(nil)
	_ weir.CheckpointListener = (*reader[string])(nil)
	_ weir.MetricsReporter    = (*reader[string])(nil)
)

// Metrics implements weir.MetricsReporter: the partition's consumer lag,
// the records between the reader's offset and the end of the partition
// as of the last fetch that returned records (its high watermark, or its
// last stable offset under read_committed).
func (r *reader[T]) Metrics() []weir.Metric {
	read := r.read.Load()
	if r.buf == nil || read < 0 {
		return nil
	}
	end := r.buf.end()
	if end < 0 {
		return nil
	}
	return []weir.Metric{{Name: "kafka_consumer_lag_records",
		Help:   "Records of the Kafka partition after the source's offset, as of its last fetch.",
		Labels: [][2]string{{"topic", r.tp.topic}, {"partition", strconv.Itoa(int(r.tp.partition))}},
		Value:  float64(max(end-read, 0))}}
}

// SetWake implements weir.WakingReader.
func (r *reader[T]) SetWake(wake func()) {
	if r.buf != nil {
		r.buf.setWake(wake)
	}
}

// begin fetches the partition, deciding where from if it must. It is
// called on the first Poll or Position, when every subtask of the run has
// opened its splits.
func (r *reader[T]) begin() {
	if r.fetching || r.gone || r.closed {
		return
	}
	if r.decide && !r.src.restoring() {
		r.next = r.policy
	}
	r.decide = false
	r.fetching = true
	r.f.start(r.tp, r.next)
}

// Poll implements weir.SplitReader.
func (r *reader[T]) Poll(out weir.SourceOutput[Record[T]], max int) (weir.PollStatus, error) {
	if r.gone {
		return weir.End, nil
	}
	r.begin()
	if r.ended() {
		return weir.End, nil
	}
	recs, more, err := r.buf.take(r.batch[:0], max)
	r.batch = recs
	defer clear(recs) // the batch is reused: hold no records
	// The records' bytes are the client's pooled memory (fetchPools),
	// reused once recycled: the keys and header values emitted are
	// copied, into one allocation for the batch.
	keep := make([]byte, 0, keptBytes(recs))
	for _, rec := range recs {
		if r.stop != noStop && rec.Offset >= r.stop {
			r.next = r.stop
			break
		}
		r.next = rec.Offset + 1
		if rec.Attrs.IsControl() {
			rec.Recycle()
			continue
		}
		v, derr := r.src.cfg.Decoder.Decode(rec.Value)
		if derr != nil {
			raw, off := append([]byte(nil), rec.Value...), rec.Offset
			rec.Recycle()
			out.Reject(raw, off, fmt.Errorf("kafka: decode the value of %s offset %d: %w", r.id, off, derr))
			continue
		}
		e := Record[T]{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp, Value: v}
		e.Key, keep = keepBytes(keep, rec.Key)
		if len(rec.Headers) > 0 {
			// The slice is the record's own; only the values are pooled.
			e.Headers = rec.Headers
			for i := range e.Headers {
				e.Headers[i].Value, keep = keepBytes(keep, e.Headers[i].Value)
			}
		}
		rec.Recycle()
		out.EmitAt(e, e.Timestamp, e.Offset)
	}
	if r.next != earliestOffset {
		r.read.Store(r.next)
	}
	switch {
	case err != nil:
		at := fmt.Sprintf("offset %d", r.next)
		if r.next == earliestOffset {
			at = "its earliest offset"
		}
		return weir.Wait, fmt.Errorf("kafka: fetch %s at %s: %w", r.id, at, err)
	case r.ended():
		return weir.End, nil
	case more:
		return weir.More, nil
	}
	return weir.Wait, nil
}

// ended reports whether a bounded split has reached its end offset.
func (r *reader[T]) ended() bool {
	if r.stop == noStop {
		return false
	}
	next := r.next
	if next == earliestOffset {
		next = r.first
	}
	return next >= r.stop
}

// Position implements weir.SplitReader.
func (r *reader[T]) Position() []byte {
	r.begin()
	return encodePosition(r.next, r.stop)
}

// CheckpointComplete implements weir.CheckpointListener: it queues the
// checkpoint's offset for the consumer group, committed by the shared
// client's commit goroutine.
func (r *reader[T]) CheckpointComplete(_ context.Context, _ int64, pos []byte) error {
	cfg := &r.src.cfg
	if cfg.Group == "" || cfg.NoCommit || r.gone || r.buf == nil {
		return nil
	}
	next, _, err := decodePosition(pos)
	if err != nil {
		return fmt.Errorf("kafka: split %q: %w", r.id, err)
	}
	if next >= 0 {
		r.f.commitLater(r.tp, next)
	}
	return nil
}

// Close implements weir.SplitReader.
func (r *reader[T]) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if !r.gone {
		r.f.unregister(r.tp)
		r.src.release()
	}
	return nil
}

// keptBytes is how many bytes of recs' keys and header values Poll copies.
func keptBytes(recs []*kgo.Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.Key)
		for _, h := range r.Headers {
			n += len(h.Value)
		}
	}
	return n
}

// keepBytes copies b to the end of keep, which has room for it, and
// returns the copy (nil for nil) and keep extended.
func keepBytes(keep, b []byte) ([]byte, []byte) {
	if b == nil {
		return nil, keep
	}
	n := len(keep)
	keep = append(keep, b...)
	return keep[n:len(keep):len(keep)], keep
}
