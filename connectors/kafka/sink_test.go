package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

func TestSinkConfigValidate(t *testing.T) {
	good := func() SinkConfig[event] {
		return SinkConfig[event]{Conn: Conn{Brokers: []string{"127.0.0.1:9092"}}, Topic: "out", Value: format.JSON[event]()}
	}
	for _, tc := range []struct {
		want   string
		change func(*SinkConfig[event])
	}{
		{"SinkConfig.Conn.Brokers is required", func(c *SinkConfig[event]) { c.Conn.Brokers = nil }},
		{"SinkConfig.Topic or SinkConfig.TopicOf is required", func(c *SinkConfig[event]) { c.Topic = "" }},
		{"are both set", func(c *SinkConfig[event]) { c.TopicOf = func(event) string { return "x" } }},
		{"SinkConfig.Value is required", func(c *SinkConfig[event]) { c.Value = nil }},
		{"SinkConfig.Partitioner 7", func(c *SinkConfig[event]) { c.Partitioner = 7 }},
		{"SinkConfig.Delivery 5", func(c *SinkConfig[event]) { c.Delivery = 5 }},
		{"SinkConfig.Compression \"brotli\"", func(c *SinkConfig[event]) { c.Compression = "brotli" }},
		{"SinkConfig.Linger 2m0s must be at most 1m", func(c *SinkConfig[event]) { c.Linger = 2 * time.Minute }},
		{"SinkConfig.BatchMaxBytes -1", func(c *SinkConfig[event]) { c.BatchMaxBytes = -1 }},
		{"SinkConfig.MaxBufferedRecords -1", func(c *SinkConfig[event]) { c.MaxBufferedRecords = -1 }},
		{"SinkConfig.TransactionalIDPrefix is required with ExactlyOnce", func(c *SinkConfig[event]) { c.Delivery = ExactlyOnce }},
		{"SinkConfig.TransactionTimeout -1s", func(c *SinkConfig[event]) {
			c.Delivery, c.TransactionalIDPrefix, c.TransactionTimeout = ExactlyOnce, "p", -time.Second
		}},
		{"need Delivery ExactlyOnce", func(c *SinkConfig[event]) { c.TransactionalIDPrefix = "p" }},
		{"must not contain white space", func(c *SinkConfig[event]) { c.Delivery, c.TransactionalIDPrefix = ExactlyOnce, "a b" }},
	} {
		c := good()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate: %v; want an error containing %q", err, tc.want)
		}
		if _, nerr := NewSink(c); fmt.Sprint(nerr) != fmt.Sprint(err) {
			t.Errorf("NewSink: %v; want Validate's error %v", nerr, err)
		}
	}
	if err := good().Validate(); err != nil {
		t.Errorf("Validate of a good config: %v", err)
	}
}

// Mistakes in the connection or the topic fail the job at its start with
// the broker's error, in both delivery modes.
func TestOpenErrors(t *testing.T) {
	c := kafkatest.NewCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "weir", "secret"))
	adm := c.Client(kgo.SASL(SASL{Mechanism: Plain, User: "weir", Password: "secret"}.mechanism()))
	if err := adm.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []Delivery{AtLeastOnce, ExactlyOnce} {
		for _, tc := range []struct {
			name, password, topic, want string
		}{
			// kfake drops the connection (EOF); Kafka answers
			// SASL_AUTHENTICATION_FAILED. Either way the error
			// names the brokers.
			{"wrong password", "wrong", "out", "brokers ["},
			{"unknown topic", "secret", "missing", `topic "missing"`},
		} {
			t.Run(d.String()+"/"+tc.name, func(t *testing.T) {
				cfg := sinkConfig(c, tc.topic, d)
				cfg.Conn.SASL = &SASL{Mechanism: Plain, User: "weir", Password: tc.password}
				cfg.Conn.StartTimeout = 5 * time.Second
				w, err := newTestSink(t, cfg).Open(context.Background(), weir.SinkInfo{Parallelism: 1})
				if err == nil {
					w.Close()
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "kafka sink") {
					t.Fatalf("Open: %v; want a kafka sink error containing %q", err, tc.want)
				}
			})
		}
	}
}

