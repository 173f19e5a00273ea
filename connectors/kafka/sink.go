package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// Delivery is the guarantee a Sink gives about its records, in step with
// the job's checkpoints.
type Delivery int

const (
	// AtLeastOnce flushes the producer at every checkpoint barrier, so
	// that every record a checkpoint covers is acknowledged by the brokers
	// before the checkpoint completes. After a failure the records since
	// the restored checkpoint are written again: duplicates, never losses.
	// It is the default.
	AtLeastOnce Delivery = iota
	// ExactlyOnce writes each checkpoint's records of a subtask in one
	// Kafka transaction, committed when the checkpoint completes.
	// Consumers reading with isolation level read_committed see every
	// record exactly once; they see it only after the checkpoint that
	// covers it has completed.
	ExactlyOnce
)

// String returns the name of the constant d is.
func (d Delivery) String() string {
	switch d {
	case AtLeastOnce:
		return "AtLeastOnce"
	case ExactlyOnce:
		return "ExactlyOnce"
	}
	return fmt.Sprintf("Delivery(%d)", int(d))
}

// Partitioner chooses the partition of each record that SinkConfig.Partition
// does not place.
type Partitioner int

const (
	// KeyHash puts a record with a key in the partition of the murmur2 hash
	// of its key, as Kafka's Java producer does, so that a key lands where
	// Java producers (and Flink's KafkaSink) put it; records without a key
	// stick to one partition until a batch is full, then move on. The
	// default.
	KeyHash Partitioner = iota
	// RoundRobin gives each record the next partition in turn, ignoring
	// keys.
	RoundRobin
	// Sticky fills a batch for one partition, ignoring keys, then moves to
	// another (KIP-480): fewer, larger requests than RoundRobin.
	Sticky
)

// Compression is the codec that compresses produced batches.
type Compression string

// Compression codecs. The brokers and every consumer must read the codec
// chosen; zstd needs Kafka 2.1 or later.
const (
	Snappy          Compression = "snappy"
	NoCompression   Compression = "none"
	Gzip            Compression = "gzip"
	LZ4             Compression = "lz4"
	Zstd            Compression = "zstd"
	defaultCompress             = Snappy
)

// The defaults of SinkConfig.
const (
	// DefaultTransactionTimeout is the default of SinkConfig.TransactionTimeout:
	// the default maximum of Kafka's brokers (transaction.max.timeout.ms).
	DefaultTransactionTimeout = 15 * time.Minute
	// DefaultLinger is the default of SinkConfig.Linger.
	DefaultLinger = 10 * time.Millisecond
	// DefaultBatchMaxBytes is the default of SinkConfig.BatchMaxBytes: the
	// brokers' default max.message.bytes.
	DefaultBatchMaxBytes = 1_000_012
	// DefaultMaxBufferedRecords is the default of SinkConfig.MaxBufferedRecords.
	DefaultMaxBufferedRecords = 50_000
)

