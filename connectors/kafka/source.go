package kafka

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
)

// Record is what a Source emits: one Kafka record with its value decoded.
type Record[T any] struct {
	Topic     string
	Partition int32
	Offset    int64
	// Key is the record's key, nil when it has none: a copy of the
	// record's own, which the job may keep.
	Key []byte
	// Headers are the record's headers, in order, their values copied
	// like Key.
	Headers []kgo.RecordHeader
	// Timestamp is the record's timestamp (its producer's create time or
	// the broker's log append time, as the topic says).
	Timestamp time.Time
	// Value is the record's value, decoded by SourceConfig.Decoder.
	Value T
}

// EventTime returns r.Timestamp. Its method expression gives a job
// watermarks from the Kafka timestamps:
//
//	weir.From(env, src, weir.EventTime(kafka.Record[View].EventTime, 5*time.Second))
func (r Record[T]) EventTime() time.Time { return r.Timestamp }

// Source reads Kafka topics, in the manner of Flink's KafkaSource. Each
// partition is a split, named "topic-partition", whose position (the
// offset of the next record to read) is kept in the job's checkpoints; a
// restored job resumes every partition there. Records are emitted as
// Record[T] with their Kafka timestamp as event time (unless the job sets
// weir.EventTime), so watermarks and idleness are per partition.
//
// All the readers and the split enumerator a Source opens in one process
// share one Kafka client, which fetches for every partition being read and
// hands each reader its records; a reader that falls behind holds the
// fetches back. So a Source value serves one job at a time (its
// runs and restarts one after the other): give each job its own.
//
// docs/kafka-source.md describes the settings, where reading starts, and
// what happens to offsets and on errors.
type Source[T any] struct {
	cfg SourceConfig[T]
	re  *regexp.Regexp

	mu sync.Mutex
	// f is the client the readers and the enumerator share while any is
	// open; users counts them.
	f     *fetcher
	users int
	run   runState
}

// runState is what a Source knows of the run of the job that listed its
// splits last.
type runState struct {
	// listed are the splits Splits listed at the run's start.
	listed map[string]bool
	// starts are the offsets StartingOffsets gives the listed splits,
	// resolved when a split first needs one.
	starts map[string]int64
	// bounds are the listed splits' start and end offsets (Bounded).
	bounds map[string]offsetSpan
	// restoring is set once a split was opened at a position from a
	// checkpoint: the run restores a job.
	restoring bool
}

// offsetSpan is a partition's start and end offsets.
type offsetSpan struct{ start, end int64 }

var (
	_ weir.Source[Record[string]] = (*Source[string])(nil)
	_ weir.SplitDiscoverer        = (*Source[string])(nil)
)

