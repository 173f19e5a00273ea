package kinesis_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kinesis"
	"github.com/weirstream/weir/connectors/kinesis/kinesistest"
	"github.com/weirstream/weir/connectortest"
)

// streams numbers the streams tests create on a shared emulator.
var streams atomic.Int64

func newStream(srv *kinesistest.Server, shards int) string {
	name := fmt.Sprintf("s%d", streams.Add(1))
	srv.CreateStream(name, shards)
	return name
}

// The source passes the conformance suite as an unbounded source that
// reads what is appended to its shards and discovers the shards a split
// creates (read after their parent), against one emulator, a stream per
// check.
func TestSourceConformance(t *testing.T) {
	srv := kinesistest.Start(t)
	connectortest.RunSource(t, connectortest.Source[kinesis.Record[string]]{
		Capabilities: connectortest.SourceCapabilities{Append: true, Discovery: true},
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[kinesis.Record[string]] {
			stream := newStream(srv, in.Splits)
			var seq atomic.Int64
			write := func(n int, bad bool) []kinesis.Record[string] {
				var out []kinesis.Record[string]
				for range n {
					i := seq.Add(1)
					v := fmt.Sprintf("good%d", i)
					if bad {
						v = fmt.Sprintf("bad%d", i)
					}
					srv.Put(stream, fmt.Sprintf("k%d", i), []byte(v))
					out = append(out, kinesis.Record[string]{Value: v})
				}
				return out
			}
			good := write(in.Records, false)
			bad := write(in.Bad, true)
			return connectortest.SourceData[kinesis.Record[string]]{
				Source: func() weir.Source[kinesis.Record[string]] {
					s, err := kinesis.NewSource(kinesis.SourceConfig[string]{Conn: srv.Conn(), Stream: stream, Decoder: format.String()})
					if err != nil {
						t.Fatalf("NewSource: %v", err)
					}
					return s
				},
				Good: good, Bad: bad,
				Append: func(n int) []kinesis.Record[string] { return write(n, false) },
				AddSplit: func(n int) []kinesis.Record[string] {
					srv.SplitOpenShard(stream)
					return write(n, false)
				},
			}
		},
		Decode: func(r kinesis.Record[string]) error {
			if strings.HasPrefix(r.Value, "bad") {
				return errors.New("bad record " + r.Value)
			}
			return nil
		},
		Key: func(r kinesis.Record[string]) string { return r.Value },
	})
}
