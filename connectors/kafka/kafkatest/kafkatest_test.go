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
