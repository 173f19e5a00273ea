package kinesis_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kinesis"
	"github.com/weirstream/weir/connectors/kinesis/kinesistest"
	"github.com/weirstream/weir/connectortest"
)

type event struct {
	N    int    `json:"n"`
	User string `json:"user"`
}

// The sink passes the conformance suite as an at-least-once sink that
// rescales, in small batches so that a checkpoint's records take several
// requests, each check writing to a stream of its own.
func TestSinkConformance(t *testing.T) {
	srv := kinesistest.Start(t)
	connectortest.RunSink(t, connectortest.Sink[event]{
		Capabilities: connectortest.SinkCapabilities{Rescale: true},
		Setup: func(t *testing.T) connectortest.SinkData[event] {
			stream := newStream(srv, 2)
			return connectortest.SinkData[event]{
				Sink: func() weir.Sink[event] {
					s, err := kinesis.NewSink(kinesis.SinkConfig[event]{Conn: srv.Conn(), Stream: stream, Encoder: format.JSON[event](),
						PartitionKey: func(e event) string { return e.User }, BatchRecords: 7})
					if err != nil {
						t.Fatalf("NewSink: %v", err)
					}
					return s
				},
				Committed: func() ([]event, error) {
					var out []event
					for _, r := range srv.Records(stream) {
						var e event
						if err := json.Unmarshal(r.Data, &e); err != nil {
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
}
