package nats_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/nats"
	"github.com/weirstream/weir/connectors/nats/natstest"
	"github.com/weirstream/weir/connectortest"
)

type event struct {
	N    int    `json:"n"`
	User string `json:"user"`
}

// The sink passes the conformance suite as an at-least-once sink, each
// check publishing to a stream of a nats-server of its own, with and
// without deduplication IDs.
func TestSinkConformance(t *testing.T) {
	for _, dedupe := range []bool{false, true} {
		t.Run("msgid="+strconv.FormatBool(dedupe), func(t *testing.T) {
			connectortest.RunSink(t, connectortest.Sink[event]{
				Capabilities: connectortest.SinkCapabilities{Rescale: true},
				Setup: func(t *testing.T) connectortest.SinkData[event] {
					srv := natstest.Start(t)
					srv.Stream("out", 0, "out")
					cfg := nats.SinkConfig[event]{Conn: nats.Conn{URLs: []string{srv.URL()}}, Subject: "out", Encoder: format.JSON[event]()}
					if dedupe {
						cfg.MsgID = func(e event) string { return strconv.Itoa(e.N) }
					}
					return connectortest.SinkData[event]{
						Sink: func() weir.Sink[event] {
							s, err := nats.NewSink(cfg)
							if err != nil {
								t.Fatalf("NewSink: %v", err)
							}
							return s
						},
						Committed: func() ([]event, error) {
							var out []event
							for _, d := range srv.Messages("out") {
								var e event
								if err := json.Unmarshal(d, &e); err != nil {
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
