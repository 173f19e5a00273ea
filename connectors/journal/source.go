package journal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// Start is where a reader without a position from a checkpoint begins.
type Start uint8

const (
	// Earliest starts at the partition's first kept record.
	Earliest Start = iota
	// Latest starts after the partition's last committed record: only
	// records appended from then on are read.
	Latest
)

// SourceConfig configures a journal source.
type SourceConfig[T any] struct {
	// Journal is the journal to read, opened in this process. Required.
	Journal *Journal
	// Decoder turns a record's value into a T. Required. A value it
	// cannot decode is rejected (weir.SourceOutput.Reject) with its
	// partition and offset, for the job's error policy.
	Decoder format.Decoder[T]
	// Start is where a split without a checkpointed position begins.
	Start Start
	// SkipDeleted makes a reader whose position was deleted by retention
	// go on from the partition's first kept record; by default it fails
	// the job with an *OffsetError naming the partition, the offset and
	// what the partition keeps.
	SkipDeleted bool
	// ChunkBytes is how much a reader takes from a segment file at once
	// (default 256 KiB): with the largest record, a reader's memory.
	ChunkBytes int
	// Reporter, when set, reports metrics with the source's (such as
	// those of the HTTP collector writing the journal,
	// httpingest.Reporter).
	Reporter weir.MetricsReporter
}

// Validate checks the configuration and names the field that is wrong.
func (c SourceConfig[T]) Validate() error {
	var errs []error
	if c.Journal == nil {
		errs = append(errs, errors.New("journal.SourceConfig.Journal is required"))
	}
	if c.Decoder == nil {
		errs = append(errs, errors.New("journal.SourceConfig.Decoder is required"))
	}
	if c.Start > Latest {
		errs = append(errs, fmt.Errorf("journal.SourceConfig.Start is %d, want Earliest or Latest", c.Start))
	}
	if c.ChunkBytes < 0 {
		errs = append(errs, fmt.Errorf("journal.SourceConfig.ChunkBytes is %d, must not be negative", c.ChunkBytes))
	}
	return errors.Join(errs...)
}

// Source reads a journal in a job: one split per partition, whose ID is
// the partition number, and whose position, in checkpoints, is the offset
// of the next record to read. It is unbounded. Its readers are woken by
// appends, so an idle partition costs nothing, and never block in Poll.
// A record's event time is its append time unless the job's EventTime
// option says otherwise.
//
// Jobs in the same process as the journal read it, each at its own
// positions; reading does not delete anything (see Retention).
type Source[T any] struct {
	cfg SourceConfig[T]
}

var (
	_ weir.Source[string] = (*Source[string])(nil)
	_ weir.WakingReader   = (*splitReader[string])(nil)
)

// NewSource returns a source reading cfg.Journal.
func NewSource[T any](cfg SourceConfig[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Source[T]{cfg: cfg}, nil
}

// Splits implements weir.Source: one split per partition.
func (s *Source[T]) Splits(context.Context) ([]weir.Split, error) {
	out := make([]weir.Split, s.cfg.Journal.Partitions())
	for i := range out {
		out[i] = weir.Split{ID: strconv.Itoa(i)}
	}
	return out, nil
}

// Metrics implements weir.MetricsReporter: those of Reporter.
func (s *Source[T]) Metrics() []weir.Metric {
	if s.cfg.Reporter == nil {
		return nil
	}
	return s.cfg.Reporter.Metrics()
}

// Bounded implements weir.Source: a journal has no end.
func (s *Source[T]) Bounded() bool { return false }

// OpenSplit implements weir.Source.
func (s *Source[T]) OpenSplit(_ context.Context, split weir.Split, position []byte) (weir.SplitReader[T], error) {
	j := s.cfg.Journal
	p, err := strconv.Atoi(split.ID)
	if err != nil || p < 0 || p >= j.Partitions() {
		return nil, fmt.Errorf("journal %s: split %q is not a partition number below %d", j.Dir(), split.ID, j.Partitions())
	}
	first, next, err := j.Bounds(p)
	if err != nil {
		return nil, err
	}
	offset := first
	switch {
	case position != nil:
		if offset, err = strconv.ParseInt(string(position), 10, 64); err != nil {
			return nil, fmt.Errorf("journal %s partition %d: position %q is not an offset", j.Dir(), p, position)
		}
		if offset < first && s.cfg.SkipDeleted {
			offset = first
		}
	case s.cfg.Start == Latest:
		offset = next
	}
	r, err := j.NewReader(ReaderConfig{Partition: p, Offset: offset, ChunkBytes: s.cfg.ChunkBytes})
	if err != nil {
		return nil, err
	}
	return &splitReader[T]{src: s, r: r}, nil
}

// splitReader reads one partition in a job.
type splitReader[T any] struct {
	src *Source[T]
	r   *Reader
	pos []byte
	// out and emit are set around each Read, so the callback is made
	// once.
	out  weir.SourceOutput[T]
	emit func(int64, time.Time, []byte)
}

func (sr *splitReader[T]) SetWake(wake func()) { sr.r.SetWake(wake) }

func (sr *splitReader[T]) Poll(out weir.SourceOutput[T], max int) (weir.PollStatus, error) {
	if sr.emit == nil {
		sr.emit = sr.record
	}
	sr.out = out
	n, err := sr.r.Read(max, sr.emit)
	sr.out = nil
	var oe *OffsetError
	if errors.As(err, &oe) && oe.Deleted() && sr.src.cfg.SkipDeleted {
		// A lagging reader's next segment was deleted: go on from the
		// first record kept.
		if err = sr.reopen(oe.First); err == nil {
			return weir.More, nil
		}
	}
	if err != nil {
		return weir.Wait, err
	}
	if n == max {
		return weir.More, nil
	}
	return weir.Wait, nil
}

func (sr *splitReader[T]) reopen(offset int64) error {
	r, err := sr.src.cfg.Journal.NewReader(ReaderConfig{Partition: sr.r.Partition(), Offset: offset, ChunkBytes: sr.src.cfg.ChunkBytes})
	if err != nil {
		return err
	}
	r.SetWake(sr.r.wakeFunc())
	sr.r.Close()
	sr.r = r
	return nil
}

func (sr *splitReader[T]) record(off int64, at time.Time, v []byte) {
	x, err := sr.src.cfg.Decoder.Decode(v)
	if err != nil {
		// A copy: v is the reader's buffer. The dead letter holds it as
		// text, or as base64 when it is not UTF-8.
		sr.out.Reject(append([]byte(nil), v...), off, err)
		return
	}
	sr.out.EmitAt(x, at, off)
}

func (sr *splitReader[T]) Position() []byte {
	sr.pos = strconv.AppendInt(sr.pos[:0], sr.r.Offset(), 10)
	return sr.pos
}

func (sr *splitReader[T]) Close() error { return sr.r.Close() }
