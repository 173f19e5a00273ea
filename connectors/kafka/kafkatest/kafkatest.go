// Package kafkatest runs an in-process Kafka-protocol cluster for tests
// (franz-go's kfake) and reads and writes its topics with a plain client,
// so that a test can feed a job's input topic and check its output topic.
// It is a stand-in for tests, not a production broker.
package kafkatest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is an in-process cluster listening on free ports of 127.0.0.1,
// closed when its test ends.
type Cluster struct {
	*kfake.Cluster
	t testing.TB
}

// NewCluster starts a cluster of one broker (opts may ask for more, seed
// topics, enable SASL or TLS …) and closes it when t ends.
func NewCluster(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: start cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, t: t}
}

// Brokers returns the brokers' addresses, for a connection's seed brokers.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// Client returns a client of the cluster with opts, closed when the test
// ends.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}, opts...)...)
	if err != nil {
		c.t.Fatalf("kafkatest: client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Topic creates topic with the given number of partitions.
func (c *Cluster) Topic(topic string, partitions int32) {
	c.t.Helper()
	if err := c.CreateTopic(topic, partitions, nil); err != nil {
		c.t.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
}

// Produce writes records and waits until every one is acknowledged. A
// record without a Topic goes to topic.
func (c *Cluster) Produce(topic string, records ...*kgo.Record) {
	c.t.Helper()
	cl := c.Client(kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		c.t.Fatalf("kafkatest: produce to %s: %v", topic, err)
	}
}

// ReadCommitted returns every committed record of topic, from the start of
// each partition to its end when called, in partition order and offset
// order within one: what a read_committed consumer sees.
func (c *Cluster) ReadCommitted(topic string) []*kgo.Record {
	c.t.Helper()
	return c.read(topic, kgo.ReadCommitted())
}

// ReadUncommitted returns every record of topic, those of open and aborted
// transactions too.
func (c *Cluster) ReadUncommitted(topic string) []*kgo.Record {
	c.t.Helper()
	return c.read(topic, kgo.ReadUncommitted())
}

func (c *Cluster) read(topic string, isolation kgo.IsolationLevel) []*kgo.Record {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The end of each partition: its last stable offset for a committed
	// read (every record below it is committed or aborted), its high
	// watermark otherwise.
	adm := kadm.NewClient(c.Client())
	list := adm.ListEndOffsets
	if isolation == kgo.ReadCommitted() {
		list = adm.ListCommittedOffsets
	}
	listed, err := list(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		c.t.Fatalf("kafkatest: end offsets of %s: %v", topic, err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
		}
	})
	if len(ends) == 0 {
		return nil
	}
	parts := map[int32]kgo.Offset{}
	for p := range ends {
		parts[p] = kgo.NewOffset().AtStart()
	}
	// Control records (transaction markers) are kept so that the reader
	// sees the offset just below each end: the last record below a last
	// stable offset is a marker or a committed record, never an aborted
	// one, whose marker follows it.
	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(isolation), kgo.KeepControlRecords())
	byPart := map[int32][]*kgo.Record{}
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			c.t.Fatalf("kafkatest: read %s: %v (%d partitions not read to their end)", topic, err, len(ends))
		}
		for _, e := range fs.Errors() {
			c.t.Fatalf("kafkatest: read %s partition %d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := ends[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				byPart[r.Partition] = append(byPart[r.Partition], r)
			}
			if r.Offset == end-1 {
				delete(ends, r.Partition)
			}
		})
	}
	parts2 := make([]int32, 0, len(byPart))
	for p := range byPart {
		parts2 = append(parts2, p)
	}
	slices.Sort(parts2)
	var out []*kgo.Record
	for _, p := range parts2 {
		out = append(out, byPart[p]...)
	}
	return out
}
