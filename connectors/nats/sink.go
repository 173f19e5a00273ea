package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// DefaultMaxPending is the default of SinkConfig.MaxPending.
const DefaultMaxPending = 4096

// SinkConfig configures a Sink. The zero value of every field but Conn,
// the subject and Encoder has a default.
type SinkConfig[T any] struct {
	// Conn says how to reach the servers. Required.
	Conn Conn
	// Subject is the subject every message is published to; Subjects,
	// when set, computes each message's subject instead. One is required,
	// and a stream must capture the subjects.
	Subject  string
	Subjects func(T) string
	// Encoder turns a record into a message's data. Required.
	Encoder format.Encoder[T]
	// MsgID, when set, gives each message its deduplication ID, sent as
	// the Nats-Msg-Id header: the stream drops a message whose ID it has
	// stored within its duplicate window (the stream's Duplicates
	// setting, 2 minutes by default). An ID must be a function of the
	// record alone, the same in every run of the job — Record.MsgID of
	// the source record an output comes from, or an event's own ID — so
	// that the records a restored job writes again are dropped. Nil: no
	// IDs, and a restored job's output repeats the records written since
	// its checkpoint.
	MsgID func(T) string
	// MaxPending is how many publishes a writer has in flight before it
	// waits for their acknowledgements; default DefaultMaxPending.
	MaxPending int
}

// Sink publishes records to JetStream. Each writer publishes
// asynchronously and, at every checkpoint barrier (and when MaxPending
// publishes are in flight), waits until the stream has acknowledged them
// all, so a completed checkpoint's records are stored: at-least-once. With
// MsgID, the records a restored job writes again carry the IDs they had
// and the stream drops them, which makes the output exactly once as long
// as the restore comes within the stream's duplicate window of the first
// writes: a job restarted by its restart strategy, or restored soon after
// a crash. A restore later than that, or from an older checkpoint, writes
// the records since the checkpoint again.
//
// When MsgID is set, opening a writer checks that the stream capturing
// Subject keeps IDs for at least twice the job's checkpoint interval:
// with a shorter window a failure just before a checkpoint would repeat
// records.
type Sink[T any] struct {
	cfg        SinkConfig[T]
	duplicates atomic.Int64
}

var _ weir.Sink[int] = (*Sink[int])(nil)

// NewSink checks cfg and returns a sink.
func NewSink[T any](cfg SinkConfig[T]) (*Sink[T], error) {
	if err := cfg.Conn.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Subject == "" && cfg.Subjects == nil:
		return nil, errors.New("nats: SinkConfig.Subject or SinkConfig.Subjects is required")
	case cfg.Subject != "" && cfg.Subjects != nil:
		return nil, errors.New("nats: SinkConfig.Subject and SinkConfig.Subjects are exclusive")
	case strings.ContainsAny(cfg.Subject, "*> \t"):
		return nil, fmt.Errorf("nats: SinkConfig.Subject %q: a message's subject has no wildcards or spaces", cfg.Subject)
	case cfg.Encoder == nil:
		return nil, errors.New("nats: SinkConfig.Encoder is required")
	case cfg.MaxPending < 0:
		return nil, fmt.Errorf("nats: SinkConfig.MaxPending %d must not be negative", cfg.MaxPending)
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	return &Sink[T]{cfg: cfg}, nil
}

// Duplicates returns how many messages the sink's writers published that
// the stream dropped as duplicates (by MsgID), in every job the sink
// served.
func (s *Sink[T]) Duplicates() int64 { return s.duplicates.Load() }

// Open implements weir.Sink.
func (s *Sink[T]) Open(ctx context.Context, info weir.SinkInfo) (weir.SinkWriter[T], error) {
	nc, js, err := s.cfg.Conn.connect(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.MsgID != nil && s.cfg.Subject != "" && info.CheckpointInterval > 0 {
		if err := checkWindow(ctx, js, s.cfg.Subject, info.CheckpointInterval); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return &writer[T]{s: s, nc: nc, js: js}, nil
}

// checkWindow checks the duplicate window of the stream capturing subject
// against the checkpoint interval.
func checkWindow(ctx context.Context, js jetstream.JetStream, subject string, interval time.Duration) error {
	name, err := js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return fmt.Errorf("nats: no stream captures subject %q: %w", subject, err)
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("nats: stream %q: %w", name, err)
	}
	if w := st.CachedInfo().Config.Duplicates; w < 2*interval {
		return fmt.Errorf("nats: stream %q keeps message IDs for %v (its duplicate window), less than twice the job's checkpoint interval %v: records written again after a restore could be stored twice", name, w, interval)
	}
	return nil
}

// writer publishes one subtask's records.
type writer[T any] struct {
	s       *Sink[T]
	nc      *natsio.Conn
	js      jetstream.JetStream
	buf     []byte
	pending []jetstream.PubAckFuture
}

var _ weir.Flusher = (*writer[int])(nil)

func (w *writer[T]) Write(v T) error {
	cfg := &w.s.cfg
	b, err := cfg.Encoder.Encode(w.buf[:0], v)
	if err != nil {
		return fmt.Errorf("nats: encode: %w", err)
	}
	w.buf = b
	subj := cfg.Subject
	if cfg.Subjects != nil {
		subj = cfg.Subjects(v)
	}
	m := &natsio.Msg{Subject: subj, Data: append([]byte(nil), b...)}
	var opts []jetstream.PublishOpt
	if cfg.MsgID != nil {
		opts = append(opts, jetstream.WithMsgID(cfg.MsgID(v)))
	}
	f, err := w.js.PublishMsgAsync(m, opts...)
	if err != nil {
		return fmt.Errorf("nats: publish to %q: %w", subj, err)
	}
	w.pending = append(w.pending, f)
	if len(w.pending) >= cfg.MaxPending {
		return w.Flush()
	}
	return nil
}

// Flush implements weir.Flusher: it waits until the stream has
// acknowledged every message published, and fails with the first error.
func (w *writer[T]) Flush() error {
	var first error
	for _, f := range w.pending {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				w.s.duplicates.Add(1)
			}
		case err := <-f.Err():
			if first == nil {
				first = fmt.Errorf("nats: publish to %q: %w", f.Msg().Subject, err)
			}
		}
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	return first
}

func (w *writer[T]) Close() error {
	err := w.Flush()
	w.nc.Close()
	return err
}
