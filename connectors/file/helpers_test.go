package file

import (
	"context"
	"encoding/csv"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// event is the record type of most tests.
type event struct {
	N    int       `json:"n" parquet:"n" csv:"n"`
	User string    `json:"user,omitempty" parquet:"user" csv:"user"`
	At   time.Time `json:"-" parquet:"-" csv:"-"`
}

// sinkEncoding is a way the sink writes part files, and how to read them
// back.
type sinkEncoding struct {
	name string
	set  func(*Config[event]) // sets Format or Encoding, and Ext
}

// encodings are the part-file formats the crash tests run with; readers
// tell them by extension (partRecords).
func encodings(t *testing.T) []sinkEncoding {
	return []sinkEncoding{
		{"lines", func(c *Config[event]) { c.Format = numbers() }},
		{"CSV", func(c *Config[event]) {
			f, err := format.CSV[event](format.CSVConfig{})
			if err != nil {
				t.Fatal(err)
			}
			enc, err := CSV(f)
			if err != nil {
				t.Fatal(err)
			}
			c.Encoding, c.Ext = enc, ".csv"
		}},
		{"Parquet", func(c *Config[event]) {
			enc, err := Parquet[event]()
			if err != nil {
				t.Fatal(err)
			}
			c.Encoding, c.Ext = enc, ".parquet"
		}},
	}
}

// partRecords returns the records of a committed part file as numbers:
// the lines of a file of numbers, the first column of a CSV file after its
// header, the n column of a Parquet file.
func partRecords(t *testing.T, name string) []string {
	t.Helper()
	if ext := filepath.Ext(name); ext != ".csv" && ext != ".parquet" {
		return fileLines(t, name)
	}
	out, err := readPart(name)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readPart(name string) ([]string, error) {
	switch filepath.Ext(name) {
	case ".csv":
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(rows) < 2 || !slices.Equal(rows[0], []string{"n", "user"}) {
			return nil, fmt.Errorf("%s: rows %q, want the header n,user and at least one record", name, rows)
		}
		var out []string
		for _, r := range rows[1:] {
			out = append(out, r[0])
		}
		return out, nil
	case ".parquet":
		rows, err := parquet.ReadFile[event](name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("%s has no rows", name)
		}
		var out []string
		for _, r := range rows {
			out = append(out, strconv.Itoa(r.N))
		}
		return out, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
	return out, nil
}

// numbers formats an event as its number alone, so outputs compare as
// lists of numbers.
func numbers() func(event) ([]byte, error) {
	return Lines(func(e event) string { return strconv.Itoa(e.N) })
}

func newSink(t *testing.T, cfg Config[event]) *Sink[event] {
	t.Helper()
	if cfg.Format == nil && cfg.Encoding == nil {
		cfg.Format = numbers()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func openWriter(t *testing.T, s *Sink[event], subtask, parallelism int) *Writer[event] {
	t.Helper()
	w, err := s.OpenWriter(weir.SinkInfo{Name: "files", OperatorID: "op", Subtask: subtask, Parallelism: parallelism})
	if err != nil {
		t.Fatalf("Open subtask %d: %v", subtask, err)
	}
	return w
}

// closeWriter closes w at the end of the test; a test that simulates a
// crash simply does not call it.
func closeWriter(t *testing.T, w *Writer[event]) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func write(t *testing.T, w *Writer[event], from, to int) {
	t.Helper()
	for n := from; n < to; n++ {
		if err := w.Write(event{N: n}); err != nil {
			t.Fatalf("Write(%d): %v", n, err)
		}
	}
}

func prepare(t *testing.T, w *Writer[event], id int64) []byte {
	t.Helper()
	c, err := w.Prepare(id)
	if err != nil {
		t.Fatalf("Prepare(%d): %v", id, err)
	}
	return c
}

func commit(t *testing.T, w *Writer[event], cs ...[]byte) {
	t.Helper()
	if err := w.Commit(context.Background(), cs); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// visibleFiles returns the committed output: every file under dir whose
// path has no hidden segment, slash-separated and relative to dir.
func visibleFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	walk(t, dir, func(p string, hidden bool) {
		if !hidden {
			out = append(out, p)
		}
	})
	return out
}

// hiddenFiles returns the files under dir with a hidden segment.
func hiddenFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	walk(t, dir, func(p string, hidden bool) {
		if hidden {
			out = append(out, p)
		}
	})
	return out
}

func walk(t *testing.T, dir string, fn func(p string, hidden bool)) {
	t.Helper()
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		hidden := slices.ContainsFunc(strings.Split(p, "/"), func(s string) bool { return strings.HasPrefix(s, ".") })
		fn(p, hidden)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
}

// visibleLines returns every line of the committed output under dir,
// sorted, so a duplicate shows as a repeated line.
func visibleLines(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, p := range visibleFiles(t, dir) {
		out = append(out, partRecords(t, filepath.Join(dir, p))...)
	}
	slices.Sort(out)
	return out
}

func fileLines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline: %q", name, b)
	}
	return strings.Split(string(b[:len(b)-1]), "\n")
}

// nums returns the numbers [from, to) as sorted strings, as visibleLines
// gives them.
func nums(ranges ...[2]int) []string {
	var out []string
	for _, r := range ranges {
		for n := r[0]; n < r[1]; n++ {
			out = append(out, strconv.Itoa(n))
		}
	}
	slices.Sort(out)
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %d %q\nwant %d %q", what, len(got), got, len(want), want)
	}
}

func decoded(t *testing.T, c []byte) committableV1 {
	t.Helper()
	d, err := decodeCommittable(c)
	if err != nil {
		t.Fatalf("decode committable: %v", err)
	}
	return d
}
