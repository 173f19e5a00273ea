package kafka_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

// Order is an example record.
type Order struct {
	ID       int    `json:"id"`
	Customer string `json:"customer"`
}

// A job writes orders to a topic exactly once, keyed by customer; a
// read_committed consumer sees them when the job's checkpoint (here the
// final one of a bounded job) has completed. An in-process cluster stands
// in for the brokers.
func ExampleNewSink() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	sink, err := kafka.NewSink(kafka.SinkConfig[Order]{
		Conn:                  kafka.Conn{Brokers: cluster.ListenAddrs()},
		Topic:                 "orders",
		Value:                 format.JSON[Order](),
		Key:                   func(o Order) []byte { return []byte(o.Customer) },
		Delivery:              kafka.ExactlyOnce,
		TransactionalIDPrefix: "orders-job",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	env := weir.New(weir.Checkpoints(time.Second, dir))
	orders := weir.From(env, weir.Slice(Order{1, "acme"}, Order{2, "globex"}, Order{3, "acme"}))
	weir.To(orders, sink).Name("orders to kafka")
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	for _, r := range readCommitted(cluster.ListenAddrs(), "orders", 3) {
		fmt.Printf("%s %s\n", r.Key, r.Value)
	}
	// Output:
	// acme {"id":1,"customer":"acme"}
	// globex {"id":2,"customer":"globex"}
	// acme {"id":3,"customer":"acme"}
}

// readCommitted reads n records of topic as a read_committed consumer.
func readCommitted(brokers []string, topic string, n int) []*kgo.Record {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	return out
}
