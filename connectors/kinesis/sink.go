package kinesis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// Limits of PutRecords, and the defaults of SinkConfig.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 5 << 20
	// MaxRecordBytes is the most a record's data and partition key may
	// hold together.
	MaxRecordBytes  = 1 << 20
	maxKeyChars     = 256
	DefaultRetries  = 10
	putRequestLimit = 2 * time.Minute
)

// SinkConfig configures a Sink. The zero value of every field but Conn,
// Stream, Encoder and PartitionKey has a default.
type SinkConfig[T any] struct {
	// Conn says how to reach Kinesis. Required.
	Conn Conn
	// Stream is the stream records are written to. Required.
	Stream string
	// Encoder turns a record into a Kinesis record's data. Required.
	Encoder format.Encoder[T]
	// PartitionKey returns a record's partition key (1 to 256
	// characters), which picks its shard: records of one key keep their
	// order within a shard. Required.
	PartitionKey func(T) string
	// BatchRecords and BatchBytes bound a PutRecords request; defaults
	// and maxima MaxBatchRecords and MaxBatchBytes.
	BatchRecords, BatchBytes int
	// Retries is how many times the records Kinesis refused (throttled,
	// an internal failure) are sent again, after a backoff that doubles up
	// to 5 s, before the job fails; default DefaultRetries.
	Retries int
}

// Sink writes records to a Kinesis stream with PutRecords. Each writer
// batches records up to BatchRecords or BatchBytes and sends a batch when
// it is full, at every checkpoint barrier and when it closes; of a
// request that partly fails it sends again only the records Kinesis
// refused. A checkpoint completes only once every record before its
// barrier is stored: at-least-once. Kinesis has no transactions and no
// deduplication, so a restored job writes the records since its
// checkpoint again, and a consumer that needs each once deduplicates
// (by an ID in the record). A record sent again after a partial failure
// may land after records sent later with the same partition key.
type Sink[T any] struct {
	cfg SinkConfig[T]
}

var _ weir.Sink[int] = (*Sink[int])(nil)

// NewSink checks cfg and returns a sink.
func NewSink[T any](cfg SinkConfig[T]) (*Sink[T], error) {
	if err := cfg.Conn.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Stream == "":
		return nil, errors.New("kinesis: SinkConfig.Stream is required")
	case cfg.Encoder == nil:
		return nil, errors.New("kinesis: SinkConfig.Encoder is required")
	case cfg.PartitionKey == nil:
		return nil, errors.New("kinesis: SinkConfig.PartitionKey is required")
	case cfg.BatchRecords < 0 || cfg.BatchRecords > MaxBatchRecords:
		return nil, fmt.Errorf("kinesis: SinkConfig.BatchRecords %d is out of 0–%d", cfg.BatchRecords, MaxBatchRecords)
	case cfg.BatchBytes < 0 || cfg.BatchBytes > MaxBatchBytes:
		return nil, fmt.Errorf("kinesis: SinkConfig.BatchBytes %d is out of 0–%d", cfg.BatchBytes, MaxBatchBytes)
	case cfg.Retries < 0:
		return nil, fmt.Errorf("kinesis: SinkConfig.Retries %d must not be negative", cfg.Retries)
	}
	if cfg.BatchRecords == 0 {
		cfg.BatchRecords = MaxBatchRecords
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = MaxBatchBytes
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if _, _, err := cfg.Conn.client(); err != nil {
		return nil, err
	}
	return &Sink[T]{cfg: cfg}, nil
}

// Open implements weir.Sink.
func (s *Sink[T]) Open(ctx context.Context, info weir.SinkInfo) (weir.SinkWriter[T], error) {
	client, tr, err := s.cfg.Conn.client()
	if err != nil {
		return nil, err
	}
	return &writer[T]{s: s, client: client, tr: tr}, nil
}

