package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Parse returns a Pipeline or Errors for any input, never panics, and
// every error it reports has a position inside the file or none.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/errors/*.yaml", "testdata/valid/*.yaml", "../examples/pipelines/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data, Options{LookupEnv: anyEnv, ReadFile: func(string) ([]byte, error) { return []byte("x"), nil }})
		if err == nil {
			if p == nil {
				t.Fatal("no pipeline and no error")
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %T %v, want Errors", err, err)
		}
		lines := len(splitLines(data))
		for _, e := range es {
			if e.Pos.Line < 0 || e.Pos.Line > lines+1 {
				t.Fatalf("error at line %d of a file of %d lines: %v", e.Pos.Line, lines, e)
			}
		}
	})
}

func splitLines(data []byte) []string {
	var lines []string
	start := 0
	for i, c := range data {
		if c == '\n' {
			lines = append(lines, string(data[start:i]))
			start = i + 1
		}
	}
	return append(lines, string(data[start:]))
}