// SinkConfig configures a Sink. The zero value of every field but Conn,
// a topic and Value has a default. The functions (TopicOf, Key, Headers,
// Partition and Value's Encode) are called by the writers of every subtask
// at once, so they must be safe for concurrent use.
type SinkConfig[T any] struct {
	// Conn says how to reach the brokers. Required.
	Conn Conn

	// Topic is the topic every record goes to, unless TopicOf is set. It
	// must exist when the sink opens; the sink creates no topic.
	Topic string
	// TopicOf, when set, returns the topic of each record (Flink's
	// KafkaRecordSerializationSchema topic selector). One of Topic and
	// TopicOf is required.
	TopicOf func(T) string

	// Value encodes a record into its message value. Required.
	Value format.Encoder[T]
	// Key, when set, returns a record's message key; nil means no key.
	// The sink keeps the slice until the brokers have acknowledged the
	// message, so return a new one each time.
	Key func(T) []byte
	// Headers, when set, returns a record's message headers, kept like
	// Key's slice.
	Headers func(T) []kgo.RecordHeader

	// Partitioner chooses partitions; the default is KeyHash.
	Partitioner Partitioner
	// Partition, when set, returns the partition of a record among a
	// topic's partitions, in [0, partitions), instead of Partitioner
	// (Flink's FlinkKafkaPartitioner). It must not panic.
	Partition func(v T, partitions int) int

	// Delivery is AtLeastOnce (the default) or ExactlyOnce.
	Delivery Delivery
	// TransactionalIDPrefix names the sink's transactions (ExactlyOnce
	// only, where it is required): "<prefix>-<subtask>-<checkpoint>". It
	// must be unique among every job and sink that writes to the cluster
	// with transactions, and stay the same across restores of the job:
	// a restored job finds the transactions its earlier runs left by it.
	TransactionalIDPrefix string
	// TransactionTimeout is how long the brokers let a transaction stay
	// open before they abort it (ExactlyOnce only); default 15 min. It
	// must be at least twice the job's checkpoint interval, and at most
	// the brokers' transaction.max.timeout.ms (15 min by default).
	TransactionTimeout time.Duration

	// Linger is how long a partition's batch waits for more records
	// before it is sent; default 10 ms, at most 1 min, a negative value
	// sends at once.
	Linger time.Duration
	// BatchMaxBytes caps a batch's size in bytes; default 1 000 012, the
	// brokers' default max.message.bytes.
	BatchMaxBytes int32
	// Compression compresses batches; default Snappy.
	Compression Compression
	// MaxBufferedRecords is how many records a subtask's producer holds
	// before Write waits for acknowledgements (backpressure); default
	// 50 000.
	MaxBufferedRecords int

	// Committed, when set, is called after each transaction a writer has
	// committed (ExactlyOnce only), with its transactional ID, on the
	// subtask's goroutine. Crash tests use it to stop the commits of a
	// checkpoint halfway; it may also feed monitoring.
	Committed func(transactionalID string)
}

