package kafka

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/weirstream/weir/connectors/format"
)

// Defaults of SourceConfig's fields, those of Kafka's consumer where Kafka
// has one.
const (
	// DefaultFetchMaxBytes is the default of SourceConfig.FetchMaxBytes
	// (Kafka's fetch.max.bytes).
	DefaultFetchMaxBytes = 50 << 20
	// DefaultFetchMaxPartitionBytes is the default of
	// SourceConfig.FetchMaxPartitionBytes (max.partition.fetch.bytes).
	DefaultFetchMaxPartitionBytes = 1 << 20
	// DefaultFetchMaxWait is the default of SourceConfig.FetchMaxWait
	// (fetch.max.wait.ms).
	DefaultFetchMaxWait = 500 * time.Millisecond
	// DefaultBufferBytes is the default of SourceConfig.BufferBytes.
	DefaultBufferBytes = 1 << 20
)

// SourceConfig configures a Source. The zero value of every field but
// Conn, the topics and Decoder has a default.
type SourceConfig[T any] struct {
	// Conn says how to reach the brokers. Required.
	Conn Conn

	// Topics are the topics to read; every one must exist when the job
	// starts. Exactly one of Topics and TopicRegex is required.
	Topics []string
	// TopicRegex reads every topic whose whole name matches this regular
	// expression (Go syntax), those created while the job runs included:
	// the source looks for them every weir.DiscoveryInterval.
	TopicRegex string

	// Decoder turns a record's value into a T. A value that does not
	// decode is rejected (weir.SourceOutput.Reject) with its bytes, split
	// and offset, and meets the job's error policy. The bytes it is given
	// are reused once the record is emitted: it must not keep them nor
	// any part of them in the T (format.Decoder says so too). Required.
	Decoder format.Decoder[T]

	// StartingOffsets says where a partition is read from when the job
	// does not restore a position for it. The zero value is Earliest.
	// Partitions found while the job runs, or first seen by a restored
	// job, are read from their earliest offset, whatever this says, so
	// that none of their records are skipped.
	StartingOffsets Offsets

	// Bounded makes the source stop at the end offsets its partitions
	// have when the job starts (the last stable offset under
	// read_committed), so the job ends once it has read them. A restored
	// job keeps the end offsets of the job it restores. No partitions or
	// topics are discovered.
	Bounded bool

	// Group is the consumer group whose committed offsets
	// CommittedOffsets starts from and to which the source commits, when
	// each checkpoint completes, the offsets that checkpoint holds, so
	// that tools watching the group (lag, kcat, kafka-consumer-groups)
	// see the job's progress. The source never joins the group, and the
	// job never reads these offsets back: a restore starts from its
	// checkpoint. Empty: no commits.
	Group string
	// NoCommit keeps the source from committing offsets to Group.
	NoCommit bool
	// OnCommitError, when set, is told when committing offsets to Group
	// fails, on a goroutine of the source's own. The job goes on either
	// way; the next checkpoint commits again.
	OnCommitError func(error)

	// ReadUncommitted reads records of open and aborted transactions too.
	// By default the source reads committed records only (read_committed)
	// and never past an open transaction.
	ReadUncommitted bool

	// FetchMaxBytes bounds the records one fetch response may hold over
	// all its partitions; default DefaultFetchMaxBytes. A record batch
	// larger than this is still returned whole, alone.
	FetchMaxBytes int32
	// FetchMaxPartitionBytes bounds the records a fetch response holds for
	// one partition; default DefaultFetchMaxPartitionBytes. A record batch
	// larger than this is still returned whole, alone.
	FetchMaxPartitionBytes int32
	// FetchMaxWait is how long a broker may hold a fetch while it has
	// no new records; default DefaultFetchMaxWait. A partition added or
	// resumed joins the fetches after the one in flight, so this is also
	// how soon a new partition starts being read.
	FetchMaxWait time.Duration
	// BufferBytes bounds the records fetched and not yet read of each
	// partition: when a partition's buffer holds this many bytes of keys
	// and values, fetching stops until the job has read half of them
	// (backpressure reaches the brokers; docs/kafka-source.md says how
	// partitions read by other subtasks go on). Default DefaultBufferBytes.
	BufferBytes int
}

