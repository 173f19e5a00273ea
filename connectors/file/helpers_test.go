package file

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// event is the record type of most tests.
type event struct {
	N    int       `json:"n"`
	User string    `json:"user,omitempty"`
	At   time.Time `json:"-"`
}

// numbers formats an event as its number alone, so outputs compare as
// lists of numbers.
func numbers() func(event) ([]byte, error) {
	return Lines(func(e event) string { return strconv.Itoa(e.N) })
}

func newSink(t *testing.T, cfg Config[event]) *Sink[event] {
	t.Helper()
	if cfg.Format == nil {
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
		out = append(out, fileLines(t, filepath.Join(dir, p))...)
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
