package kinesis_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kinesis"
	"github.com/weirstream/weir/connectors/kinesis/kinesistest"
)

// writeKeyed writes n records for each of keys, "<key>:<i>" with i from
// from on, interleaving the keys, and returns them.
func writeKeyed(srv *kinesistest.Server, stream string, keys, from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		for k := range keys {
			key := "k" + strconv.Itoa(k)
			v := key + ":" + strconv.Itoa(i)
			srv.Put(stream, key, []byte(v))
			out = append(out, v)
		}
	}
	return out
}

// checkKeyOrder fails unless the records of each key come in the order
// they were written.
func checkKeyOrder(t *testing.T, got []string) {
	t.Helper()
	last := map[string]int{}
	for _, v := range got {
		key, n, _ := strings.Cut(v, ":")
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("record %q", v)
		}
		if prev, ok := last[key]; ok && i <= prev {
			t.Fatalf("key %s: record %d read after %d: a child shard was read before its parent had finished", key, i, prev)
		}
		last[key] = i
	}
}

// collectValues runs a job reading src at parallelism p into a collector
// chained to the source (so that the collector sees records in the order
// each subtask emits them) until want records have arrived, then stops it
// with a savepoint and returns the values in arrival order and the
// savepoint's path.
func collectValues(t *testing.T, src weir.Source[kinesis.Record[string]], p, want int, dir, restore string) ([]string, string) {
	t.Helper()
	stop := make(chan struct{})
	var sp string
	opts := []weir.Option{weir.Parallelism(p), weir.StopOn(stop), weir.Checkpoints(time.Hour, dir),
		weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
			if m.Stop {
				sp = m.Path
			}
		})}
	if restore != "" {
		opts = append(opts, weir.Restore(restore))
	}
	env := weir.New(opts...)
	vals := weir.Map(weir.From(env, src, weir.DiscoveryInterval(50*time.Millisecond)).ID("in"),
		func(r kinesis.Record[string]) string { return r.Value })
	c := weir.Collect(vals)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	for len(c.Values()) < want {
		select {
		case err := <-done:
			t.Fatalf("the job ended with %d of %d records: %v", len(c.Values()), want, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return c.Values(), sp
}

func newSource(t *testing.T, srv *kinesistest.Server, stream string, cfg kinesis.SourceConfig[string]) *kinesis.Source[string] {
	t.Helper()
	cfg.Conn, cfg.Stream, cfg.Decoder = srv.Conn(), stream, format.String()
	s, err := kinesis.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A stream resharded twice before the job starts (2 shards, split to 4,
// merged to 2, with records written in each generation) is read with
// every key's records in the order they were written, at parallelisms
// that put parents and children on other subtasks: a child shard is read
// only after its parents have finished.
func TestResharding(t *testing.T) {
	srv := kinesistest.Start(t)
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			stream := newStream(srv, 2)
			want := writeKeyed(srv, stream, 12, 0, 20)
			srv.Reshard(stream, 4)
			want = append(want, writeKeyed(srv, stream, 12, 20, 20)...)
			srv.Reshard(stream, 2)
			want = append(want, writeKeyed(srv, stream, 12, 40, 20)...)
			if n := len(srv.Shards(stream)); n < 8 {
				t.Fatalf("the stream has %d shards after two reshards, want at least 8", n)
			}
			got, _ := collectValues(t, newSource(t, srv, stream, kinesis.SourceConfig[string]{}), p, len(want), t.TempDir(), "")
			checkKeyOrder(t, got)
			if d := diffStrings(sorted(got), sorted(want)); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// A job killed after a checkpoint, while the stream is resharded and
// written to, and restored from that checkpoint, reads every record after
// the checkpoint once and none before it: the parents from their
// sequence numbers to their ends, then the children from their starts.
// Restored again from the same checkpoint at another parallelism, it
// reads the same records again.
func TestKillAndRestoreAcrossReshard(t *testing.T) {
	srv := kinesistest.Start(t)
	stream := newStream(srv, 2)
	dir := t.TempDir()
	first := writeKeyed(srv, stream, 8, 0, 25)

	// The first run reads the first records, takes checkpoints, and is
	// killed (its context canceled, no savepoint) once a checkpoint taken
	// after it had read them all has completed.
	src := newSource(t, srv, stream, kinesis.SourceConfig[string]{})
	// The second checkpoint to complete after every record was read is
	// the first whose barrier came after them all.
	var allRead atomic.Bool
	var after atomic.Int64
	var path string
	complete := make(chan struct{})
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(20*time.Millisecond, dir),
		weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
			if allRead.Load() && after.Add(1) == 2 {
				path = m.Path
				close(complete)
			}
		}))
	c := weir.Collect(weir.Map(weir.From(env, src).ID("in"), func(r kinesis.Record[string]) string { return r.Value }))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	for len(c.Values()) < len(first) {
		select {
		case err := <-done:
			t.Fatalf("the job ended with %d of %d records: %v", len(c.Values()), len(first), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	allRead.Store(true)
	select {
	case <-complete:
	case err := <-done:
		t.Fatalf("the job ended before a checkpoint after %d records: %v", len(first), err)
	}
	cancel()
	<-done
	if d := diffStrings(sorted(c.Values()), sorted(first)); d != "" {
		t.Fatalf("first run: %s", d)
	}

	// While the job is down: records into the parents, a reshard, and
	// records into the children.
	second := writeKeyed(srv, stream, 8, 25, 10)
	srv.Reshard(stream, 3)
	second = append(second, writeKeyed(srv, stream, 8, 35, 10)...)

	for _, p := range []int{2, 1} {
		got, _ := collectValues(t, newSource(t, srv, stream, kinesis.SourceConfig[string]{}), p, len(second), t.TempDir(), path)
		checkKeyOrder(t, got)
		if d := diffStrings(sorted(got), sorted(second)); d != "" {
			t.Fatalf("restored from %s at parallelism %d: %s", path, p, d)
		}
	}
}

// A job started AT_TIMESTAMP reads the records that arrived from then on;
// one started at LATEST reads none written before it started.
func TestStart(t *testing.T) {
	srv := kinesistest.Start(t)

	t.Run("AtTimestamp", func(t *testing.T) {
		stream := newStream(srv, 2)
		writeKeyed(srv, stream, 4, 0, 10)
		// The emulator stamps arrival times in milliseconds on this
		// machine's clock: a millisecond apart on both sides of at.
		time.Sleep(2 * time.Millisecond)
		at := time.Now()
		time.Sleep(2 * time.Millisecond)
		want := writeKeyed(srv, stream, 4, 10, 10)
		srv.Reshard(stream, 3)
		want = append(want, writeKeyed(srv, stream, 4, 20, 10)...)
		got, _ := collectValues(t, newSource(t, srv, stream, kinesis.SourceConfig[string]{Start: kinesis.StartAtTimestamp, StartTime: at}), 2, len(want), t.TempDir(), "")
		checkKeyOrder(t, got)
		if d := diffStrings(sorted(got), sorted(want)); d != "" {
			t.Fatal(d)
		}
	})

	t.Run("Latest", func(t *testing.T) {
		stream := newStream(srv, 1)
		before := writeKeyed(srv, stream, 4, 0, 10)
		srv.SplitOpenShard(stream) // a closed parent, skipped
		before = append(before, writeKeyed(srv, stream, 4, 10, 10)...)
		src := newSource(t, srv, stream, kinesis.SourceConfig[string]{Start: kinesis.StartLatest})
		env := weir.New(weir.Parallelism(2))
		c := weir.Collect(weir.Map(weir.From(env, src), func(r kinesis.Record[string]) string { return r.Value }))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- env.Run(ctx) }()
		// Markers are written until the job reads one: from then on its
		// readers have started, and every record written is read.
		markers := 0
		for len(c.Values()) == 0 {
			select {
			case err := <-done:
				t.Fatalf("the job ended: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			srv.Put(stream, "marker"+strconv.Itoa(markers), []byte("marker"+strconv.Itoa(markers)))
			markers++
		}
		want := writeKeyed(srv, stream, 4, 20, 10)
		for {
			var got []string
			for _, v := range c.Values() {
				if !strings.HasPrefix(v, "marker") {
					got = append(got, v)
				}
			}
			if len(got) >= len(want) {
				cancel()
				<-done
				if d := diffStrings(sorted(got), sorted(want)); d != "" {
					t.Fatalf("%s (written before the start: %d records)", d, len(before))
				}
				return
			}
			select {
			case err := <-done:
				t.Fatalf("the job ended with %d of %d records: %v", len(got), len(want), err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
}

// Records whose data does not decode meet the job's error policy with the
// shard and sequence number named; the others are read.
func TestDecodeFailures(t *testing.T) {
	srv := kinesistest.Start(t)
	stream := newStream(srv, 1)
	srv.Put(stream, "k", []byte(`{"n":1}`), []byte(`{"n":`), []byte(`{"n":3}`))
	type rec struct{ N int }
	src, err := kinesis.NewSource(kinesis.SourceConfig[rec]{Conn: srv.Conn(), Stream: stream, Decoder: format.JSON[rec]()})
	if err != nil {
		t.Fatal(err)
	}
	env := weir.New(weir.OnError(weir.FailJob))
	c := weir.Collect(weir.From(env, src))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = env.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "shardId-000000000000") || !strings.Contains(err.Error(), "sequence number") {
		t.Fatalf("Run: %v; want the decode error naming the shard and sequence number", err)
	}
	if got := c.Values(); len(got) != 1 || got[0].Value.N != 1 {
		t.Fatalf("read %v before the bad record, want n=1", got)
	}
}

// Bad settings are refused naming the field.
func TestSourceConfig(t *testing.T) {
	conn := kinesis.Conn{Region: "us-east-1", AccessKeyID: "a", SecretAccessKey: "b"}
	for _, tc := range []struct {
		cfg  kinesis.SourceConfig[string]
		want string
	}{
		{kinesis.SourceConfig[string]{Conn: conn, Decoder: format.String()}, "Stream is required"},
		{kinesis.SourceConfig[string]{Conn: conn, Stream: "s"}, "Decoder is required"},
		{kinesis.SourceConfig[string]{Conn: kinesis.Conn{}, Stream: "s", Decoder: format.String()}, "Region is required"},
		{kinesis.SourceConfig[string]{Conn: kinesis.Conn{Region: "r", Endpoint: "localhost:4567"}, Stream: "s", Decoder: format.String()}, "Endpoint"},
		{kinesis.SourceConfig[string]{Conn: conn, Stream: "s", Decoder: format.String(), Start: kinesis.StartAtTimestamp}, "StartTime is required"},
		{kinesis.SourceConfig[string]{Conn: conn, Stream: "s", Decoder: format.String(), StartTime: time.Now()}, "StartTime is set"},
		{kinesis.SourceConfig[string]{Conn: conn, Stream: "s", Decoder: format.String(), Limit: 10001}, "Limit"},
	} {
		_, err := kinesis.NewSource(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSource(%+v): %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

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
