package nats_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/nats"
	"github.com/weirstream/weir/connectors/nats/natstest"
)

// A job reading a stream into another, failing once after a checkpoint
// and restarted by its restart strategy, leaves every input message in
// the output exactly once: the source replays from the checkpoint's
// sequences and the output stream drops what the sink publishes again by
// its Nats-Msg-Id (the input's stream and sequence).
func TestExactlyOnceAcrossRestart(t *testing.T) {
	srv := natstest.Start(t)
	srv.Stream("in", 0, "in.*")
	srv.Stream("out", 0, "out")
	conn := nats.Conn{URLs: []string{srv.URL()}}
	const half = 1000
	var want []string
	publish := func(from int) {
		for i := from; i < from+half; i++ {
			v := fmt.Sprintf("v%d", i)
			srv.Publish([]string{"in.a", "in.b"}[i%2], []byte(v))
			want = append(want, v)
		}
	}
	publish(0)

	src, err := nats.NewSource(nats.SourceConfig[string]{Conn: conn, Stream: "in", Subjects: []string{"in.a", "in.b"}, Decoder: format.String()})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := nats.NewSink(nats.SinkConfig[nats.Record[string]]{Conn: conn, Subject: "out",
		Encoder: encoderFunc[nats.Record[string]](func(dst []byte, r nats.Record[string]) ([]byte, error) { return append(dst, r.Value...), nil }),
		MsgID:   nats.Record[string].MsgID})
	if err != nil {
		t.Fatal(err)
	}

	// Armed when the first checkpoint completes, the job fails on the
	// 101st record after that: the 100 before it are published after the
	// checkpoint, and the restarted job publishes them again.
	var armed, failed atomic.Bool
	var seen atomic.Int64
	armedCh := make(chan struct{})
	var arm sync.Once
	stop := make(chan struct{})
	var restarts atomic.Int64
	env := weir.New(weir.Parallelism(2),
		weir.Checkpoints(time.Second, t.TempDir()), weir.StopOn(stop),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { arm.Do(func() { armed.Store(true); close(armedCh) }) }),
		weir.Restarts(weir.RestartStrategy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}),
		weir.OnRestart(func(weir.Restart) { restarts.Add(1) }))
	recs := weir.From(env, src).ID("in")
	recs = weir.TryMap(recs, func(r nats.Record[string]) (nats.Record[string], error) {
		if armed.Load() && seen.Add(1) > 100 && failed.CompareAndSwap(false, true) {
			return r, errors.New("the failure injected once after a checkpoint")
		}
		return r, nil
	}).ID("fail-once")
	weir.To(recs, sink).ID("out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()

	select {
	case <-armedCh:
	case err := <-done:
		t.Fatalf("the job ended before its first checkpoint: %v", err)
	}
	publish(half)
	waitMessages(t, srv, "out", len(want), done)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if restarts.Load() != 1 {
		t.Fatalf("the job restarted %d times, want 1", restarts.Load())
	}
	var got []string
	for _, d := range srv.Messages("out") {
		got = append(got, string(d))
	}
	slices.Sort(got)
	slices.Sort(want)
	if d := diffStrings(got, want); d != "" {
		t.Fatalf("output stream: %s", d)
	}
	if sink.Duplicates() == 0 {
		t.Fatal("the restarted job published no message again, so the test did not exercise deduplication")
	}
	t.Logf("%d messages exactly once; the stream dropped %d published again after the restart", len(got), sink.Duplicates())
}

// A job restored from an older savepoint reads again from that
// savepoint's sequences, though a later one exists.
func TestSourceRestoresOlderSavepoint(t *testing.T) {
	srv := natstest.Start(t)
	srv.Stream("in", 0, "in.*")
	conn := nats.Conn{URLs: []string{srv.URL()}}
	dir := t.TempDir()
	batch := func(from, n int) []string {
		var vs []string
		for i := from; i < from+n; i++ {
			v := fmt.Sprintf("v%d", i)
			srv.Publish([]string{"in.a", "in.b"}[i%2], []byte(v))
			vs = append(vs, v)
		}
		return vs
	}
	// run reads until it has n records, stops with a savepoint and
	// returns what it read and the savepoint's path.
	run := func(restore string, n int) ([]string, string) {
		t.Helper()
		src, err := nats.NewSource(nats.SourceConfig[string]{Conn: conn, Stream: "in", Subjects: []string{"in.a", "in.b"}, Decoder: format.String()})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var sp string
		opts := []weir.Option{weir.Parallelism(2), weir.Checkpoints(time.Hour, dir), weir.StopOn(stop),
			weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
				if m.Stop {
					sp = m.Path
				}
			})}
		if restore != "" {
			opts = append(opts, weir.Restore(restore))
		}
		env := weir.New(opts...)
		vals := weir.Map(weir.From(env, src).ID("in"), func(r nats.Record[string]) string { return r.Value })
		c := weir.Collect(vals)
		done := make(chan error, 1)
		go func() { done <- env.Run(context.Background()) }()
		for len(c.Values()) < n {
			select {
			case err := <-done:
				t.Fatalf("the job ended with %d of %d records: %v", len(c.Values()), n, err)
			case <-time.After(5 * time.Millisecond):
			}
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		got := c.Values()
		slices.Sort(got)
		return got, sp
	}
	first := batch(0, 300)
	got, sp1 := run("", len(first))
	if d := diffStrings(got, sorted(first)); d != "" {
		t.Fatalf("first run: %s", d)
	}
	second := batch(300, 200)
	got, sp2 := run(sp1, len(second))
	if d := diffStrings(got, sorted(second)); d != "" {
		t.Fatalf("run restored from %s: %s", sp1, d)
	}
	if sp2 == "" || sp2 == sp1 {
		t.Fatalf("savepoints %q and %q", sp1, sp2)
	}
	got, _ = run(sp1, len(second))
	if d := diffStrings(got, sorted(second)); d != "" {
		t.Fatalf("run restored again from the older %s: %s", sp1, d)
	}
}

// waitMessages waits until stream holds n messages, failing when the job
// ends first.
func waitMessages(t *testing.T, srv *natstest.Server, stream string, n int, done chan error) {
	t.Helper()
	st, err := srv.JetStream().Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs >= uint64(n) {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the job ended (Run: %v) with %d of %d messages in %s", err, info.State.Msgs, n, stream)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

type encoderFunc[T any] func(dst []byte, v T) ([]byte, error)

func (f encoderFunc[T]) Encode(dst []byte, v T) ([]byte, error) { return f(dst, v) }

func sorted(vs []string) []string {
	out := slices.Clone(vs)
	slices.Sort(out)
	return out
}

// diffStrings describes how the sorted got and want differ, "" when equal.
func diffStrings(got, want []string) string {
	count := map[string]int{}
	for _, v := range want {
		count[v]++
	}
	for _, v := range got {
		count[v]--
	}
	var missing, extra []string
	for v, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, v)
		}
		for ; n < 0; n++ {
			extra = append(extra, v)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return fmt.Sprintf("%d records, want %d: %d missing %.80q, %d repeated or unexpected %.80q", len(got), len(want), len(missing), missing, len(extra), extra)
}
