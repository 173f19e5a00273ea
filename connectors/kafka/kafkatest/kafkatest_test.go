package kafkatest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// A committed read sees plain records and committed transactions to the
// end of every partition; an uncommitted read sees aborted ones too.
func TestReadCommittedSkipsAbortedTransactions(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("t", 3)
	c.Produce("t", &kgo.Record{Value: []byte("plain"), Partition: 0})
	ctx := context.Background()
	for _, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		tx := c.Client(kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		v := "committed"
		if commit == kgo.TryAbort {
			v = "aborted"
		}
		for p := int32(0); p < 2; p++ {
			if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Partition: p}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
		tx.Close()
	}
	values := func(rs []*kgo.Record) (out []string) {
		for _, r := range rs {
			out = append(out, string(r.Value))
		}
		slices.Sort(out)
		return out
	}
	if got := values(c.ReadCommitted("t")); !slices.Equal(got, []string{"committed", "committed", "plain"}) {
		t.Fatalf("committed read: %q, want plain and two committed", got)
	}
	if got := values(c.ReadUncommitted("t")); len(got) != 5 {
		t.Fatalf("uncommitted read: %q, want 5 records", got)
	}
}

// A committed read ends at the last stable offset even when the record just
// below it belongs to an aborted transaction whose marker comes after an
// open transaction's first record.
func TestReadCommittedBelowAnOpenTransaction(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("t", 1)
	ctx := context.Background()
	txn := func(id string) *kgo.Client {
		cl := c.Client(kgo.TransactionalID(id), kgo.DefaultProduceTopic("t"))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	produce := func(cl *kgo.Client, v string) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.Produce("t", &kgo.Record{Value: []byte("plain")})
	aborted, open := txn("a"), txn("b")
	produce(aborted, "aborted") // offset 1
	produce(open, "open")       // offset 2: the last stable offset
	if err := aborted.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	produce(open, "open again")
	var got []string
	for _, r := range c.ReadCommitted("t") {
		got = append(got, string(r.Value))
	}
	if !slices.Equal(got, []string{"plain"}) {
		t.Fatalf("committed read: %q, want only plain", got)
	}
	if n := len(c.ReadUncommitted("t")); n != 4 {
		t.Fatalf("uncommitted read: %d records, want 4", n)
	}
}
