package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectortest"
)

// sourceFixture is a connectortest fixture for a file source: Setup writes
// the records into files of a temporary directory, one file a split,
// compressed with comp; bad records are events with negative numbers,
// which the job's decode step rejects.
func sourceFixture(comp Compression, watch bool, encode func(t *testing.T, evs []event) string, open func(t *testing.T, cfg SourceConfig) weir.Source[event], ext string) connectortest.Source[event] {
	return connectortest.Source[event]{
		Capabilities: connectortest.SourceCapabilities{Discovery: watch},
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[event] {
			dir := t.TempDir()
			var d connectortest.SourceData[event]
			files := make([][]event, in.Splits)
			for i := range in.Records + in.Bad {
				e := event{N: i}
				if i < in.Bad {
					e.N = -1 - i
					d.Bad = append(d.Bad, e)
				} else {
					d.Good = append(d.Good, e)
				}
				files[i%in.Splits] = append(files[i%in.Splits], e)
			}
			name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("%03d%s%s", i, ext, extOf(comp))) }
			for i, evs := range files {
				writeFile(t, name(i), comp, encode(t, evs))
			}
			var next atomic.Int64
			next.Store(int64(in.Records + in.Bad))
			splits := len(files)
			d.AddSplit = func(n int) []event {
				var evs []event
				for range n {
					evs = append(evs, event{N: int(next.Add(1))})
				}
				writeFile(t, name(splits), comp, encode(t, evs))
				splits++
				return evs
			}
			d.Source = func() weir.Source[event] {
				return open(t, SourceConfig{Paths: []string{filepath.Join(dir, "*"+ext+"*")}, Compression: comp, Watch: watch, SettleTime: -1})
			}
			return d
		},
		Decode: func(e event) error {
			if e.N < 0 {
				return errors.New("negative")
			}
			return nil
		},
		Key: func(e event) string { return strconv.Itoa(e.N) },
	}
}

func extOf(c Compression) string { return ext(c) }

func encodeJSONLines(_ *testing.T, evs []event) string {
	var b []byte
	for _, e := range evs {
		b = fmt.Appendf(b, "{\"n\":%d}\n", e.N)
	}
	return string(b)
}

func openJSONLines(t *testing.T, cfg SourceConfig) weir.Source[event] { return jsonSource(t, cfg) }

// The JSON-lines source passes the conformance suite bounded, reading
// plain, gzip and zstd files, and watching a directory for new files.
func TestSourceConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		comp  Compression
		watch bool
	}{
		{"plain", Uncompressed, false},
		{"gzip", Gzip, false},
		{"zstd watching", Zstd, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connectortest.RunSource(t, sourceFixture(tc.comp, tc.watch, encodeJSONLines, openJSONLines, ".jsonl"))
		})
	}
}