// NewSource returns a source reading as cfg says, or the first problem with
// cfg (Validate).
//
//	src, err := kafka.NewSource(kafka.SourceConfig[View]{
//		Conn:    kafka.Conn{Brokers: []string{"localhost:9092"}},
//		Topics:  []string{"views"},
//		Decoder: format.JSON[View](),
//		Group:   "view-summaries",
//	})
//	…
//	views := weir.From(env, src, weir.EventTime(kafka.Record[View].EventTime, 5*time.Second))
func NewSource[T any](cfg SourceConfig[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source[T]{cfg: cfg.withDefaults()}
	if cfg.TopicRegex != "" {
		// The whole name must match, as in Flink's topic pattern.
		s.re = regexp.MustCompile("^(?:" + cfg.TopicRegex + ")$")
	}
	return s, nil
}

// Bounded implements weir.Source: SourceConfig.Bounded.
func (s *Source[T]) Bounded() bool { return s.cfg.Bounded }

// Splits implements weir.Source: every partition of the topics, sorted by
// topic and partition. A topic of SourceConfig.Topics that does not exist
// is an error naming it.
func (s *Source[T]) Splits(ctx context.Context) ([]weir.Split, error) {
	cl, err := s.cfg.Conn.newClient(ctx)
	if err != nil {
		return nil, explainStart(s.cfg.Conn, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, sourceStartTimeout(s.cfg.Conn))
	defer cancel()
	adm := kadm.NewClient(cl)
	tps, err := s.list(ctx, adm, true)
	if err != nil {
		return nil, err
	}
	run := runState{listed: map[string]bool{}}
	out := make([]weir.Split, len(tps))
	for i, tp := range tps {
		out[i] = weir.Split{ID: tp.String()}
		run.listed[tp.String()] = true
	}
	if s.cfg.Bounded {
		if run.bounds, err = s.listBounds(ctx, adm, tps); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.run = run
	s.mu.Unlock()
	return out, nil
}

// list returns the partitions of the topics the source reads. At the
// start (strict) a listed topic that does not exist is an error; while the
// job runs such a topic is skipped.
func (s *Source[T]) list(ctx context.Context, adm *kadm.Client, strict bool) ([]topicPartition, error) {
	var details kadm.TopicDetails
	var err error
	if s.re != nil {
		details, err = adm.ListTopics(ctx)
	} else {
		details, err = adm.ListTopics(ctx, s.cfg.Topics...)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", err)
	}
	if strict {
		for i, t := range s.cfg.Topics {
			d, ok := details[t]
			switch {
			case !ok:
				return nil, fmt.Errorf("kafka: topic %q (SourceConfig.Topics[%d]) was not in the brokers' answer", t, i)
			case d.Err != nil:
				return nil, fmt.Errorf("kafka: topic %q (SourceConfig.Topics[%d]): %w", t, i, d.Err)
			}
		}
	}
	var tps []topicPartition
	for t, d := range details {
		if d.Err != nil || d.IsInternal || (s.re != nil && !s.re.MatchString(t)) {
			continue
		}
		for p := range d.Partitions {
			tps = append(tps, topicPartition{t, p})
		}
	}
	slices.SortFunc(tps, topicPartition.compare)
	return tps, nil
}

// reads reports whether the source reads topic.
func (s *Source[T]) reads(topic string) bool {
	if s.re != nil {
		return s.re.MatchString(topic)
	}
	return slices.Contains(s.cfg.Topics, topic)
}

// listBounds lists the start and end offsets of tps.
func (s *Source[T]) listBounds(ctx context.Context, adm *kadm.Client, tps []topicPartition) (map[string]offsetSpan, error) {
	topics := topicsOf(tps)
	starts, err := listed(adm.ListStartOffsets(ctx, topics...))
	if err != nil {
		return nil, fmt.Errorf("kafka: start offsets: %w", err)
	}
	ends, err := s.listEnds(ctx, adm, topics)
	if err != nil {
		return nil, err
	}
	out := map[string]offsetSpan{}
	for _, tp := range tps {
		st, ok1 := starts.Lookup(tp.topic, tp.partition)
		en, ok2 := ends.Lookup(tp.topic, tp.partition)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("kafka: topic %q partition %d: no start or end offset listed", tp.topic, tp.partition)
		}
		out[tp.String()] = offsetSpan{st.Offset, en.Offset}
	}
	return out, nil
}

// listEnds lists the end offsets of topics: where a read_committed
// consumer stops (the last stable offset), or the high watermark.
func (s *Source[T]) listEnds(ctx context.Context, adm *kadm.Client, topics []string) (kadm.ListedOffsets, error) {
	list := adm.ListCommittedOffsets
	if s.cfg.ReadUncommitted {
		list = adm.ListEndOffsets
	}
	ends, err := listed(list(ctx, topics...))
	if err != nil {
		return nil, fmt.Errorf("kafka: end offsets: %w", err)
	}
	return ends, nil
}

// listed returns l, or the first error of its partitions.
func listed(l kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
	if err == nil {
		err = l.Error()
	}
	return l, err
}

// OpenSplit implements weir.Source. A split without a position starts
// where StartingOffsets says if Splits listed it when this job started
// fresh, and at its earliest offset otherwise (a partition discovered
// while the job runs, or first seen by a restored job).
func (s *Source[T]) OpenSplit(ctx context.Context, split weir.Split, pos []byte) (weir.SplitReader[Record[T]], error) {
	tp, err := parseSplit(split.ID)
	if err != nil {
		return nil, err
	}
	r := &reader[T]{src: s, tp: tp, id: split.ID, next: earliestOffset, stop: noStop}
	r.read.Store(-1)
	if pos != nil {
		if r.next, r.stop, err = decodePosition(pos); err != nil {
			return nil, fmt.Errorf("kafka: split %q: %w", split.ID, err)
		}
	}
	if !s.reads(tp.topic) {
		// A split restored from a checkpoint of a job that read other
		// topics: this one reads it no more.
		r.gone = true
		return r, nil
	}
	f, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	r.f = f
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos != nil {
		s.run.restoring = true
	} else if s.run.listed[split.ID] && s.cfg.StartingOffsets.kind != startEarliest {
		// Whether the run restores a job is known only once every
		// subtask has opened its splits, before any reader is polled:
		// the reader decides then between this offset and the earliest.
		if r.policy, err = s.startLocked(ctx, f.adm, split.ID); err != nil {
			s.releaseLocked()
			return nil, err
		}
		r.decide = true
	}
	if !s.cfg.Bounded {
		// Restored from a bounded job's checkpoint, a split reads on.
		r.stop = noStop
	} else {
		b, ok := s.run.bounds[split.ID]
		if !ok && r.stop == noStop {
			s.releaseLocked()
			return nil, fmt.Errorf("kafka: split %q: not listed when the job started, so it has no end offset", split.ID)
		}
		if r.stop == noStop {
			r.stop = b.end
		}
		r.first = b.start
	}
	if r.buf, err = f.register(tp, s.cfg.BufferBytes); err != nil {
		s.releaseLocked()
		return nil, err
	}
	return r, nil
}

// restoring reports whether a split of this run was opened at a
// checkpointed position.
func (s *Source[T]) restoring() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run.restoring
}

// startLocked returns the offset StartingOffsets gives split, resolving it
// for every listed split the first time.
func (s *Source[T]) startLocked(ctx context.Context, adm *kadm.Client, split string) (int64, error) {
	if s.run.starts == nil {
		var tps []topicPartition
		for id := range s.run.listed {
			tp, err := parseSplit(id)
			if err != nil {
				return 0, err
			}
			tps = append(tps, tp)
		}
		ctx, cancel := context.WithTimeout(ctx, sourceStartTimeout(s.cfg.Conn))
		defer cancel()
		starts, err := s.resolve(ctx, adm, tps)
		if err != nil {
			return 0, fmt.Errorf("kafka: StartingOffsets %v: %w", s.cfg.StartingOffsets, err)
		}
		s.run.starts = starts
	}
	off, ok := s.run.starts[split]
	if !ok {
		return 0, fmt.Errorf("kafka: StartingOffsets %v: no offset for split %q", s.cfg.StartingOffsets, split)
	}
	return off, nil
}

// resolve returns the offset StartingOffsets gives each of tps, by split
// ID; earliestOffset stands for the earliest.
func (s *Source[T]) resolve(ctx context.Context, adm *kadm.Client, tps []topicPartition) (map[string]int64, error) {
	o := s.cfg.StartingOffsets
	topics := topicsOf(tps)
	out := map[string]int64{}
	var ends kadm.ListedOffsets
	reset := func(kind startKind) (map[string]int64, error) {
		var rest []topicPartition
		for _, tp := range tps {
			if _, ok := out[tp.String()]; !ok {
				rest = append(rest, tp)
			}
		}
		if kind == startLatest && len(rest) > 0 {
			var err error
			if ends, err = s.listEnds(ctx, adm, topicsOf(rest)); err != nil {
				return nil, err
			}
		}
		for _, tp := range rest {
			out[tp.String()] = earliestOffset
			if kind == startLatest {
				e, ok := ends.Lookup(tp.topic, tp.partition)
				if !ok {
					return nil, fmt.Errorf("topic %q partition %d: no end offset listed", tp.topic, tp.partition)
				}
				out[tp.String()] = e.Offset
			}
		}
		return out, nil
	}
	switch o.kind {
	case startLatest:
		return reset(startLatest)
	case startTimestamp:
		l, err := listed(adm.ListOffsetsAfterMilli(ctx, o.at.UnixMilli(), topics...))
		if err != nil {
			return nil, err
		}
		for _, tp := range tps {
			if e, ok := l.Lookup(tp.topic, tp.partition); ok {
				out[tp.String()] = e.Offset
			}
		}
		// A partition the answer lacks has no record at or after the
		// time.
		return reset(startLatest)
	case startCommitted:
		committed, err := adm.FetchOffsets(ctx, s.cfg.Group)
		if err == nil {
			err = committed.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			// A group that never committed: every partition resets.
			committed, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("offsets of group %q: %w", s.cfg.Group, err)
		}
		for _, tp := range tps {
			if c, ok := committed.Lookup(tp.topic, tp.partition); ok && c.At >= 0 {
				out[tp.String()] = c.At
			}
		}
		return reset(o.reset)
	case startSpecific:
		for _, tp := range tps {
			if off, ok := o.specific[tp.topic][tp.partition]; ok {
				out[tp.String()] = off
			}
		}
		return reset(o.reset)
	default:
		return reset(startEarliest)
	}
}

// acquire returns the client the source's readers share, opening it for
// the first.
func (s *Source[T]) acquire(ctx context.Context) (*fetcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := newFetcher(ctx, s.cfg.Conn, s.clientOptions(), s.cfg.Group, s.cfg.OnCommitError)
		if err != nil {
			return nil, err
		}
		s.f = f
	}
	s.users++
	return s.f, nil
}

