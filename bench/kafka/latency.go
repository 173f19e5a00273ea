package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	json "github.com/goccy/go-json"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

// The latency runs measure how long a record takes from its producer to a
// consumer of Weir's output topic: the harness writes events at a fixed
// rate, each carrying the time it was sent (nanoseconds, in its ts field),
// to a topic a Weir passthrough job reads from its start, and a consumer of
// the job's output — read_committed for exactly once — takes each record's
// latency as the time it reads it minus that time. The job runs in a child
// process until the harness stops it. Unless told the rate, the harness
// first writes as fast as it can to find the most the whole setup sustains
// (measureMaxRate), and the runs write half of that. The hand-written loop
// runs the same way, as the floor of what the broker and the machine allow.

func init() {
	contenders["latency-alo"] = func(ctx context.Context, c childConfig) (int64, error) {
		return latencyJob(ctx, c, kafka.AtLeastOnce)
	}
	contenders["latency-eo"] = func(ctx context.Context, c childConfig) (int64, error) {
		return latencyJob(ctx, c, kafka.ExactlyOnce)
	}
	contenders["latency-loop"] = latencyLoop
}

// latencyLoop passes events through from c.in to c.out until SIGTERM as
// the hand-written loop (ceiling.go) does, with the Weir job's fetch wait
// and linger: what the broker and the machine give any client, the floor
// of Weir's latency.
func latencyLoop(ctx context.Context, c childConfig) (int64, error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...),
		kgo.ConsumeTopics(c.in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(10*time.Millisecond),
		kgo.DefaultProduceTopic(c.out), kgo.ProducerLinger(c.linger))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			var e event
			if err := json.Unmarshal(r.Value, &e); err != nil {
				return 0, fmt.Errorf("offset %d: %w", r.Offset, err)
			}
			b, err := json.Marshal(&e)
			if err != nil {
				return 0, err
			}
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: b}, nil)
		}
	}
	return 0, nil
}

// latencyJob passes events through from c.in to c.out until SIGTERM.
func latencyJob(ctx context.Context, c childConfig, d kafka.Delivery) (int64, error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "bench-kafka-latency-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	src, err := kafka.NewSource(kafka.SourceConfig[event]{
		Conn: kafka.Conn{Brokers: c.brokers}, Topics: []string{c.in}, Decoder: format.JSON[event](),
		FetchMaxWait: 10 * time.Millisecond,
	})
	if err != nil {
		return 0, err
	}
	cfg := kafka.SinkConfig[event]{
		Conn: kafka.Conn{Brokers: c.brokers}, Topic: c.out, Value: format.JSON[event](),
		Key: func(e event) []byte { return []byte(e.User) }, Delivery: d, Linger: c.linger,
	}
	if d == kafka.ExactlyOnce {
		cfg.TransactionalIDPrefix = "latency-" + c.out
	}
	sink, err := kafka.NewSink(cfg)
	if err != nil {
		return 0, err
	}
	env := weir.New(weir.Parallelism(1), weir.Checkpoints(time.Second, filepath.Join(dir, "checkpoints")))
	recs := weir.From(env, src).ID("in")
	weir.To(weir.Map(recs, func(r kafka.Record[event]) event { return r.Value }), sink).ID("out")
	if err := env.Run(ctx); err != nil && ctx.Err() == nil {
		return 0, err
	}
	return 0, nil
}

// measureMaxRate runs the at-least-once latency job in a child process,
// writes events to its input as fast as a producer can for d, and returns
// the rate at which the job's output reached its consumer past the first
// quarter of the run: the most the whole setup — the harness's producer
// and consumer, the broker and the job on the same cores — sustains.
func measureMaxRate(self, addr string, partitions int, d time.Duration, o options) (float64, error) {
	in, out := "lat-in-max", "lat-out-max"
	for _, t := range []string{in, out} {
		if err := createTopic(addr, t, partitions); err != nil {
			return 0, err
		}
	}
	child := exec.Command(self, "-child", "latency-alo", "-brokers", addr, "-in", in, "-out", out, "-linger", o.latLinger.String())
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		_ = child.Wait()
	}()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(out),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(in), kgo.ProducerLinger(0))
	if err != nil {
		return 0, err
	}
	defer producer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	from, to := start.Add(d/4), start.Add(d)
	var counted int64
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			if now := time.Now(); now.After(from) && now.Before(to) {
				counted += int64(fs.NumRecords())
			}
		}
	}()
	for i := int64(0); time.Now().Before(to); i++ {
		e := makeEvent(i, o.keys)
		e.Timestamp = time.Now().UnixNano()
		v, err := json.Marshal(&e)
		if err != nil {
			return 0, err
		}
		// Produce blocks while the producer's buffer is full: the input
		// goes in as fast as the broker takes it.
		producer.Produce(ctx, &kgo.Record{Key: []byte(e.User), Value: v}, func(*kgo.Record, error) {})
	}
	cancel()
	<-consumed
	if counted == 0 {
		return 0, errors.New("latency: the output's consumer read nothing while the input was written at full speed")
	}
	return float64(counted) / to.Sub(from).Seconds(), nil
}

