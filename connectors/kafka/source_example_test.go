package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

// View is an example record.
type View struct {
	Title   string `json:"title"`
	Seconds int    `json:"seconds"`
}

// A job reads a topic of JSON views to its current end, with the Kafka
// timestamps as event times; an in-process cluster stands in for Kafka.
func ExampleNewSource() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "views"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("views"))
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	err = producer.ProduceSync(context.Background(),
		&kgo.Record{Key: []byte("v1"), Value: []byte(`{"title":"Heat","seconds":95}`), Timestamp: at},
		&kgo.Record{Key: []byte("v2"), Value: []byte(`{"title":"Alien","seconds":12}`), Timestamp: at.Add(time.Second)},
	).FirstErr()
	producer.Close()
	if err != nil {
		fmt.Println(err)
		return
	}

	src, err := kafka.NewSource(kafka.SourceConfig[View]{
		Conn:    kafka.Conn{Brokers: cluster.ListenAddrs()},
		Topics:  []string{"views"},
		Decoder: format.JSON[View](),
		Bounded: true, // stop at the end the topic has now
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	env := weir.New()
	views := weir.From(env, src, weir.EventTime(kafka.Record[View].EventTime, 5*time.Second))
	got := weir.Collect(weir.Map(views, func(r kafka.Record[View]) string {
		return fmt.Sprintf("%s: %s watched %d s at %s", r.Key, r.Value.Title, r.Value.Seconds, r.Timestamp.UTC().Format(time.TimeOnly))
	}))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	lines := got.Values()
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// v1: Heat watched 95 s at 12:00:00
	// v2: Alien watched 12 s at 12:00:01
}