// release gives up a use of the shared client, closing it after the last.
func (s *Source[T]) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
}

func (s *Source[T]) releaseLocked() {
	s.users--
	if s.users == 0 {
		s.f.close()
		s.f = nil
	}
}

// clientOptions are the options of the readers' client beyond Conn's.
func (s *Source[T]) clientOptions() []kgo.Opt {
	isolation := kgo.ReadCommitted()
	if s.cfg.ReadUncommitted {
		isolation = kgo.ReadUncommitted()
	}
	return []kgo.Opt{
		kgo.FetchIsolationLevel(isolation),
		// Transaction markers move a reader's position past the records
		// they close, so that a bounded reader reaches its end offset
		// and committed offsets show no lag behind a marker.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(s.cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(s.cfg.FetchMaxPartitionBytes),
		kgo.FetchMaxWait(s.cfg.FetchMaxWait),
		// A partition a reader adds is fetched once the client's metadata
		// names its leader; kgo's default of 5 s between metadata
		// requests would hold every new partition back that long.
		kgo.MetadataMinAge(250 * time.Millisecond),
		// A fetch response holds at least one whole record batch whatever
		// the fetch limits say; one larger than this kills the connection
		// and the fetch is retried, so it is far above them.
		kgo.BrokerMaxReadBytes(max(maxResponseBytes, s.cfg.FetchMaxBytes+1<<20)),
		// A position whose records retention has deleted continues at the
		// earliest offset left.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithPools(new(fetchPools)),
	}
}

