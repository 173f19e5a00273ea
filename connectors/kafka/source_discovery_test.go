package kafka_test

import (
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// While the job runs, a regex source picks up partitions added to its
// topics and new topics whose whole name matches, reading them from their
// earliest offsets; a topic whose name only contains a match is not read.
func TestSourceDiscoversPartitionsAndTopics(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("in-a", 2)
	c.Topic("xin-x", 1)
	fill(c, "in-a", 2, 0, 20)
	fill(c, "xin-x", 1, 0, 5)
	defer noLeaks(t)()
	stop := make(chan struct{})
	onCheckpoint, checkpointed := checkpoints()
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(20*time.Millisecond, t.TempDir()), weir.StopOn(stop), onCheckpoint)
	var n counter
	out := weir.Collect(n.step(weir.From(env, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, TopicRegex: "in-.*",
		StartingOffsets: kafka.Latest(),
	}), weir.DiscoveryInterval(10*time.Millisecond))))
	j := start(t, env, stop)
	// The partitions listed at the start begin at their end (Latest),
	// placed once a checkpoint holds their positions.
	j.waitFor(checkpointed, "a checkpoint")
	want := fill(c, "in-a", 2, 20, 10)
	fill(c, "xin-x", 1, 5, 5)
	j.waitFor(n.at(10), "the records of the first topic")
	c.AddPartitions("in-a", 1)
	want = append(want, fill(c, "in-a", 3, 30, 9)...)
	j.waitFor(n.at(19), "the records of a partition added")
	c.Topic("in-b", 2)
	want = append(want, fill(c, "in-b", 2, 0, 8)...)
	j.waitFor(n.at(27), "the records of a topic created")
	j.end()
	if g := values(out.Values()); !slices.Equal(g, sorted(want)) {
		t.Fatalf("read %q, want %q", g, sorted(want))
	}
}

// A regex that matches no topic when the job starts is not an error: the
// topics created later are read.
func TestSourceRegexWithoutTopicsYet(t *testing.T) {
	c := kafkatest.NewCluster(t)
	stop := make(chan struct{})
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(time.Hour, t.TempDir()), weir.StopOn(stop))
	var n counter
	out := weir.Collect(n.step(weir.From(env, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, TopicRegex: "late-.*",
	}), weir.DiscoveryInterval(10*time.Millisecond))))
	j := start(t, env, stop)
	c.Topic("late-1", 3)
	want := fill(c, "late-1", 3, 0, 12)
	j.waitFor(n.at(12), "the records of a topic created after the start")
	j.end()
	if g := values(out.Values()); !slices.Equal(g, sorted(want)) {
		t.Fatalf("read %q, want %q", g, sorted(want))
	}
}
