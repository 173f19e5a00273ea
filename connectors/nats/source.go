package nats

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// Record is a message the source read, with its value decoded.
type Record[T any] struct {
	// Stream and Subject are where the message is; Sequence is its stream
	// sequence number, unique within the stream.
	Stream   string
	Subject  string
	Sequence uint64
	// Time is when the server stored the message; the source emits the
	// record with it as its event time.
	Time  time.Time
	Value T
}

// MsgID returns "<stream>:<sequence>", an ID unique to the message: a sink
// writing one output per input record uses it as the output's
// deduplication ID (SinkConfig.MsgID), so that the records a restored
// job reads again are dropped by the output stream's duplicate window.
func (r Record[T]) MsgID() string { return r.Stream + ":" + fmt.Sprint(r.Sequence) }

// DefaultBuffer is the default of SourceConfig.Buffer.
const DefaultBuffer = 1024

// SourceConfig configures a Source. The zero value of every field but
// Conn, Stream and Decoder has a default.
type SourceConfig[T any] struct {
	// Conn says how to reach the servers. Required.
	Conn Conn
	// Stream is the JetStream stream to read; it must exist when the job
	// starts, with the limits retention policy (see Source). Required.
	Stream string
	// Subjects are the subject filters to read, one split each (wildcards
	// allowed; they should not overlap, or a message is read once per
	// filter it matches). Empty: the whole stream, one split.
	Subjects []string
	// Decoder turns a message's data into a T. Data that does not decode
	// is rejected (weir.SourceOutput.Reject) with its bytes, split and
	// stream sequence, and meets the job's error policy. Required.
	Decoder format.Decoder[T]
	// Buffer is how many messages a split reader holds fetched ahead of
	// the job; default DefaultBuffer.
	Buffer int
}

// Source reads a JetStream stream. Each subject filter is a split, read
// from a position by an ordered consumer: an ephemeral consumer with no
// acknowledgements, which the client recreates from the last sequence it
// delivered when a message goes missing or the server restarts. The
// position of a split, kept in checkpoints, is the stream sequence of the
// last message emitted; a restored job reads from the sequence after it,
// whichever checkpoint it restores, as long as the stream still holds
// those messages. A split whose next message the stream has already
// removed (its MaxAge, MaxMsgs or MaxBytes limit) fails to open, naming
// the sequences lost.
//
// The source acknowledges nothing: the checkpoints are its record of what
// was read, as with Kafka offsets. So it reads streams with the limits
// retention policy only — a work-queue or interest stream removes a
// message once it is acknowledged, and a restore from an older checkpoint
// could not read it again.
type Source[T any] struct {
	cfg SourceConfig[T]
}

var _ weir.Source[Record[int]] = (*Source[int])(nil)

// NewSource checks cfg and returns a source.
func NewSource[T any](cfg SourceConfig[T]) (*Source[T], error) {
	if err := cfg.Conn.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Stream == "":
		return nil, errors.New("nats: SourceConfig.Stream is required")
	case strings.ContainsAny(cfg.Stream, " .*>\t"):
		return nil, fmt.Errorf("nats: SourceConfig.Stream %q: a stream name has no spaces, dots or wildcards", cfg.Stream)
	case cfg.Decoder == nil:
		return nil, errors.New("nats: SourceConfig.Decoder is required")
	case cfg.Buffer < 0:
		return nil, fmt.Errorf("nats: SourceConfig.Buffer %d must not be negative", cfg.Buffer)
	}
	for i, s := range cfg.Subjects {
		if s == "" || strings.ContainsAny(s, " \t") {
			return nil, fmt.Errorf("nats: SourceConfig.Subjects[%d] %q is not a subject", i, s)
		}
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = DefaultBuffer
	}
	return &Source[T]{cfg: cfg}, nil
}

// Bounded implements weir.Source: a stream has no end.
func (s *Source[T]) Bounded() bool { return false }

// Splits implements weir.Source: a split per subject filter, the whole
// stream when there are none. It checks that the stream exists and keeps
// its messages by limits, so that a wrong name fails the job at its start.
func (s *Source[T]) Splits(ctx context.Context) ([]weir.Split, error) {
	nc, js, err := s.cfg.Conn.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if _, err := s.stream(ctx, js); err != nil {
		return nil, err
	}
	if len(s.cfg.Subjects) == 0 {
		return []weir.Split{{ID: s.cfg.Stream}}, nil
	}
	out := make([]weir.Split, len(s.cfg.Subjects))
	for i, subj := range s.cfg.Subjects {
		out[i] = weir.Split{ID: s.cfg.Stream + "/" + subj}
	}
	return out, nil
}

// stream looks the stream up and checks its retention policy.
func (s *Source[T]) stream(ctx context.Context, js jetstream.JetStream) (*jetstream.StreamInfo, error) {
	st, err := js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("nats: stream %q: %w", s.cfg.Stream, err)
	}
	info := st.CachedInfo()
	if info.Config.Retention != jetstream.LimitsPolicy {
		return nil, fmt.Errorf("nats: stream %q has the %s retention policy; the source reads streams with the limits policy only, which keep messages for a restore from an older checkpoint", s.cfg.Stream, info.Config.Retention)
	}
	return info, nil
}

// subject returns the subject filter of a split, "" for the whole stream.
func (s *Source[T]) subject(split weir.Split) (string, error) {
	if split.ID == s.cfg.Stream {
		return "", nil
	}
	subj, ok := strings.CutPrefix(split.ID, s.cfg.Stream+"/")
	if !ok || subj == "" {
		return "", fmt.Errorf("nats: split %q is not of stream %q", split.ID, s.cfg.Stream)
	}
	return subj, nil
}

