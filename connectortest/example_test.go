package connectortest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectortest"
)

// A fixture for the lines source: Setup writes the records, numbers and
// some lines that are not numbers, into files of a temporary directory,
// one file a split; Decode is the job's decode step, which rejects the
// lines that are not numbers. The source declares no capability beyond
// the common checks: it is bounded, and discovers nothing.
func ExampleRunSource() {
	source := connectortest.Source[string]{
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[string] {
			dir := t.TempDir()
			var d connectortest.SourceData[string]
			files := make([][]byte, in.Splits)
			for i := range in.Records + in.Bad {
				line := strconv.Itoa(i)
				if i < in.Bad {
					line = "bad " + line
					d.Bad = append(d.Bad, line)
				} else {
					d.Good = append(d.Good, line)
				}
				files[i%in.Splits] = append(files[i%in.Splits], line+"\n"...)
			}
			for i, b := range files {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.txt", i)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d.Source = func() weir.Source[string] { return weir.Lines(filepath.Join(dir, "*.txt")) }
			return d
		},
		Decode: func(line string) error {
			_, err := strconv.Atoi(line)
			return err
		},
	}
	// In a test of the connector's package:
	//
	//	func TestConformance(t *testing.T) { connectortest.RunSource(t, source) }
	_ = source
}

// A fixture for the plain file sink, which is at-least-once and writes one
// file with one subtask but a directory of files with more, so it cannot
// change parallelism; Committed reads back what it wrote.
func ExampleRunSink() {
	sink := connectortest.Sink[int64]{
		Capabilities: connectortest.SinkCapabilities{ExactlyOnce: false, Rescale: false},
		Setup: func(t *testing.T) connectortest.SinkData[int64] {
			path := filepath.Join(t.TempDir(), "out")
			return connectortest.SinkData[int64]{
				Sink:      func() weir.Sink[int64] { return weir.File[int64](path, nil) },
				Committed: func() ([]int64, error) { return readNumbers(path) },
			}
		},
		Record: func(n int64) int64 { return n },
	}
	// In a test of the connector's package:
	//
	//	func TestConformance(t *testing.T) { connectortest.RunSink(t, sink) }
	_ = sink
}

// readNumbers reads the numbers, one a line, of the file at path or of the
// part files of the directory at path.
func readNumbers(path string) ([]int64, error) {
	names := []string{path}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil // nothing written yet
	case err != nil:
		return nil, err
	case fi.IsDir():
		names, _ = filepath.Glob(filepath.Join(path, "part-*"))
	}
	var out []int64
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			v, err := strconv.ParseInt(strings.TrimSuffix(line, "\n"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, v)
		}
	}
	return out, nil
}
