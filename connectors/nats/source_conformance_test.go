package nats_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/nats"
	"github.com/weirstream/weir/connectors/nats/natstest"
	"github.com/weirstream/weir/connectortest"
)

// The source passes the conformance suite as an unbounded source reading
// messages appended to its subjects, one split per subject, against a
// nats-server of each check's own.
func TestSourceConformance(t *testing.T) {
	connectortest.RunSource(t, connectortest.Source[nats.Record[string]]{
		Capabilities: connectortest.SourceCapabilities{Append: true},
		Setup:        setupSuite,
		Decode: func(r nats.Record[string]) error {
			if strings.HasPrefix(r.Value, "bad") {
				return errors.New("bad record " + r.Value)
			}
			return nil
		},
		Key: func(r nats.Record[string]) string { return r.Value },
	})
}

func setupSuite(t *testing.T, in connectortest.Input) connectortest.SourceData[nats.Record[string]] {
	srv := natstest.Start(t)
	srv.Stream("suite", 0, "suite.>")
	var subjects []string
	for i := range in.Splits {
		subjects = append(subjects, fmt.Sprintf("suite.%d", i))
	}
	var seq atomic.Int64
	write := func(n int, bad bool) []nats.Record[string] {
		var out []nats.Record[string]
		for range n {
			i := seq.Add(1)
			v := fmt.Sprintf("good%d", i)
			if bad {
				v = fmt.Sprintf("bad%d", i)
			}
			srv.Publish(subjects[int(i)%len(subjects)], []byte(v))
			out = append(out, nats.Record[string]{Value: v})
		}
		return out
	}
	good := write(in.Records, false)
	bad := write(in.Bad, true)
	return connectortest.SourceData[nats.Record[string]]{
		Source: func() weir.Source[nats.Record[string]] {
			s, err := nats.NewSource(nats.SourceConfig[string]{
				Conn: nats.Conn{URLs: []string{srv.URL()}}, Stream: "suite", Subjects: subjects, Decoder: format.String(),
			})
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			return s
		},
		Good: good, Bad: bad,
		Append: func(n int) []nats.Record[string] { return write(n, false) },
	}
}