// latencyResult is one latency run's percentiles.
type latencyResult struct {
	mode          string
	rate          float64
	n             int
	p50, p99, max time.Duration
	// sent is how many events the run wrote; child is what the job's
	// process reported at its end (its allocations and collections).
	sent  int64
	child result
}

// measureLatency runs the latency job of mode in a child process, writes
// events at rate per second for d, and returns the latencies the output's
// consumer saw, past the first quarter of the run (warm-up).
func measureLatency(self, addr, mode string, partitions int, rate float64, d time.Duration, o options) (latencyResult, error) {
	res := latencyResult{mode: mode, rate: rate}
	in, out := "lat-in-"+mode, "lat-out-"+mode
	for _, t := range []string{in, out} {
		if err := createTopic(addr, t, partitions); err != nil {
			return res, err
		}
	}
	child := exec.Command(self, "-child", "latency-"+mode, "-brokers", addr, "-in", in, "-out", out, "-linger", o.latLinger.String())
	child.Stderr = os.Stderr
	var childOut bytes.Buffer
	child.Stdout = &childOut
	if err := child.Start(); err != nil {
		return res, err
	}
	stopped := false
	stopChild := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = child.Process.Signal(syscall.SIGTERM)
		return child.Wait()
	}
	defer stopChild()

	isolation := kgo.ReadUncommitted()
	if mode == "eo" {
		isolation = kgo.ReadCommitted()
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(isolation),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer consumer.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(in), kgo.ProducerLinger(0))
	if err != nil {
		return res, err
	}
	defer producer.Close()

	var mu sync.Mutex
	var lats []time.Duration
	warm := time.Now().Add(d / 4).UnixNano()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			now := time.Now().UnixNano()
			fs.EachRecord(func(r *kgo.Record) {
				var e struct {
					Ts int64 `json:"ts"`
				}
				if json.Unmarshal(r.Value, &e) == nil && e.Ts >= warm {
					mu.Lock()
					lats = append(lats, time.Duration(now-e.Ts))
					mu.Unlock()
				}
			})
		}
	}()

	// Write rate events per second, in steps of a millisecond.
	start := time.Now()
	var sent int64
	for i := int64(0); time.Since(start) < d; {
		due := int64(time.Since(start).Seconds() * rate)
		for ; i < due; i++ {
			e := makeEvent(i, o.keys)
			e.Timestamp = time.Now().UnixNano()
			v, err := json.Marshal(&e)
			if err != nil {
				return res, err
			}
			producer.Produce(ctx, &kgo.Record{Key: []byte(e.User), Value: v}, func(*kgo.Record, error) {})
			sent++
		}
		time.Sleep(time.Millisecond)
	}
	// Time for the last records to come through: the checkpoint interval
	// and then some.
	time.Sleep(3 * time.Second)
	cancel()
	<-consumed
	if err := stopChild(); err != nil {
		return res, fmt.Errorf("latency %s: the job's process: %w", mode, err)
	}
	if err := json.Unmarshal(childOut.Bytes(), &res.child); err != nil {
		return res, fmt.Errorf("latency %s: the job's process reported %q: %w", mode, childOut.Bytes(), err)
	}
	res.sent = sent
	mu.Lock()
	defer mu.Unlock()
	if len(lats) == 0 {
		return res, fmt.Errorf("latency %s: the consumer read none of the %d events written", mode, sent)
	}
	slices.Sort(lats)
	res.n = len(lats)
	res.p50, res.p99, res.max = lats[len(lats)/2], lats[len(lats)*99/100], lats[len(lats)-1]
	return res, nil
}
