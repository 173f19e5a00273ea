package main

import (
	"context"
	"fmt"
	"sync/atomic"

	json "github.com/goccy/go-json"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ceiling is the hand-written loop the Weir pipelines are measured
// against: consume, decode the JSON, encode it again, produce, with
// franz-go's batching as a throughput user would set it, and no
// checkpoints, state or delivery guarantee beyond the producer's acks.
func ceiling(ctx context.Context, c childConfig) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...),
		kgo.ConsumeTopics(c.in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic(c.out), kgo.ProducerLinger(c.linger),
		kgo.MaxBufferedRecords(1<<16))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var failed atomic.Pointer[error]
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	var n int64
	for n < c.records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := fs.Err0(); err != nil {
			return n, fmt.Errorf("fetch: %w", err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			var e event
			if err := json.Unmarshal(r.Value, &e); err != nil {
				return n, fmt.Errorf("offset %d: %w", r.Offset, err)
			}
			b, err := json.Marshal(&e)
			if err != nil {
				return n, err
			}
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: b}, done)
			n++
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return n, err
	}
	if p := failed.Load(); p != nil {
		return n, fmt.Errorf("produce: %w", *p)
	}
	return n, nil
}
