// Command kafka-goka is the Goka contender of the Kafka benchmark
// (bench/kafka): a keyed count in lovoo/goka, Kafka Streams' model in Go.
// It reads the input topic's 300-byte JSON records, decodes each record's
// user, the one field the count needs (unless -by-key: then values are not
// decoded), counts them per record key in Goka's group table (kept in a compacted topic, as
// Goka keeps state), emits each new count to the output topic, and stops
// once it has counted -records records. It prints its record count and CPU
// seconds (rusage) as JSON, like the harness's other children. It is a
// module of its own so that Weir's module does not depend on Goka and
// sarama.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	gojson "github.com/goccy/go-json"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// userOf is what the count decodes of a record: its user, the one field
// it needs, as Weir's keyed count does (bench/kafka/weir.go).
type userOf struct {
	User string `json:"user"`
}

// userCodec decodes records with the same JSON library Weir and the
// hand-written loop use.
type userCodec struct{}

func (userCodec) Encode(v any) ([]byte, error) { return gojson.Marshal(v) }
func (userCodec) Decode(b []byte) (any, error) {
	var u userOf
	err := gojson.Unmarshal(b, &u)
	return &u, err
}

func main() {
	brokers := flag.String("brokers", "", "broker addresses, comma-separated")
	in := flag.String("in", "in", "input topic")
	out := flag.String("out", "out-goka", "output topic")
	records := flag.Int64("records", 1_000_000, "records to count before stopping")
	flag.Int64("keys", 0, "ignored (the harness passes it to every contender)")
	flag.String("file", "", "ignored (the harness passes it to every contender)")
	linger := flag.Duration("linger", 5*time.Millisecond, "producer linger (sarama Flush.Frequency)")
	byKey := flag.Bool("by-key", false, "count by message key without decoding values")
	flag.Parse()
	start := time.Now()
	var values goka.Codec = userCodec{}
	if *byKey {
		values = new(codec.Bytes)
	}
	if err := run(strings.Split(*brokers, ","), *in, *out, *records, *linger, values); err != nil {
		fmt.Fprintf(os.Stderr, "kafka-goka: %v\n", err)
		os.Exit(1)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"records": *records, "cpuSeconds": cpu, "wallSeconds": time.Since(start).Seconds(),
	})
}

func run(brokers []string, in, out string, records int64, linger time.Duration, values goka.Codec) error {
	// Goka's configuration as its users set it for throughput: producer
	// batching, the input read from its start.
	cfg := goka.DefaultConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Producer.Flush.Frequency = linger
	cfg.Producer.Flush.Messages = 1000
	cfg.Producer.Return.Successes = true
	goka.ReplaceGlobalConfig(cfg)
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication, tmc.Stream.Replication = 1, 1

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	count := func(ctx goka.Context, msg any) {
		var c int64
		if v := ctx.Value(); v != nil {
			c = v.(int64)
		}
		c++
		ctx.SetValue(c)
		ctx.Emit(goka.Stream(out), ctx.Key(), c)
		if n.Add(1) == records {
			cancel()
		}
	}
	g := goka.DefineGroup(goka.Group("count-"+out),
		goka.Input(goka.Stream(in), values, count),
		goka.Persist(new(codec.Int64)),
		goka.Output(goka.Stream(out), new(codec.Int64)),
	)
	// Goka caches its table on local disk (LevelDB); a run starts with an
	// empty cache, as the broker starts with an empty table topic.
	cache, err := os.MkdirTemp("", "kafka-goka-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	p, err := goka.NewProcessor(brokers, g,
		goka.WithStorageBuilder(storage.DefaultBuilder(cache)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithTopicManagerConfig(tmc)),
		goka.WithConsumerGroupBuilder(goka.DefaultConsumerGroupBuilder))
	if err != nil {
		return err
	}
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if got := n.Load(); got < records {
		return fmt.Errorf("stopped after %d of %d records", got, records)
	}
	return nil
}