// Validate reports the first problem with the configuration, naming the
// field.
func (c SourceConfig[T]) Validate() error {
	if err := c.Conn.Validate(); err != nil {
		return err
	}
	switch {
	case len(c.Topics) == 0 && c.TopicRegex == "":
		return errors.New("kafka: SourceConfig.Topics or SourceConfig.TopicRegex is required")
	case len(c.Topics) > 0 && c.TopicRegex != "":
		return errors.New("kafka: SourceConfig.Topics and SourceConfig.TopicRegex exclude each other; set one")
	case c.Decoder == nil:
		return errors.New("kafka: SourceConfig.Decoder is required (format.JSON, format.String or format.Bytes build one)")
	case c.FetchMaxBytes < 0 || c.FetchMaxBytes > 1<<30:
		return fmt.Errorf("kafka: SourceConfig.FetchMaxBytes %d must be in [0, 1 GiB]", c.FetchMaxBytes)
	case c.FetchMaxPartitionBytes < 0:
		return fmt.Errorf("kafka: SourceConfig.FetchMaxPartitionBytes %d must not be negative", c.FetchMaxPartitionBytes)
	case c.FetchMaxWait < 0:
		return fmt.Errorf("kafka: SourceConfig.FetchMaxWait %v must not be negative", c.FetchMaxWait)
	case c.BufferBytes < 0:
		return fmt.Errorf("kafka: SourceConfig.BufferBytes %d must not be negative", c.BufferBytes)
	}
	seen := map[string]bool{}
	for i, t := range c.Topics {
		if err := checkTopic(t); err != nil {
			return fmt.Errorf("kafka: SourceConfig.Topics[%d] %q: %w", i, t, err)
		}
		if seen[t] {
			return fmt.Errorf("kafka: SourceConfig.Topics[%d] %q is listed twice", i, t)
		}
		seen[t] = true
	}
	if c.TopicRegex != "" {
		if _, err := regexp.Compile(c.TopicRegex); err != nil {
			return fmt.Errorf("kafka: SourceConfig.TopicRegex %q: %w", c.TopicRegex, err)
		}
	}
	if err := c.StartingOffsets.validate(); err != nil {
		return fmt.Errorf("kafka: SourceConfig.StartingOffsets: %w", err)
	}
	if c.StartingOffsets.kind == startCommitted && c.Group == "" {
		return errors.New("kafka: SourceConfig.StartingOffsets is CommittedOffsets, which needs SourceConfig.Group")
	}
	return nil
}

// checkTopic checks a topic name by Kafka's rules.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic name")
	case t == "." || t == "..":
		return errors.New("not a topic name")
	case len(t) > 249:
		return fmt.Errorf("%d characters, Kafka allows 249", len(t))
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("character %q: Kafka allows letters, digits, '.', '_' and '-'", r)
		}
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c SourceConfig[T]) withDefaults() SourceConfig[T] {
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.FetchMaxPartitionBytes == 0 {
		c.FetchMaxPartitionBytes = DefaultFetchMaxPartitionBytes
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.BufferBytes == 0 {
		c.BufferBytes = DefaultBufferBytes
	}
	return c
}

// Offsets says where a source starts reading a partition it has no
// checkpointed position for: Earliest, Latest, AtTimestamp,
// CommittedOffsets or SpecificOffsets (Flink's OffsetsInitializer). The
// zero value is Earliest.
type Offsets struct {
	kind startKind
	at   time.Time
	// reset is where CommittedOffsets and SpecificOffsets start a
	// partition they have no offset for: startEarliest or startLatest.
	reset    startKind
	specific map[string]map[int32]int64
}

type startKind uint8

const (
	startEarliest startKind = iota
	startLatest
	startTimestamp
	startCommitted
	startSpecific
)

// Earliest starts at each partition's earliest offset (its log start).
func Earliest() Offsets { return Offsets{kind: startEarliest} }

// Latest starts at each partition's end when the job starts (its last
// stable offset under read_committed): only records written afterwards are
// read.
func Latest() Offsets { return Offsets{kind: startLatest} }

// AtTimestamp starts at the first record of each partition whose timestamp
// is at or after t; a partition without one starts at its end.
func AtTimestamp(t time.Time) Offsets { return Offsets{kind: startTimestamp, at: t} }

// CommittedOffsets starts at the offsets SourceConfig.Group has committed;
// a partition without one starts where reset (Earliest or Latest) says.
func CommittedOffsets(reset Offsets) Offsets {
	return Offsets{kind: startCommitted, reset: reset.kind}
}

// SpecificOffsets starts each partition at the offset offsets gives it
// (offsets[topic][partition], the offset of the first record to read);
// a partition it does not name starts where reset (Earliest or Latest)
// says.
func SpecificOffsets(offsets map[string]map[int32]int64, reset Offsets) Offsets {
	return Offsets{kind: startSpecific, reset: reset.kind, specific: offsets}
}

func (o Offsets) validate() error {
	switch o.kind {
	case startTimestamp:
		if o.at.IsZero() {
			return errors.New("AtTimestamp needs a time")
		}
	case startCommitted, startSpecific:
		if o.reset != startEarliest && o.reset != startLatest {
			return errors.New("the reset of CommittedOffsets and SpecificOffsets must be Earliest or Latest")
		}
		for t, ps := range o.specific {
			for p, off := range ps {
				if off < 0 {
					return fmt.Errorf("SpecificOffsets: topic %q partition %d: offset %d is negative", t, p, off)
				}
			}
		}
	}
	return nil
}

// String names o as the call that builds it, for errors.
func (o Offsets) String() string {
	switch o.kind {
	case startLatest:
		return "Latest"
	case startTimestamp:
		return "AtTimestamp(" + o.at.Format(time.RFC3339Nano) + ")"
	case startCommitted:
		return "CommittedOffsets(" + Offsets{kind: o.reset}.String() + ")"
	case startSpecific:
		return "SpecificOffsets(…, " + Offsets{kind: o.reset}.String() + ")"
	default:
		return "Earliest"
	}
}