// At least once, Flush sends every buffered record and waits for the
// brokers' acknowledgements: with a long linger nothing would leave
// without it (50 s, for a test of under a minute).
func TestAtLeastOnceFlushSendsEverything(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 3)
	cfg := sinkConfig(c, "out", AtLeastOnce)
	cfg.Linger = 50 * time.Second
	w, err := newTestSink(t, cfg).Open(context.Background(), weir.SinkInfo{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write(t, w, 0, 50)
	if err := w.(weir.Flusher).Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	equal(t, "after Flush", committed(t, c, "out"), span([2]int{0, 50}))
}

// A record the brokers refuse fails the next Write, Flush and Close, naming
// the topic.
func TestAtLeastOnceProduceErrorsSurface(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 1)
	cfg := sinkConfig(c, "", AtLeastOnce)
	cfg.Topic, cfg.TopicOf = "", func(e event) string { return e.User }
	w, err := newTestSink(t, cfg).Open(context.Background(), weir.SinkInfo{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(event{N: 1, User: "no-such-topic"}); err != nil {
		t.Fatalf("Write: %v (the failure comes later, from the brokers)", err)
	}
	err = w.(weir.Flusher).Flush()
	if err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Fatalf("Flush after a record to a missing topic: %v; want an error naming the topic", err)
	}
	if err := w.Write(event{N: 2, User: "out"}); err == nil {
		t.Fatal("Write after a failed record succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failed record succeeded")
	}
}

// javaMurmur2 is Kafka's Java producer's hash of a key (Utils.murmur2),
// written out here to check partitions against an independent copy.
func javaMurmur2(data []byte) int32 {
	const seed, m, r = uint32(0x9747b28c), uint32(0x5bd1e995), 24
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// Records land in the partitions their partitioner gives: the Java
// producer's key hash by default, SinkConfig.Partition's when set; keys
// and headers come from the record.
func TestPartitioningKeysAndHeaders(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("keyed", 5)
	c.Topic("byfunc", 5)
	c.Topic("rr", 5)
	hdr := func(e event) []kgo.RecordHeader {
		return []kgo.RecordHeader{{Key: "n", Value: []byte(strconv.Itoa(e.N))}}
	}
	run := func(topic string, change func(*SinkConfig[event])) []*kgo.Record {
		cfg := sinkConfig(c, topic, AtLeastOnce)
		cfg.Headers = hdr
		change(&cfg)
		w, err := newTestSink(t, cfg).Open(context.Background(), weir.SinkInfo{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		write(t, w, 0, 100)
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		rs := c.ReadCommitted(topic)
		if len(rs) != 100 {
			t.Fatalf("%s: read %d records, want 100", topic, len(rs))
		}
		for _, r := range rs {
			if len(r.Headers) != 1 || r.Headers[0].Key != "n" {
				t.Fatalf("%s: record at partition %d offset %d has headers %v", topic, r.Partition, r.Offset, r.Headers)
			}
		}
		return rs
	}
	for _, r := range run("keyed", func(*SinkConfig[event]) {}) {
		if want := (javaMurmur2(r.Key) & 0x7fffffff) % 5; r.Partition != want {
			t.Errorf("key %q is in partition %d; Java producers put it in %d", r.Key, r.Partition, want)
		}
	}
	for _, r := range run("byfunc", func(c *SinkConfig[event]) { c.Partition = func(e event, n int) int { return e.N % n } }) {
		n, _ := strconv.Atoi(string(r.Headers[0].Value))
		if want := int32(n % 5); r.Partition != want {
			t.Errorf("record %d is in partition %d; the Partition function put it in %d", n, r.Partition, want)
		}
	}
	per := map[int32]int{}
	for _, r := range run("rr", func(c *SinkConfig[event]) { c.Partitioner = RoundRobin }) {
		per[r.Partition]++
	}
	for p := range int32(5) {
		if per[p] != 20 {
			t.Errorf("round robin: %d records in partition %d, want 20 (all: %v)", per[p], p, per)
		}
	}
}

// crashingSink's writers die at Close instead of closing: nothing is
// aborted, as when the process is killed.
type crashingSink struct{ s *Sink[event] }

func (c crashingSink) Open(ctx context.Context, info weir.SinkInfo) (weir.SinkWriter[event], error) {
	w, err := c.s.Open(ctx, info)
	if err != nil {
		return nil, err
	}
	return crashOnClose{w.(*txnWriter[event])}, nil
}

type crashOnClose struct{ *txnWriter[event] }

func (w crashOnClose) Close() error {
	// The job may fail just after a barrier, before a record of the next
	// transaction; one more record, never committed, leaves the
	// transaction open for the restored run to abort, as a process killed
	// a moment later would.
	if w.cur == nil || w.cur.records == 0 {
		_ = w.Write(event{N: -1, User: "uncommitted"})
	}
	if w.cur != nil {
		_ = w.cur.cl.Flush(context.Background())
	}
	crash(w.txnWriter)
	return nil
}

// A job that dies after a checkpoint, leaving its transactions open as a
// killed process does, is restored from that checkpoint at parallelism 1:
// read_committed consumers then see every record exactly once, and
// nothing holds them back — subtask 1's open transaction too, which no
// subtask of the restored job would reopen.
func TestExactlyOnceJobFailureAndRestore(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 3)
	const n = 3000
	dir := t.TempDir()
	cfg := sinkConfig(c, "out", ExactlyOnce)
	job := func(sink weir.Sink[event], fail *atomic.Bool, opts ...weir.Option) error {
		var armed atomic.Bool
		opts = append(opts, weir.Checkpoints(20*time.Millisecond, dir),
			weir.OnCheckpoint(func(weir.CheckpointMetrics) { armed.Store(true) }))
		env := weir.New(opts...)
		src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 2, Count: n, Rate: 3000},
			func(i int64) event { return event{N: int(i), User: "u" + strconv.Itoa(int(i%7))} })).ID("gen")
		checked := weir.TryMap(src, func(e event) (event, error) {
			if fail != nil && armed.Load() && e.N > n/3 && !fail.Swap(true) {
				return e, errors.New("injected failure")
			}
			return e, nil
		}).ID("fail")
		weir.To(checked, sink).ID("kafka")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return env.Run(ctx)
	}
	var failed atomic.Bool
	err := job(crashingSink{newTestSink(t, cfg)}, &failed, weir.Parallelism(2))
	if !failed.Load() || err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("first run: %v (failure injected: %v); want the injected failure after a checkpoint", err, failed.Load())
	}
	if len(c.HeldBack("out")) == 0 {
		t.Fatal("the failed run left no open transaction, so the test shows nothing")
	}
	if err := job(newTestSink(t, cfg), nil, weir.Restore("latest"), weir.Parallelism(1)); err != nil {
		t.Fatalf("restored run: %v", err)
	}
	noneHeldBack(t, c, "out")
	equal(t, "committed after the restore", committed(t, c, "out"), span([2]int{0, n}))
}