// maxResponseBytes is the least the client reads of one response: kgo's
// default, 100 MiB.
const maxResponseBytes = 100 << 20

// topicPartition is a split: one partition of a topic.
type topicPartition struct {
	topic     string
	partition int32
}

// String returns the split ID, "topic-partition" as Kafka's TopicPartition
// prints it.
func (tp topicPartition) String() string { return tp.topic + "-" + strconv.Itoa(int(tp.partition)) }

func (tp topicPartition) compare(o topicPartition) int {
	return cmp.Or(strings.Compare(tp.topic, o.topic), cmp.Compare(tp.partition, o.partition))
}

// parseSplit parses a split ID "topic-partition".
func parseSplit(id string) (topicPartition, error) {
	i := strings.LastIndexByte(id, '-')
	if i > 0 {
		p, err := strconv.ParseInt(id[i+1:], 10, 32)
		if err == nil && p >= 0 && checkTopic(id[:i]) == nil {
			return topicPartition{id[:i], int32(p)}, nil
		}
	}
	return topicPartition{}, fmt.Errorf("kafka: split %q is not topic-partition", id)
}

// topicsOf returns the topics of tps, sorted, each once.
func topicsOf(tps []topicPartition) []string {
	out := make([]string, len(tps))
	for i, tp := range tps {
		out[i] = tp.topic
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Offsets that are not a record's.
const (
	// earliestOffset is the position of a split that starts at its
	// earliest offset and has read nothing yet.
	earliestOffset = -2
	// noStop is the end offset of a split that does not end.
	noStop = -1
)

// positionVersion is the first byte of a position.
const positionVersion = 1

// encodePosition returns the position of a split whose next record is
// next and that ends at stop: a version byte, then both as varints.
func encodePosition(next, stop int64) []byte {
	b := []byte{positionVersion}
	b = binary.AppendVarint(b, next)
	return binary.AppendVarint(b, stop)
}

func decodePosition(b []byte) (next, stop int64, err error) {
	if len(b) == 0 || b[0] != positionVersion {
		return 0, 0, fmt.Errorf("position %x: not a position of this source's version", b)
	}
	next, n := binary.Varint(b[1:])
	stop, m := binary.Varint(b[1+max(n, 0):])
	if n <= 0 || m <= 0 || 1+n+m != len(b) || next < earliestOffset || stop < noStop {
		return 0, 0, fmt.Errorf("position %x is damaged", b)
	}
	return next, stop, nil
}

// explainStart adds to an error of the first request what a bare
// end of file means with SASL: some brokers refuse credentials by closing
// the connection rather than with an error code.
func explainStart(c Conn, err error) error {
	if c.SASL != nil && errors.Is(err, io.EOF) {
		return fmt.Errorf("%w (the broker closed the connection: are Conn.SASL's credentials for %s user %q right?)",
			err, c.SASL.Mechanism, c.SASL.User)
	}
	return err
}

// sourceStartTimeout is Conn.StartTimeout or its default.
func sourceStartTimeout(c Conn) time.Duration {
	if c.StartTimeout > 0 {
		return c.StartTimeout
	}
	return defaultStartTimeout
}
