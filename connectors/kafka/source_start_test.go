package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// Each starting position reads what it says of a bounded topic of two
// partitions holding records 0–19, record i at offset i/2 of partition
// i%2 with timestamp base+i s.
func TestSourceStartingOffsets(t *testing.T) {
	pick := func(keep func(i int) bool) []string {
		var out []string
		for i := range 20 {
			if keep(i) {
				out = append(out, fmt.Sprintf("s/v%d", i))
			}
		}
		return sorted(out)
	}
	for _, tc := range []struct {
		name  string
		start kafka.Offsets
		want  []string
	}{
		{"zero value", kafka.Offsets{}, pick(func(int) bool { return true })},
		{"earliest", kafka.Earliest(), pick(func(int) bool { return true })},
		{"latest", kafka.Latest(), nil},
		{"timestamp", kafka.AtTimestamp(base.Add(15 * time.Second)), pick(func(i int) bool { return i >= 15 })},
		{"timestamp after all", kafka.AtTimestamp(base.Add(time.Hour)), nil},
		// The group committed offset 4 of partition 0 and nothing of 1.
		{"committed else earliest", kafka.CommittedOffsets(kafka.Earliest()), pick(func(i int) bool { return i%2 == 1 || i >= 8 })},
		{"committed else latest", kafka.CommittedOffsets(kafka.Latest()), pick(func(i int) bool { return i%2 == 0 && i >= 8 })},
		{"committed by no group", kafka.CommittedOffsets(kafka.Earliest()), pick(func(int) bool { return true })},
		{"specific else earliest", kafka.SpecificOffsets(map[string]map[int32]int64{"s": {1: 7}}, kafka.Earliest()),
			pick(func(i int) bool { return i%2 == 0 || i >= 15 })},
		{"specific else latest", kafka.SpecificOffsets(map[string]map[int32]int64{"s": {1: 7}}, kafka.Latest()),
			pick(func(i int) bool { return i%2 == 1 && i >= 15 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.NewCluster(t)
			c.Topic("s", 2)
			fill(c, "s", 2, 0, 20)
			c.CommitGroupOffsets("g", "s", map[int32]int64{0: 4})
			group := "g"
			if tc.name == "committed by no group" {
				group = "never-committed"
			}
			env := weir.New(weir.Parallelism(2))
			got := weir.Collect(weir.From(env, newSource(t, kafka.SourceConfig[string]{
				Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"s"}, Bounded: true,
				Group: group, StartingOffsets: tc.start,
			})))
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := env.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if g := values(got.Values()); !slices.Equal(g, tc.want) {
				t.Fatalf("read %q, want %q", g, tc.want)
			}
		})
	}
}

// Latest places the partitions a fresh job starts with; a partition added
// while the job was stopped is read from its earliest offset by the
// restored job, as Flink does, so none of its records are lost.
func TestSourceLatestThenRestoreReadsNewPartitionsFromEarliest(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("s", 2)
	fill(c, "s", 2, 0, 10)
	dir := t.TempDir()
	run := func(restore bool, write func() []string) []string {
		stop := make(chan struct{})
		onCheckpoint, checkpointed := checkpoints()
		opts := []weir.Option{weir.Checkpoints(20*time.Millisecond, dir), weir.StopOn(stop), onCheckpoint}
		if restore {
			opts = append(opts, weir.Restore("latest"))
		}
		env := weir.New(opts...)
		var n counter
		out := weir.Collect(n.step(weir.From(env, newSource(t, kafka.SourceConfig[string]{
			Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"s"}, StartingOffsets: kafka.Latest(),
		})).ID("kafka")))
		j := start(t, env, stop)
		// Once a checkpoint holds the readers' positions, they are placed.
		j.waitFor(checkpointed, "a checkpoint")
		want := write()
		j.waitFor(n.at(int64(len(want))), "the records written after the start")
		j.end()
		if g := values(out.Values()); !slices.Equal(g, sorted(want)) {
			t.Fatalf("read %q, want %q", g, sorted(want))
		}
		return want
	}
	run(false, func() []string { return fill(c, "s", 2, 10, 6) })
	c.AddPartitions("s", 1)
	fill(c, "s", 3, 16, 9)
	// Written before the restored run starts: all of them are read.
	run(true, func() []string { return valuesFrom("s", 16, 9) })
}

func valuesFrom(topic string, from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("%s/v%d", topic, i))
	}
	return out
}
