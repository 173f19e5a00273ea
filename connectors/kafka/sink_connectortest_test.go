package kafka

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/connectortest"
)

// The sink passes the conformance suite in both delivery modes: each check
// writes to a topic of three partitions of a cluster of its own, and reads
// back what a read_committed consumer sees.
func TestSinkConformance(t *testing.T) {
	for _, tc := range []struct {
		delivery Delivery
		caps     connectortest.SinkCapabilities
	}{
		{AtLeastOnce, connectortest.SinkCapabilities{Rescale: true}},
		{ExactlyOnce, connectortest.SinkCapabilities{ExactlyOnce: true, Rescale: true}},
	} {
		t.Run(tc.delivery.String(), func(t *testing.T) {
			connectortest.RunSink(t, connectortest.Sink[event]{
				Capabilities: tc.caps,
				Setup: func(t *testing.T) connectortest.SinkData[event] {
					c := kafkatest.NewCluster(t)
					c.Topic("out", 3)
					cfg := sinkConfig(c, "out", tc.delivery)
					return connectortest.SinkData[event]{
						Sink: func() weir.Sink[event] { return newTestSink(t, cfg) },
						Committed: func() ([]event, error) {
							// The suite checks for goroutines left after a
							// canceled job; the reading clients are closed.
							view, done := c.Scoped()
							defer done()
							var out []event
							for _, r := range view.ReadCommitted("out") {
								var e event
								if err := json.Unmarshal(r.Value, &e); err != nil {
									return nil, err
								}
								out = append(out, e)
							}
							return out, nil
						},
					}
				},
				Record: func(n int64) event { return event{N: int(n), User: "u" + strconv.Itoa(int(n%7))} },
				Key:    func(e event) string { return strconv.Itoa(e.N) },
			})
		})
	}
}
