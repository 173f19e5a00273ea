package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

// The Weir contenders read the input topic to the end it has when they
// start (a bounded source), at parallelism 1 with a checkpoint every
// second, and write what they compute to the output topic.

func init() {
	contenders["weir-alo"] = func(ctx context.Context, c childConfig) (int64, error) {
		return weirPassthrough(ctx, c, kafka.AtLeastOnce)
	}
	contenders["weir-eo"] = func(ctx context.Context, c childConfig) (int64, error) {
		return weirPassthrough(ctx, c, kafka.ExactlyOnce)
	}
	contenders["weir-count"] = weirCount
	contenders["weir-count-key"] = weirCountByKey
	order = append(order, "weir-alo", "weir-eo", "weir-count", "weir-count-key")
}

// weirJob returns the environment and source every Weir contender uses,
// the records' values decoded as T.
func weirJob[T any](c childConfig) (*weir.Env, weir.Stream[kafka.Record[T]], func(), error) {
	dir, err := os.MkdirTemp("", "bench-kafka-weir-")
	if err != nil {
		return nil, weir.Stream[kafka.Record[T]]{}, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	src, err := kafka.NewSource(kafka.SourceConfig[T]{
		Conn: kafka.Conn{Brokers: c.brokers}, Topics: []string{c.in}, Decoder: format.JSON[T](), Bounded: true,
	})
	if err != nil {
		cleanup()
		return nil, weir.Stream[kafka.Record[T]]{}, nil, err
	}
	env := weir.New(weir.Parallelism(1), weir.Checkpoints(time.Second, filepath.Join(dir, "checkpoints")))
	return env, weir.From(env, src).ID("in"), cleanup, nil
}

// weirPassthrough decodes each record and writes it again, like the
// ceiling, with the delivery given.
func weirPassthrough(ctx context.Context, c childConfig, d kafka.Delivery) (int64, error) {
	env, recs, cleanup, err := weirJob[event](c)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	cfg := kafka.SinkConfig[event]{
		Conn: kafka.Conn{Brokers: c.brokers}, Topic: c.out, Value: format.JSON[event](),
		Key: func(e event) []byte { return []byte(e.User) }, Delivery: d, Linger: c.linger,
	}
	if d == kafka.ExactlyOnce {
		cfg.TransactionalIDPrefix = "bench-" + c.out
	}
	sink, err := kafka.NewSink(cfg)
	if err != nil {
		return 0, err
	}
	weir.To(weir.Map(recs, func(r kafka.Record[event]) event { return r.Value }), sink).ID("out")
	return runCounted(ctx, env)
}

// userCount is the keyed count's output: a user's views so far.
type userCount struct {
	User  string `json:"user"`
	Count int64  `json:"count"`
}

// countText encodes a count as Goka's Int64 codec does, as decimal text;
// the user is the record's key.
type countText struct{}

func (countText) Encode(dst []byte, u userCount) ([]byte, error) {
	return strconv.AppendInt(dst, u.Count, 10), nil
}

// counter counts each key's records in keyed state and emits every new
// count, as the Goka contenders do; T is what the records carry.
type counter[T any] struct {
	n weir.ValueState[string, int64]
}

func (f *counter[T]) Open(c weir.KeyedOpenContext[string]) error {
	f.n = weir.Value[int64](c, "n")
	return nil
}

func (f *counter[T]) Process(c weir.KeyedContext[string], _ T, out weir.Out[userCount]) error {
	n, _, err := f.n.Get(c)
	if err != nil {
		return err
	}
	n++
	if err := f.n.Set(c, n); err != nil {
		return err
	}
	out.Emit(userCount{User: c.Key(), Count: n})
	return nil
}

// userOf is what the keyed counts decode of a record: its user, the one
// field they need (the Goka contender decodes the same).
type userOf struct {
	User string `json:"user"`
}

// weirCount counts records per user in keyed state and writes each new
// count, at least once.
func weirCount(ctx context.Context, c childConfig) (int64, error) {
	env, recs, cleanup, err := weirJob[userOf](c)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	sink, err := kafka.NewSink(kafka.SinkConfig[userCount]{
		Conn: kafka.Conn{Brokers: c.brokers}, Topic: c.out, Value: countText{},
		Key: func(u userCount) []byte { return []byte(u.User) }, Linger: c.linger,
	})
	if err != nil {
		return 0, err
	}
	events := weir.Map(recs, func(r kafka.Record[userOf]) userOf { return r.Value })
	counts := weir.Process(weir.KeyBy(events, func(e userOf) string { return e.User }), &counter[userOf]{})
	weir.To(counts, sink).ID("out")
	return runCounted(ctx, env)
}

// runCounted runs env and returns how many records its source read.
func runCounted(ctx context.Context, env *weir.Env) (int64, error) {
	if err := env.Run(ctx); err != nil {
		return 0, err
	}
	for _, m := range env.Metrics() {
		if m.ID == "in" {
			return m.In, nil
		}
	}
	return 0, errors.New("no metrics of the source")
}

// skipValue is a decoder for jobs that need a record's key and not its
// value.
type skipValue struct{}

func (skipValue) Decode([]byte) (struct{}, error) { return struct{}{}, nil }

// weirCountByKey counts records per message key without decoding their
// values (Kafka Streams' groupByKey().count()), and writes each new count,
// at least once.
func weirCountByKey(ctx context.Context, c childConfig) (int64, error) {
	dir, err := os.MkdirTemp("", "bench-kafka-weir-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	src, err := kafka.NewSource(kafka.SourceConfig[struct{}]{
		Conn: kafka.Conn{Brokers: c.brokers}, Topics: []string{c.in}, Decoder: skipValue{}, Bounded: true,
	})
	if err != nil {
		return 0, err
	}
	sink, err := kafka.NewSink(kafka.SinkConfig[userCount]{
		Conn: kafka.Conn{Brokers: c.brokers}, Topic: c.out, Value: countText{},
		Key: func(u userCount) []byte { return []byte(u.User) }, Linger: c.linger,
	})
	if err != nil {
		return 0, err
	}
	env := weir.New(weir.Parallelism(1), weir.Checkpoints(time.Second, filepath.Join(dir, "checkpoints")))
	keys := weir.Map(weir.From(env, weir.Source[kafka.Record[struct{}]](src)).ID("in"),
		func(r kafka.Record[struct{}]) string { return string(r.Key) })
	counts := weir.Process(weir.KeyBy(keys, func(k string) string { return k }), &counter[string]{})
	weir.To(counts, sink).ID("out")
	return runCounted(ctx, env)
}
