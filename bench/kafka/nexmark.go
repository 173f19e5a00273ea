package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/queries"
)

// The Nexmark contenders run q5 and q7 at parallelism 1 on the same
// events, read from the topic "nexmark" or from the JSON-lines file it was
// filled from, so that their ratio is what reading through the broker
// costs.

func init() {
	for _, q := range []string{"q5", "q7"} {
		contenders["nexmark-"+q+"-kafka"] = func(ctx context.Context, c childConfig) (int64, error) {
			return nexmarkRun(ctx, q, job.Options{Kafka: &job.KafkaInput{Brokers: c.brokers, Topic: nexmarkTopic}})
		}
		contenders["nexmark-"+q+"-file"] = func(ctx context.Context, c childConfig) (int64, error) {
			return nexmarkRun(ctx, q, job.Options{Input: c.file})
		}
		nexmarkOrder = append(nexmarkOrder, "nexmark-"+q+"-file", "nexmark-"+q+"-kafka")
	}
}

// nexmarkOrder lists the Nexmark contenders, which run when the harness
// has -nexmark-events.
var nexmarkOrder []string

const nexmarkTopic = "nexmark"

func nexmarkRun(ctx context.Context, name string, o job.Options) (int64, error) {
	q, ok := queries.ByName(name)
	if !ok {
		return 0, fmt.Errorf("no query %s", name)
	}
	o.Parallelism = 1
	r, err := job.Run(ctx, q, o)
	return r.Events, err
}

// fillNexmark writes n generated Nexmark events as JSON lines to path and,
// the same bytes, one record each, to the topic nexmark.
func fillNexmark(addr, path string, n int64) error {
	cfg := nexmark.DefaultConfig()
	cfg.Events = n
	gen, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(nexmarkTopic), kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(1<<16))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := context.Background()
	var failed error
	for _, ev := range gen.Range(0, n) {
		line := nexmark.AppendJSON(nil, &ev)
		w.Write(line)
		w.WriteByte('\n')
		cl.Produce(ctx, &kgo.Record{Value: line}, func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