// Validate reports the first problem with the configuration, naming the
// field.
func (c SinkConfig[T]) Validate() error {
	if err := c.Conn.Validate(); err != nil {
		return fmt.Errorf("kafka sink: SinkConfig.%s", strings.TrimPrefix(err.Error(), "kafka: "))
	}
	switch {
	case c.Topic == "" && c.TopicOf == nil:
		return errors.New("kafka sink: SinkConfig.Topic or SinkConfig.TopicOf is required")
	case c.Topic != "" && c.TopicOf != nil:
		return fmt.Errorf("kafka sink: SinkConfig.Topic %q and SinkConfig.TopicOf are both set; set one", c.Topic)
	case c.Value == nil:
		return errors.New("kafka sink: SinkConfig.Value is required (format.JSON, format.Bytes or format.String build one)")
	case c.Partitioner < KeyHash || c.Partitioner > Sticky:
		return fmt.Errorf("kafka sink: SinkConfig.Partitioner %d: want KeyHash, RoundRobin or Sticky", int(c.Partitioner))
	case c.Delivery != AtLeastOnce && c.Delivery != ExactlyOnce:
		return fmt.Errorf("kafka sink: SinkConfig.Delivery %d: want AtLeastOnce or ExactlyOnce", int(c.Delivery))
	case c.TransactionTimeout < 0:
		return fmt.Errorf("kafka sink: SinkConfig.TransactionTimeout %v must not be negative", c.TransactionTimeout)
	case c.TransactionTimeout%time.Millisecond != 0 || c.TransactionTimeout > time.Duration(1<<31-1)*time.Millisecond:
		return fmt.Errorf("kafka sink: SinkConfig.TransactionTimeout %v must be whole milliseconds that fit 31 bits", c.TransactionTimeout)
	case c.Linger > time.Minute:
		return fmt.Errorf("kafka sink: SinkConfig.Linger %v must be at most 1m", c.Linger)
	case c.BatchMaxBytes < 0:
		return fmt.Errorf("kafka sink: SinkConfig.BatchMaxBytes %d must not be negative", c.BatchMaxBytes)
	case c.MaxBufferedRecords < 0:
		return fmt.Errorf("kafka sink: SinkConfig.MaxBufferedRecords %d must not be negative", c.MaxBufferedRecords)
	}
	switch c.Compression {
	case "", Snappy, NoCompression, Gzip, LZ4, Zstd:
	default:
		return fmt.Errorf("kafka sink: SinkConfig.Compression %q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if c.Delivery == ExactlyOnce {
		if c.TransactionalIDPrefix == "" {
			return errors.New("kafka sink: SinkConfig.TransactionalIDPrefix is required with ExactlyOnce")
		}
		if strings.ContainsAny(c.TransactionalIDPrefix, " \t\n") {
			return fmt.Errorf("kafka sink: SinkConfig.TransactionalIDPrefix %q must not contain white space", c.TransactionalIDPrefix)
		}
	} else if c.TransactionalIDPrefix != "" || c.TransactionTimeout != 0 {
		return errors.New("kafka sink: SinkConfig.TransactionalIDPrefix and TransactionTimeout need Delivery ExactlyOnce")
	}
	return nil
}

func (c SinkConfig[T]) withDefaults() SinkConfig[T] {
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if c.Compression == "" {
		c.Compression = defaultCompress
	}
	if c.MaxBufferedRecords == 0 {
		c.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	return c
}

// Sink writes records to Kafka topics, at least once or exactly once (see
// Delivery), in the manner of Flink's KafkaSink:
//
//	sink, err := kafka.NewSink(kafka.SinkConfig[Order]{
//		Conn:                  kafka.Conn{Brokers: []string{"kafka-1:9092"}},
//		Topic:                 "orders",
//		Value:                 format.JSON[Order](),
//		Key:                   func(o Order) []byte { return []byte(o.Customer) },
//		Delivery:              kafka.ExactlyOnce,
//		TransactionalIDPrefix: "orders-job",
//	})
//	…
//	weir.To(orders, sink)
//
// Its writers implement weir.SinkWriter and, for AtLeastOnce,
// weir.Flusher; for ExactlyOnce, weir.TwoPhaseWriter.
//
// Exactly once, each subtask writes the records between two checkpoint
// barriers in one transaction of a producer of its own, with the
// transactional ID "<prefix>-<subtask>-<n>", n being the ID of the
// checkpoint before them plus one (Flink's naming). At the barrier the
// transaction is flushed and its producer ID and epoch go into the
// checkpoint; when the checkpoint completes, the transaction is committed
// by a raw EndTxn request with them — which a job restored from that
// checkpoint also sends, so a transaction prepared before a crash is
// committed after it. Committing twice is harmless. Opening a writer
// aborts the transactions that the runs after the restored checkpoint
// left open (names with n above its ID) and fences their producers;
// subtask 0 does so for subtasks that a restore at a lower parallelism
// removed.
// docs/kafka-sink.md has the whole story: the timeout rule, what
// read_uncommitted consumers see, errors.
type Sink[T any] struct {
	cfg SinkConfig[T]
}

var _ weir.Sink[int] = (*Sink[int])(nil)

// NewSink returns a sink configured by cfg, or the error of cfg.Validate.
func NewSink[T any](cfg SinkConfig[T]) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sink[T]{cfg: cfg.withDefaults()}, nil
}

// Open implements weir.Sink. It connects to the brokers (failing with
// their error when they cannot be reached or refuse the credentials),
// checks that Topic exists and, for ExactlyOnce, checks the transaction
// timeout and aborts what earlier runs left open (see Sink).
func (s *Sink[T]) Open(ctx context.Context, info weir.SinkInfo) (weir.SinkWriter[T], error) {
	if s.cfg.Delivery == ExactlyOnce {
		return s.openTxn(ctx, info)
	}
	return s.openAtLeastOnce(ctx, info)
}

// where names the sink in errors.
func (s *Sink[T]) where() string {
	if s.cfg.Topic != "" {
		return "kafka sink to " + s.cfg.Topic
	}
	return "kafka sink"
}

// connect opens the subtask's client for requests outside a transaction
// (and, at least once, for producing) and checks that the topic exists.
func (s *Sink[T]) connect(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := s.cfg.Conn.newClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where(), err)
	}
	if s.cfg.Topic == "" {
		return cl, nil
	}
	if err := s.checkTopic(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

func (s *Sink[T]) checkTopic(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Conn.startTimeout())
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, s.cfg.Topic)
	if err != nil {
		return fmt.Errorf("%s: listing the topic: %w", s.where(), err)
	}
	d, ok := topics[s.cfg.Topic]
	switch {
	case !ok:
		return fmt.Errorf("%s: brokers %v did not describe the topic", s.where(), s.cfg.Conn.Brokers)
	case d.Err != nil:
		return fmt.Errorf("%s: topic %q on brokers %v: %w (the sink creates no topic)", s.where(), s.cfg.Topic, s.cfg.Conn.Brokers, d.Err)
	}
	return nil
}

