package kafka_test

import (
	"context"
	"fmt"
	"github.com/twmb/franz-go/pkg/kmsg"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// A bounded source reads every partition of a topic to the end it had at
// the start, at parallelism 1 and 2, and gives each record its topic,
// partition, offset, key, headers and timestamp, the timestamp being its
// event time too.
func TestSourceReadsEveryPartition(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprint("parallelism ", p), func(t *testing.T) {
			c := kafkatest.NewCluster(t)
			c.Topic("orders", 4)
			want := fill(c, "orders", 4, 0, 200)
			defer noLeaks(t)()
			env := weir.New(weir.Parallelism(p))
			got := weir.Collect(weir.From(env, newSource(t, kafka.SourceConfig[string]{
				Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"orders"}, Bounded: true,
			})))
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := env.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			recs := got.Records()
			var vals []string
			next := map[int32]int64{}
			for _, r := range recs {
				v := r.Value
				vals = append(vals, v.Value)
				var i int
				if _, err := fmt.Sscanf(v.Value, "orders/v%d", &i); err != nil {
					t.Fatalf("value %q: %v", v.Value, err)
				}
				ts := base.Add(time.Duration(i) * time.Second)
				if v.Topic != "orders" || v.Partition != int32(i%4) || string(v.Key) != fmt.Sprintf("k%d", i) ||
					len(v.Headers) != 1 || v.Headers[0].Key != "n" || string(v.Headers[0].Value) != fmt.Sprint(i) ||
					!v.Timestamp.Equal(ts) || !r.Time.Equal(ts) {
					t.Fatalf("record %d: %+v at event time %v, want topic orders, partition %d, key k%d, header n=%d, timestamp and event time %v",
						i, v, r.Time, i%4, i, i, ts)
				}
				// Within a partition, offsets count up from 0 in order.
				if v.Offset != next[v.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", v.Partition, v.Offset, next[v.Partition])
				}
				next[v.Partition]++
			}
			if g := sorted(vals); !slices.Equal(g, sorted(want)) {
				t.Fatalf("read %d records, want %d: %q…", len(g), len(want), g[:min(5, len(g))])
			}
		})
	}
}

// An unbounded source stopped with a savepoint at parallelism 2, restored
// at 1, stopped again and restored at 2 reads every record exactly once
// over the three runs, the records written while it was stopped included.
func TestSourceRestoresAtAnotherParallelism(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("events", 3)
	dir := t.TempDir()
	defer noLeaks(t)()
	var want []string
	var got []kafka.Record[string]
	for run, p := range []int{2, 1, 2} {
		want = append(want, fill(c, "events", 3, run*90, 90)...)
		stop := make(chan struct{})
		opts := []weir.Option{weir.Parallelism(p), weir.Checkpoints(20*time.Millisecond, dir), weir.StopOn(stop)}
		if run > 0 {
			opts = append(opts, weir.Restore("latest"))
		}
		env := weir.New(opts...)
		var n counter
		src := weir.From(env, newSource(t, kafka.SourceConfig[string]{
			Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"events"},
		})).ID("kafka")
		out := weir.Collect(n.step(src))
		j := start(t, env, stop)
		j.waitFor(n.at(90), fmt.Sprintf("run %d's 90 records", run))
		j.end()
		got = append(got, out.Values()...)
	}
	if g := values(got); !slices.Equal(g, sorted(want)) {
		t.Fatalf("three runs read %d records, want each of %d once", len(g), len(want))
	}
}

// The readers of a source share one client in the process: reading 16
// partitions at parallelism 2 opens a handful of connections (each new
// connection begins with an ApiVersions request), not one or more per
// partition.
func TestSourceSharesOneClient(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("wide", 16)
	want := fill(c, "wide", 16, 0, 160)
	var conns atomic.Int64
	c.ControlKey(int16(kmsg.ApiVersions), func(kmsg.Request) (kmsg.Response, error, bool) {
		conns.Add(1)
		return nil, nil, false
	})
	env := weir.New(weir.Parallelism(2))
	got := weir.Collect(weir.From(env, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"wide"}, Bounded: true,
	})))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if g := values(got.Values()); !slices.Equal(g, sorted(want)) {
		t.Fatalf("read %d records, want %d", len(g), len(want))
	}
	// The listing client and the shared one, a few connections each.
	if n := conns.Load(); n >= 16 {
		t.Fatalf("reading 16 partitions opened %d connections, want a few", n)
	}
	t.Logf("%d connections", conns.Load())
}
