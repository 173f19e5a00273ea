package kafka_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// transactions writes to the one partition of topic "tx": a plain record,
// an aborted transaction, a committed one, then opens a transaction and
// writes a plain record after it. It returns a function that commits the
// open transaction.
func transactions(t *testing.T, c *kafkatest.Cluster) (commit func()) {
	t.Helper()
	c.Topic("tx", 1)
	ctx := context.Background()
	c.Send("tx", &kgo.Record{Value: []byte("plain")})
	txn := func(id string, values ...string) *kgo.Client {
		// The open transaction must outlive the test, not time out.
		cl := c.Client(kgo.TransactionalID(id), kgo.DefaultProduceTopic("tx"), kgo.TransactionTimeout(5*time.Minute))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		return cl
	}
	end := func(cl *kgo.Client, how kgo.TransactionEndTry) {
		if err := cl.EndTransaction(ctx, how); err != nil {
			t.Fatal(err)
		}
	}
	end(txn("a", "aborted1", "aborted2"), kgo.TryAbort)
	end(txn("b", "committed"), kgo.TryCommit)
	open := txn("c", "open")
	c.Send("tx", &kgo.Record{Value: []byte("after-open")})
	return func() { end(open, kgo.TryCommit) }
}

// By default the source reads committed records only: a bounded source
// stops at the open transaction (the last stable offset) without reading
// the plain record after it, and never sees aborted records; with
// ReadUncommitted it reads every record up to the end.
func TestSourceReadCommitted(t *testing.T) {
	for _, tc := range []struct {
		name        string
		uncommitted bool
		want        []string
	}{
		{"committed", false, []string{"plain", "committed"}},
		{"uncommitted", true, []string{"plain", "aborted1", "aborted2", "committed", "open", "after-open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.NewCluster(t)
			transactions(t, c)
			env := weir.New()
			got := weir.Collect(weir.From(env, newSource(t, kafka.SourceConfig[string]{
				Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"tx"}, Bounded: true,
				ReadUncommitted: tc.uncommitted,
			})))
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := env.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			var g []string
			for _, r := range got.Values() {
				g = append(g, r.Value)
			}
			if !slices.Equal(g, tc.want) {
				t.Fatalf("read %q, want %q", g, tc.want)
			}
		})
	}
}

// An unbounded source waits at an open transaction: once it commits, its
// record comes before the plain record written after it, in offset order,
// and aborted records never come.
func TestSourceWaitsAtOpenTransaction(t *testing.T) {
	c := kafkatest.NewCluster(t)
	commit := transactions(t, c)
	stop := make(chan struct{})
	env := weir.New(weir.Checkpoints(time.Hour, t.TempDir()), weir.StopOn(stop))
	var n counter
	got := weir.Collect(n.step(weir.From(env, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"tx"},
	}))))
	j := start(t, env, stop)
	j.waitFor(n.at(2), "the committed records")
	commit()
	j.waitFor(n.at(4), "the records of the transaction committed and after it")
	j.end()
	var g []string
	for _, r := range got.Values() {
		g = append(g, r.Value)
	}
	if want := []string{"plain", "committed", "open", "after-open"}; !slices.Equal(g, want) {
		t.Fatalf("read %q, want %q", g, want)
	}
}