// OpenSplit implements weir.Source.
func (s *Source[T]) OpenSplit(ctx context.Context, split weir.Split, position []byte) (weir.SplitReader[Record[T]], error) {
	subj, err := s.subject(split)
	if err != nil {
		return nil, err
	}
	var last uint64
	switch len(position) {
	case 0:
	case 8:
		last = binary.BigEndian.Uint64(position)
	default:
		return nil, fmt.Errorf("nats: split %q: position of %d bytes, want 8 (a stream sequence)", split.ID, len(position))
	}
	nc, js, err := s.cfg.Conn.connect(ctx)
	if err != nil {
		return nil, err
	}
	r := &reader[T]{src: s, split: split.ID, nc: nc, last: last, msgs: make(chan jetstream.Msg, s.cfg.Buffer),
		done: make(chan struct{}), pos: make([]byte, 8)}
	if err := r.open(ctx, js, subj); err != nil {
		nc.Close()
		return nil, err
	}
	return r, nil
}

// reader reads a split: a goroutine takes messages from the ordered
// consumer into msgs, and Poll emits them.
type reader[T any] struct {
	src   *Source[T]
	split string
	nc    *natsio.Conn
	iter  jetstream.MessagesContext
	msgs  chan jetstream.Msg
	done  chan struct{}
	last  uint64 // stream sequence of the last message emitted
	pos   []byte
	mu    sync.Mutex
	wake  func()
	err   error // of the fetch goroutine, under mu
	close sync.Once
}

var _ weir.WakingReader = (*reader[int])(nil)

func (r *reader[T]) open(ctx context.Context, js jetstream.JetStream, subj string) error {
	info, err := r.src.stream(ctx, js)
	if err != nil {
		return err
	}
	if r.last > 0 && info.State.FirstSeq > r.last+1 && info.State.Msgs > 0 {
		return fmt.Errorf("nats: split %q: the position is stream sequence %d, but the stream's first message is now %d: messages %d to %d were removed by the stream's limits before the job read them",
			r.split, r.last, info.State.FirstSeq, r.last+1, info.State.FirstSeq-1)
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if subj != "" {
		cfg.FilterSubjects = []string{subj}
	}
	if r.last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.last+1
	}
	cons, err := js.OrderedConsumer(ctx, r.src.cfg.Stream, cfg)
	if err != nil {
		return fmt.Errorf("nats: split %q: ordered consumer: %w", r.split, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(max(r.src.cfg.Buffer, 2)))
	if err != nil {
		return fmt.Errorf("nats: split %q: ordered consumer: %w", r.split, err)
	}
	r.iter = it
	go r.fetch()
	return nil
}

// SetWake implements weir.WakingReader.
func (r *reader[T]) SetWake(wake func()) {
	r.mu.Lock()
	r.wake = wake
	r.mu.Unlock()
}

func (r *reader[T]) woken() {
	r.mu.Lock()
	w := r.wake
	r.mu.Unlock()
	if w != nil {
		w()
	}
}

// fetch hands the consumer's messages to Poll until the iterator stops.
func (r *reader[T]) fetch() {
	defer close(r.done)
	for {
		m, err := r.iter.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				r.mu.Lock()
				r.err = fmt.Errorf("nats: split %q: %w", r.split, err)
				r.mu.Unlock()
				r.woken()
			}
			return
		}
		select {
		case r.msgs <- m:
		default:
			// Full: Poll makes room; wake it first so it does.
			r.woken()
			r.msgs <- m
		}
		if len(r.msgs) == 1 {
			r.woken()
		}
	}
}

// Poll implements weir.SplitReader.
func (r *reader[T]) Poll(out weir.SourceOutput[Record[T]], n int) (weir.PollStatus, error) {
	for i := 0; i < n; i++ {
		var m jetstream.Msg
		select {
		case m = <-r.msgs:
		default:
			r.mu.Lock()
			err := r.err
			r.mu.Unlock()
			if err != nil && len(r.msgs) == 0 {
				return weir.Wait, err
			}
			if i > 0 {
				return weir.More, nil
			}
			return weir.Wait, nil
		}
		md, err := m.Metadata()
		if err != nil {
			return weir.Wait, fmt.Errorf("nats: split %q: message on %q: %w", r.split, m.Subject(), err)
		}
		seq := md.Sequence.Stream
		if seq <= r.last {
			continue // already emitted (a consumer recreated by the client)
		}
		r.last = seq
		v, err := r.src.cfg.Decoder.Decode(m.Data())
		if err != nil {
			out.Reject(m.Data(), int64(seq), err)
			continue
		}
		out.EmitAt(Record[T]{Stream: md.Stream, Subject: m.Subject(), Sequence: seq, Time: md.Timestamp, Value: v}, md.Timestamp, int64(seq))
	}
	return weir.More, nil
}

// Position implements weir.SplitReader: the stream sequence of the last
// message emitted, 8 bytes big-endian.
func (r *reader[T]) Position() []byte {
	binary.BigEndian.PutUint64(r.pos, r.last)
	return r.pos
}

// Close implements weir.SplitReader.
func (r *reader[T]) Close() error {
	r.close.Do(func() {
		r.iter.Stop()
		// The goroutine may wait to hand over a message: take them.
		for {
			select {
			case <-r.msgs:
				continue
			case <-r.done:
			}
			break
		}
		r.nc.Close()
	})
	return nil
}