// writer writes one subtask's records.
type writer[T any] struct {
	s       *Sink[T]
	client  *kinesis.Client
	tr      *http.Transport
	batch   []types.PutRecordsRequestEntry
	bytes   int
	buf     []byte
	records atomic.Int64
	retried atomic.Int64
	reqs    atomic.Int64
}

var (
	_ weir.Flusher         = (*writer[int])(nil)
	_ weir.MetricsReporter = (*writer[int])(nil)
)

// Metrics implements weir.MetricsReporter.
func (w *writer[T]) Metrics() []weir.Metric {
	return []weir.Metric{
		{Name: "kinesis_put_records_total", Help: "Records the stream stored.", Value: float64(w.records.Load()), Counter: true},
		{Name: "kinesis_put_retried_records_total", Help: "Records Kinesis refused in a PutRecords request and that were sent again.", Value: float64(w.retried.Load()), Counter: true},
		{Name: "kinesis_put_requests_total", Help: "PutRecords requests sent.", Value: float64(w.reqs.Load()), Counter: true},
	}
}

func (w *writer[T]) Write(v T) error {
	cfg := &w.s.cfg
	key := cfg.PartitionKey(v)
	if n := utf8.RuneCountInString(key); n == 0 || n > maxKeyChars {
		return fmt.Errorf("kinesis: stream %q: partition key %q has %d characters, want 1 to %d", cfg.Stream, key, n, maxKeyChars)
	}
	b, err := cfg.Encoder.Encode(w.buf[:0], v)
	if err != nil {
		return fmt.Errorf("kinesis: stream %q: encode: %w", cfg.Stream, err)
	}
	w.buf = b
	size := len(b) + len(key)
	if size > MaxRecordBytes {
		return fmt.Errorf("kinesis: stream %q: a record of partition key %q holds %d bytes with its key, more than Kinesis's %d", cfg.Stream, key, size, MaxRecordBytes)
	}
	if len(w.batch) > 0 && (len(w.batch) >= cfg.BatchRecords || w.bytes+size > cfg.BatchBytes) {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.batch = append(w.batch, types.PutRecordsRequestEntry{Data: append([]byte(nil), b...), PartitionKey: aws.String(key)})
	w.bytes += size
	return nil
}

// Flush implements weir.Flusher: it sends the batch, and again the
// records Kinesis refused, until all are stored or the retries run out.
func (w *writer[T]) Flush() error {
	cfg := &w.s.cfg
	pending := w.batch
	backoff := minBackoff
	for try := 0; len(pending) > 0; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), putRequestLimit)
		w.reqs.Add(1)
		o, err := w.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(cfg.Stream), Records: pending})
		cancel()
		var failed []types.PutRecordsRequestEntry
		var why string
		switch {
		case err != nil && !retriable(err):
			return fmt.Errorf("kinesis: stream %q: put %d records: %w", cfg.Stream, len(pending), err)
		case err != nil:
			failed, why = pending, err.Error()
		case len(o.Records) != len(pending):
			return fmt.Errorf("kinesis: stream %q: put %d records: %d results", cfg.Stream, len(pending), len(o.Records))
		default:
			for i, e := range o.Records {
				if e.ErrorCode == nil {
					continue
				}
				if why == "" {
					why = aws.ToString(e.ErrorCode) + ": " + aws.ToString(e.ErrorMessage)
				}
				failed = append(failed, pending[i])
			}
			w.records.Add(int64(len(pending) - len(failed)))
		}
		if len(failed) == 0 {
			break
		}
		if try == cfg.Retries {
			return fmt.Errorf("kinesis: stream %q: %d records still refused after %d retries: %s", cfg.Stream, len(failed), cfg.Retries, why)
		}
		w.retried.Add(int64(len(failed)))
		time.Sleep(backoff)
		backoff = min(2*backoff, maxBackoff)
		pending = failed
	}
	clear(w.batch)
	w.batch, w.bytes = w.batch[:0], 0
	return nil
}

func (w *writer[T]) Close() error {
	err := w.Flush()
	w.tr.CloseIdleConnections()
	return err
}
