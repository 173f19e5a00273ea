package kafkatest

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Send writes records like Produce, with a client it closes before it
// returns, so that none of its goroutines outlive the call (for tests that
// look for leaked goroutines while a job runs).
func (c *Cluster) Send(topic string, records ...*kgo.Record) {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		c.t.Fatalf("kafkatest: client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		c.t.Fatalf("kafkatest: send to %s: %v", topic, err)
	}
}

// AddPartitions adds n partitions to topic.
func (c *Cluster) AddPartitions(topic string, n int) {
	c.t.Helper()
	c.admin(func(ctx context.Context, adm *kadm.Client) error {
		resp, err := adm.CreatePartitions(ctx, n, topic)
		if err == nil {
			err = resp.Error()
		}
		return err
	}, "add partitions to "+topic)
}

// GroupOffsets returns the offsets group has committed for topic's
// partitions; none for a group that does not exist.
func (c *Cluster) GroupOffsets(group, topic string) map[int32]int64 {
	c.t.Helper()
	out := map[int32]int64{}
	c.admin(func(ctx context.Context, adm *kadm.Client) error {
		resp, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			return nil
		}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				out[o.Partition] = o.At
			}
		})
		return err
	}, "offsets of group "+group)
	return out
}

// admin runs fn with an admin client it closes afterwards.
func (c *Cluster) admin(fn func(context.Context, *kadm.Client) error, what string) {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...))
	if err != nil {
		c.t.Fatalf("kafkatest: client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fn(ctx, kadm.NewClient(cl)); err != nil {
		c.t.Fatalf("kafkatest: %s: %v", what, err)
	}
}

// CommitGroupOffsets commits offsets (by partition) of topic for group,
// without joining it.
func (c *Cluster) CommitGroupOffsets(group, topic string, offsets map[int32]int64) {
	c.t.Helper()
	c.admin(func(ctx context.Context, adm *kadm.Client) error {
		os := kadm.Offsets{}
		for p, at := range offsets {
			os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, group, os)
		if err == nil {
			err = resp.Error()
		}
		return err
	}, "commit offsets of group "+group)
}
