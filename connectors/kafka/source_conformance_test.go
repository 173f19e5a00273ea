package kafka_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/connectortest"
)

// The source passes the conformance suite as an unbounded source that
// discovers topics matching its regex and reads records appended to its
// partitions.
func TestSourceConformance(t *testing.T) {
	connectortest.RunSource(t, connectortest.Source[kafka.Record[string]]{
		Capabilities: connectortest.SourceCapabilities{Discovery: true, Append: true},
		Setup:        setupSuite,
		Decode: func(r kafka.Record[string]) error {
			if strings.HasPrefix(r.Value, "bad") {
				return errors.New("bad record " + r.Value)
			}
			return nil
		},
		Key: func(r kafka.Record[string]) string { return r.Value },
	})
}

func setupSuite(t *testing.T, in connectortest.Input) connectortest.SourceData[kafka.Record[string]] {
	c := kafkatest.NewCluster(t)
	parts := int32(in.Splits)
	c.Topic("suite-0", parts)
	var seq, topics atomic.Int64
	write := func(topic string, parts int32, n int, bad bool) []kafka.Record[string] {
		var recs []*kgo.Record
		var out []kafka.Record[string]
		for range n {
			i := seq.Add(1)
			v := fmt.Sprintf("good%d", i)
			if bad {
				v = fmt.Sprintf("bad%d", i)
			}
			recs = append(recs, &kgo.Record{Partition: int32(i) % parts, Value: []byte(v)})
			out = append(out, kafka.Record[string]{Value: v})
		}
		c.Send(topic, recs...)
		return out
	}
	good := write("suite-0", parts, in.Records, false)
	bad := write("suite-0", parts, in.Bad, true)
	return connectortest.SourceData[kafka.Record[string]]{
		Source: func() weir.Source[kafka.Record[string]] {
			s, err := kafka.NewSource(kafka.SourceConfig[string]{
				Conn: kafka.Conn{Brokers: c.Brokers()}, TopicRegex: "suite-.*", Decoder: format.String(),
			})
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			return s
		},
		Good: good, Bad: bad,
		Append: func(n int) []kafka.Record[string] { return write("suite-0", parts, n, false) },
		AddSplit: func(n int) []kafka.Record[string] {
			topic := fmt.Sprintf("suite-%d", topics.Add(1))
			c.Topic(topic, 1)
			return write(topic, 1, n, false)
		},
	}
}
