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
	return read(c.t, c.Brokers(), topic, kgo.ReadCommitted())
}

// ReadUncommitted returns every record of topic, those of open and aborted
// transactions too.
func (c *Cluster) ReadUncommitted(topic string) []*kgo.Record {
	c.t.Helper()
	return read(c.t, c.Brokers(), topic, kgo.ReadUncommitted())
}

// ReadCommitted returns what ReadCommitted of a Cluster returns, from the
// cluster of the brokers given: one in another process, say.
func ReadCommitted(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	return read(t, brokers, topic, kgo.ReadCommitted())
}

// read returns the data records of topic that a consumer at isolation
// sees, from the start of each partition to its end when called.
//
// It reads every record, control records (transaction markers) included,
// up to each partition's high watermark, and decides itself which
// transactional records a committed read sees: those below the last
// stable offset whose producer's next marker commits. Every transaction
// with a record below the last stable offset has its marker below the high
// watermark, though perhaps above the last stable offset (when another
// transaction is still open), so the decision needs nothing beyond it.
func read(t testing.TB, brokers []string, topic string, isolation kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
		if err != nil {
			t.Fatalf("kafkatest: client: %v", err)
		}
		return cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admCl := client()
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	offsets := func(list func(context.Context, ...string) (kadm.ListedOffsets, error)) map[int32]int64 {
		listed, err := list(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			t.Fatalf("kafkatest: offsets of %s: %v", topic, err)
		}
		m := map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) { m[o.Partition] = o.Offset })
		return m
	}
	stable := offsets(adm.ListCommittedOffsets)
	high := offsets(adm.ListEndOffsets)
	parts := map[int32]kgo.Offset{}
	pending := map[int32]int64{} // partitions not read to their high watermark
	for p, end := range high {
		if end > 0 {
			parts[p] = kgo.NewOffset().AtStart()
			pending[p] = end
		}
	}
	if len(parts) == 0 {
		return nil
	}
	cl := client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords())
	defer cl.Close()
	byPart := map[int32][]*kgo.Record{}
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("kafkatest: read %s: %v (%d partitions not read to their end)", topic, err, len(pending))
		}
		for _, e := range fs.Errors() {
			t.Fatalf("kafkatest: read %s partition %d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := pending[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			byPart[r.Partition] = append(byPart[r.Partition], r)
			if r.Offset == end-1 {
				delete(pending, r.Partition)
			}
		})
	}
	ps := make([]int32, 0, len(byPart))
	for p := range byPart {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	var out []*kgo.Record
	for _, p := range ps {
		if isolation == kgo.ReadCommitted() {
			out = append(out, committed(byPart[p], stable[p])...)
			continue
		}
		for _, r := range byPart[p] {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		}
	}
	return out
}

// committed returns the data records of one partition's records rs (in
// offset order, markers included) that a read_committed consumer reads
// below the last stable offset lso: records outside transactions, and
// transactional records whose producer's next marker commits.
func committed(rs []*kgo.Record, lso int64) []*kgo.Record {
	// outcome[i] is whether the marker after transactional record i
	// commits; filled by a scan from the end.
	next := map[int64]bool{} // by producer ID: the outcome of its next marker
	keep := make([]bool, len(rs))
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		switch {
		case r.Attrs.IsControl():
			// A control record's key is a version and a type: 0 aborts,
			// 1 commits.
			next[r.ProducerID] = len(r.Key) >= 4 && r.Key[3] == 1
		case r.Attrs.IsTransactional():
			keep[i] = next[r.ProducerID]
		default:
			keep[i] = true
		}
	}
	var out []*kgo.Record
	for i, r := range rs {
		if keep[i] && r.Offset < lso {
			out = append(out, r)
		}
	}
	return out
}

// ReadUncommitted returns what ReadUncommitted of a Cluster returns, from
// the cluster of the brokers given.
func ReadUncommitted(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	return read(t, brokers, topic, kgo.ReadUncommitted())
}
