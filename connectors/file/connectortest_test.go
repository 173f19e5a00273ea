package file

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectortest"
)

// The sink passes the conformance suite as an exactly-once sink that can
// change parallelism; records are spread over two partitions and hourly
// event-time buckets, so that a subtask writes several files at each
// checkpoint.
func TestConformance(t *testing.T) {
	for _, enc := range encodings(t) {
		t.Run(enc.name, func(t *testing.T) { conformance(t, enc) })
	}
}

func conformance(t *testing.T, enc sinkEncoding) {
	connectortest.RunSink(t, connectortest.Sink[event]{
		Capabilities: connectortest.SinkCapabilities{ExactlyOnce: true, Rescale: true},
		Setup: func(t *testing.T) connectortest.SinkData[event] {
			dir := t.TempDir()
			return connectortest.SinkData[event]{
				Sink: func() weir.Sink[event] {
					cfg := Config[event]{Dir: dir, Ext: ".txt", RollSize: 64,
						Partition: func(e event) string { return e.User }, EventTimeBuckets: "2006-01-02--15"}
					enc.set(&cfg)
					s, err := New(cfg)
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					return s
				},
				Committed: func() ([]event, error) { return committedEvents(dir) },
			}
		},
		Record: func(n int64) event {
			return event{N: int(n), User: "u" + strconv.Itoa(int(n%2)), At: time.UnixMilli(n * 60_000)}
		},
		Key:       func(e event) string { return strconv.Itoa(e.N) },
		EventTime: func(e event) time.Time { return e.At },
	})
}

// committedEvents reads the committed output under dir: the lines of every
// file without a hidden segment in its path.
func committedEvents(dir string) ([]event, error) {
	var out []event
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.Contains("/"+p, "/.") {
			return err
		}
		recs, err := readPart(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		for _, r := range recs {
			n, err := strconv.Atoi(r)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			out = append(out, event{N: n, User: strings.Split(p, "/")[0]})
		}
		return nil
	})
	return out, err
}