// producerOpts are the options of a client that produces the sink's
// records.
func (s *Sink[T]) producerOpts() []kgo.Opt {
	linger := s.cfg.Linger
	if linger < 0 {
		linger = 0
	}
	opts := []kgo.Opt{
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchMaxBytes(s.cfg.BatchMaxBytes),
		kgo.ProducerBatchCompression(s.cfg.Compression.codec(), kgo.NoCompression()),
		kgo.MaxBufferedRecords(s.cfg.MaxBufferedRecords),
		kgo.RecordPartitioner(s.partitioner()),
	}
	if s.cfg.Topic != "" {
		opts = append(opts, kgo.DefaultProduceTopic(s.cfg.Topic))
	}
	return opts
}

func (c Compression) codec() kgo.CompressionCodec {
	switch c {
	case Gzip:
		return kgo.GzipCompression()
	case LZ4:
		return kgo.Lz4Compression()
	case Zstd:
		return kgo.ZstdCompression()
	case NoCompression:
		return kgo.NoCompression()
	}
	return kgo.SnappyCompression()
}

func (s *Sink[T]) partitioner() kgo.Partitioner {
	if s.cfg.Partition != nil {
		return funcPartitioner[T]{s.cfg.Partition}
	}
	switch s.cfg.Partitioner {
	case RoundRobin:
		return kgo.RoundRobinPartitioner()
	case Sticky:
		return kgo.StickyPartitioner()
	}
	// nil: Kafka's murmur2 hash, as the Java producer's default partitioner.
	return kgo.StickyKeyPartitioner(nil)
}

// funcPartitioner places records by SinkConfig.Partition. The record's
// value travels to it in the record's context (see record).
type funcPartitioner[T any] struct{ f func(T, int) int }

func (p funcPartitioner[T]) ForTopic(string) kgo.TopicPartitioner { return p }

func (p funcPartitioner[T]) RequiresConsistency(*kgo.Record) bool { return true }

func (p funcPartitioner[T]) Partition(r *kgo.Record, n int) int {
	return p.f(r.Context.(*valueContext[T]).v, n)
}

// record builds the message of v in memory from a, with timestamp ts
// (none when zero). Once record returned it, the message holds a
// reference to its slab, which the produce promise must give back with
// release.
// A failure is v's own (its encoding, its topic), so the job's error
// policy applies to v; a failed v takes nothing from a.
func (s *Sink[T]) record(a *arena[T], v T, ts time.Time) (*kgo.Record, error) {
	var topic string
	if s.cfg.TopicOf != nil {
		if topic = s.cfg.TopicOf(v); topic == "" {
			return nil, fmt.Errorf("%s: SinkConfig.TopicOf returned no topic", s.where())
		}
	}
	sl := a.slab()
	dst := sl.room()
	val, err := s.cfg.Value.Encode(dst, v)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding the value: %w", s.where(), err)
	}
	sl.used(dst, val)
	r := sl.take(v, s.cfg.Partition != nil)
	r.Topic = topic
	r.Value = val
	r.Timestamp = ts // the producer stamps a zero one with the time of producing
	if s.cfg.Key != nil {
		r.Key = s.cfg.Key(v)
	}
	if s.cfg.Headers != nil {
		r.Headers = s.cfg.Headers(v)
	}
	return r, nil
}

// arena hands a writer the records it produces, and room for their
// values, out of slabs: one slab serves hundreds of records instead of
// two allocations each, and slabs are reused, so that at hundreds of
// thousands of records a second the sink hands the garbage collector
// next to no work (a collector run is a pause in the job's latency).
//
// A slab goes back to the arena's free slabs when the brokers have
// acknowledged (or the producer has failed) every record taken from it
// and the writer has moved on to another: a count of references, one per
// record in the producer's hands and one for the writer while it takes
// from the slab, dropped by the produce promise — on the client's
// goroutines — and by the writer. The producer reads nothing of a record
// but its Context after calling its promise, so memory is reused only once
// no one reads it. The free slabs are a sync.Pool: a writer's records in flight can
// number MaxBufferedRecords, and a pool keeps as many slabs as a busy
// writer frees, yet lets the collector have them when the writer idles.
//
// A record finds its slab through its Context, which is the slab (or,
// with SinkConfig.Partition, an element of the slab's values that points
// to it). The producer may look at a record's Context after the promise
// (a goroutine waiting for a new topic's metadata watches the first
// record's), so what a Context reads never changes: a slab's context is
// its arena's for the slab's life, and the element of values the slab it
// was made for; only the value an element carries changes, which the
// producer reads — through the partitioner — before the promise alone.
//
// Only the writer's goroutine takes from an arena; the promises give back.
type arena[T any] struct {
	// ctx is the context of the writer's records: the job's.
	ctx  context.Context
	cur  *slab[T]
	free sync.Pool
	// values says whether records carry their values to the partitioner
	// (SinkConfig.Partition is set).
	values bool
}