// A job's records with an event time are written with it as their Kafka
// timestamp, at least once and exactly once; a record without one gets the
// time it was produced.
func TestEventTimeIsTheTimestamp(t *testing.T) {
	c := kafkatest.NewCluster(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, d := range []Delivery{AtLeastOnce, ExactlyOnce} {
		topic := "times-" + d.String()
		c.Topic(topic, 2)
		events := make([]event, 50)
		for i := range events {
			events[i] = event{N: i, User: "u" + strconv.Itoa(i%3)}
		}
		env := weir.New(weir.Parallelism(2), weir.Checkpoints(20*time.Millisecond, t.TempDir()))
		in := weir.From(env, weir.Slice(events...), weir.EventTime(func(e event) time.Time {
			return base.Add(time.Duration(e.N) * time.Minute)
		}, 0))
		weir.To(in, newTestSink(t, sinkConfig(c, topic, d)))
		before := time.Now()
		if err := env.Run(context.Background()); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		rs := c.ReadCommitted(topic)
		if len(rs) != len(events) {
			t.Fatalf("%s: read %d records, want %d", d, len(rs), len(events))
		}
		for _, r := range rs {
			var e event
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Fatal(err)
			}
			if want := base.Add(time.Duration(e.N) * time.Minute); !r.Timestamp.Equal(want) {
				t.Errorf("%s: record %d has timestamp %v, want its event time %v", d, e.N, r.Timestamp, want)
			}
		}

		// Without an event time: the time of producing.
		c.Topic(topic+"-now", 1)
		w, err := newTestSink(t, sinkConfig(c, topic+"-now", AtLeastOnce)).Open(context.Background(), weir.SinkInfo{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		write(t, w, 0, 3)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for _, r := range c.ReadCommitted(topic + "-now") {
			if r.Timestamp.Before(before.Add(-time.Second)) {
				t.Errorf("%s: a record without an event time has timestamp %v, before the run began (%v)", d, r.Timestamp, before)
			}
		}
	}
}
