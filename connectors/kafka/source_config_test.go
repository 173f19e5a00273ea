package kafka_test

import (
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

// Validate names the field that is wrong.
func TestSourceConfigValidate(t *testing.T) {
	ok := func() kafka.SourceConfig[string] {
		return kafka.SourceConfig[string]{Conn: kafka.Conn{Brokers: []string{"127.0.0.1:9092"}},
			Topics: []string{"a"}, Decoder: format.String()}
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	for _, tc := range []struct {
		change func(*kafka.SourceConfig[string])
		want   string
	}{
		{func(c *kafka.SourceConfig[string]) { c.Conn.Brokers = nil }, "Conn.Brokers"},
		{func(c *kafka.SourceConfig[string]) { c.Topics = nil }, "SourceConfig.Topics or SourceConfig.TopicRegex is required"},
		{func(c *kafka.SourceConfig[string]) { c.TopicRegex = "a.*" }, "exclude each other"},
		{func(c *kafka.SourceConfig[string]) { c.Topics = []string{"a", "b c"} }, `SourceConfig.Topics[1] "b c"`},
		{func(c *kafka.SourceConfig[string]) { c.Topics = []string{"a", "a"} }, `SourceConfig.Topics[1] "a" is listed twice`},
		{func(c *kafka.SourceConfig[string]) { c.Topics, c.TopicRegex = nil, "a(" }, "SourceConfig.TopicRegex"},
		{func(c *kafka.SourceConfig[string]) { c.Decoder = nil }, "SourceConfig.Decoder"},
		{func(c *kafka.SourceConfig[string]) { c.FetchMaxBytes = -1 }, "SourceConfig.FetchMaxBytes"},
		{func(c *kafka.SourceConfig[string]) { c.FetchMaxPartitionBytes = -1 }, "SourceConfig.FetchMaxPartitionBytes"},
		{func(c *kafka.SourceConfig[string]) { c.FetchMaxWait = -time.Second }, "SourceConfig.FetchMaxWait"},
		{func(c *kafka.SourceConfig[string]) { c.BufferBytes = -1 }, "SourceConfig.BufferBytes"},
		{func(c *kafka.SourceConfig[string]) { c.StartingOffsets = kafka.AtTimestamp(time.Time{}) }, "SourceConfig.StartingOffsets"},
		{func(c *kafka.SourceConfig[string]) {
			c.Group, c.StartingOffsets = "g", kafka.CommittedOffsets(kafka.AtTimestamp(time.Now()))
		}, "SourceConfig.StartingOffsets"},
		{func(c *kafka.SourceConfig[string]) {
			c.StartingOffsets = kafka.SpecificOffsets(map[string]map[int32]int64{"a": {0: -3}}, kafka.Earliest())
		}, `topic "a" partition 0: offset -3`},
		{func(c *kafka.SourceConfig[string]) { c.StartingOffsets = kafka.CommittedOffsets(kafka.Earliest()) }, "needs SourceConfig.Group"},
	} {
		c := ok()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
		}
		if _, nerr := kafka.NewSource(c); nerr == nil || nerr.Error() != err.Error() {
			t.Errorf("NewSource = %v, want Validate's error", nerr)
		}
	}
}
