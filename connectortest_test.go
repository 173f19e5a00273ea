package weir_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectortest"
)

// isBad reports whether record seq of n is one of the bad ones: every
// step-th, up to bad of them.
func isBad(seq, n int64, bad int) bool {
	if bad == 0 {
		return false
	}
	step := n / int64(bad)
	return seq%step == step-1 && seq/step < int64(bad)
}

// The generator source passes the conformance suite: bounded, no
// discovery; its bad records are negative numbers.
func TestGeneratorConformance(t *testing.T) {
	connectortest.RunSource(t, connectortest.Source[int64]{
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[int64] {
			n := int64(in.Records + in.Bad)
			rec := func(seq int64) int64 {
				if isBad(seq, n, in.Bad) {
					return -seq - 1
				}
				return seq
			}
			d := connectortest.SourceData[int64]{Source: func() weir.Source[int64] {
				return weir.Generator(weir.GeneratorSpec{Splits: in.Splits, Count: n}, rec)
			}}
			for seq := range n {
				if v := rec(seq); v < 0 {
					d.Bad = append(d.Bad, v)
				} else {
					d.Good = append(d.Good, v)
				}
			}
			return d
		},
		Decode: func(v int64) error {
			if v < 0 {
				return fmt.Errorf("record %d is negative", v)
			}
			return nil
		},
	})
}

// The lines source passes the conformance suite: one file a split,
// bounded, no discovery; its bad records are lines that are not numbers.
func TestLinesConformance(t *testing.T) {
	connectortest.RunSource(t, connectortest.Source[string]{
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[string] {
			dir := t.TempDir()
			n := int64(in.Records + in.Bad)
			files := make([][]string, in.Splits)
			var d connectortest.SourceData[string]
			for seq := range n {
				line := strconv.FormatInt(seq, 10)
				if isBad(seq, n, in.Bad) {
					line = "not a number " + line
					d.Bad = append(d.Bad, line)
				} else {
					d.Good = append(d.Good, line)
				}
				files[seq%int64(in.Splits)] = append(files[seq%int64(in.Splits)], line)
			}
			for i, lines := range files {
				name := filepath.Join(dir, fmt.Sprintf("part-%02d.txt", i))
				if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d.Source = func() weir.Source[string] { return weir.Lines(filepath.Join(dir, "*.txt")) }
			return d
		},
		Decode: func(line string) error {
			_, err := strconv.ParseInt(line, 10, 64)
			return err
		},
	})
}

// The plain file sink passes the conformance suite as an at-least-once
// sink. It cannot change parallelism: with one subtask it writes one file,
// with more a directory of them.
func TestFileSinkConformance(t *testing.T) {
	connectortest.RunSink(t, connectortest.Sink[int64]{
		Capabilities: connectortest.SinkCapabilities{ExactlyOnce: false, Rescale: false},
		Setup: func(t *testing.T) connectortest.SinkData[int64] {
			path := filepath.Join(t.TempDir(), "out")
			return connectortest.SinkData[int64]{
				Sink:      func() weir.Sink[int64] { return weir.File[int64](path, nil) },
				Committed: func() ([]int64, error) { return readNumbers(path) },
			}
		},
		Record: func(n int64) int64 { return n },
	})
}

// readNumbers reads the lines of the file at path, or of the files in the
// directory at path, as numbers.
func readNumbers(path string) ([]int64, error) {
	names := []string{path}
	if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	} else if fi.IsDir() {
		if names, err = filepath.Glob(filepath.Join(path, "part-*")); err != nil {
			return nil, err
		}
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