const (
	// arenaRecords is how many records a slab holds.
	arenaRecords = 256
	// arenaBytes is the size of a slab's value bytes; a value that does
	// not fit in what is left of them gets memory of its own.
	arenaBytes = 64 << 10
	// arenaMinRoom is the least room left in a slab's bytes worth
	// encoding into; with less, the next value starts a new slab.
	arenaMinRoom = 2 << 10
)

// arena returns an arena for a writer of s whose records are produced
// under ctx.
func (s *Sink[T]) arena(ctx context.Context) *arena[T] {
	return &arena[T]{ctx: ctx, values: s.cfg.Partition != nil}
}

// slab is the memory of up to arenaRecords records and their values.
type slab[T any] struct {
	// Context is the arena's ctx: a slab is the Context of its records
	// (see arena). Set once.
	context.Context
	recs []kgo.Record
	// vals are the records' contexts with their values, for
	// funcPartitioner; nil when the arena's values is false.
	vals  []valueContext[T]
	n     int    // records taken since the slab was last (re)started
	bytes []byte // the values of the records taken, then free room
	// refs counts the records taken and not yet given back, plus one
	// while the slab is the arena's current one.
	refs atomic.Int32
	free *sync.Pool
}

// valueContext is the Context of a record with SinkConfig.Partition: it
// carries the record's value to funcPartitioner.
type valueContext[T any] struct {
	*slab[T] // set once
	v        T
}

// slab returns the current slab, with a record and arenaMinRoom bytes
// free, starting another (a free one if there is one) when the current
// one is used up.
func (a *arena[T]) slab() *slab[T] {
	s := a.cur
	if s != nil && s.n < len(s.recs) && cap(s.bytes)-len(s.bytes) >= arenaMinRoom {
		return s
	}
	if s != nil {
		s.release()
	}
	if s, _ = a.free.Get().(*slab[T]); s != nil {
		s.n, s.bytes = 0, s.bytes[:0]
	} else {
		s = &slab[T]{Context: a.ctx, recs: make([]kgo.Record, arenaRecords), bytes: make([]byte, 0, arenaBytes), free: &a.free}
		if a.values {
			s.vals = make([]valueContext[T], arenaRecords)
			for i := range s.vals {
				s.vals[i].slab = s
			}
		}
	}
	s.refs.Store(1)
	a.cur = s
	return s
}

// room returns an empty slice whose capacity is the slab's free memory,
// for the next value's encoder to append to.
func (s *slab[T]) room() []byte {
	n := len(s.bytes)
	return s.bytes[n:n:cap(s.bytes)]
}

// used takes the value an encoder returned for room's slice dst out of
// the free memory, if it lies there (an encoder that needed more memory
// than the room had returns memory of its own).
func (s *slab[T]) used(dst, val []byte) {
	if len(val) > 0 && unsafe.SliceData(val) == unsafe.SliceData(dst) {
		s.bytes = s.bytes[:len(s.bytes)+len(val)]
	}
}

// take returns the slab's next record, zero but for its Context, and
// counts a reference for it; keep says whether the record carries v.
func (s *slab[T]) take(v T, keep bool) *kgo.Record {
	r := &s.recs[s.n]
	*r = kgo.Record{Context: s}
	if keep {
		c := &s.vals[s.n]
		c.v = v
		r.Context = c
	}
	s.n++
	s.refs.Add(1)
	return r
}

// release drops a reference to s; the last one makes s free.
func (s *slab[T]) release() {
	if s.refs.Add(-1) == 0 {
		s.free.Put(s)
	}
}

// release gives r's memory back to its slab. It is the last thing a
// produce promise does with r: the slab may be reused at once.
func release[T any](r *kgo.Record) {
	switch c := r.Context.(type) {
	case *slab[T]:
		c.release()
	case *valueContext[T]:
		c.slab.release()
	}
}
