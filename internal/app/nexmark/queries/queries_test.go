package queries

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// references are the reference loops of the queries whose result does not
// depend on the wall clock.
var references = map[string]func([]nexmark.Event) []reference.Row{
	"q0": reference.Q0, "q1": reference.Q1, "q2": reference.Q2, "q3": reference.Q3, "q4": reference.Q4,
	"q5": reference.Q5, "q7": reference.Q7, "q8": reference.Q8, "q9": reference.Q9, "q10": reference.Q10,
	"q11": reference.Q11, "q14": reference.Q14, "q15": reference.Q15, "q16": reference.Q16,
	"q17": reference.Q17, "q18": reference.Q18, "q19": reference.Q19, "q20": reference.Q20,
	"q21": reference.Q21, "q22": reference.Q22,
	"q13": func(events []nexmark.Event) []reference.Row {
		// The default side input: keys 0 to 9 999, each with its own
		// number as the value.
		side := map[int64]string{}
		for k := range int64(10_000) {
			side[k] = strconv.FormatInt(k, 10)
		}
		return reference.Q13(events, side)
	},
}

func TestNames(t *testing.T) {
	seen := map[string]bool{}
	for _, q := range All() {
		if seen[q.Name] || q.Build == nil || q.Title == "" {
			t.Errorf("query %q: a duplicate, or no Build or Title", q.Name)
		}
		seen[q.Name] = true
		if got, ok := ByName(q.Name); !ok || got.Name != q.Name {
			t.Errorf("ByName(%q) = %v, %v", q.Name, got.Name, ok)
		}
	}
	if _, ok := ByName("q6"); ok {
		t.Error("q6 is listed")
	}
}

// TestStopAndRestoreExactlyOnce runs every query with checkpoints and its
// rows going to files, stops it with a savepoint part way, restores it at
// parallelism 2 and runs it to the end; the committed files then hold
// exactly the reference's rows (the changelog applied, for updating
// queries): nothing lost, nothing twice across the stop.
func TestStopAndRestoreExactlyOnce(t *testing.T) {
	n := int64(30_000)
	if jobtest.Reduced() {
		n = 10_000
	}
	for _, q := range All() {
		want, ok := references[q.Name]
		if !ok {
			continue
		}
		t.Run(q.Name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			events := jobtest.StopAndRestore(t, q, n, 1000, out)
			jobtest.CheckNet(t, committedRows(t, out), q.Updating, want(events))
		})
	}
}

// committedRows reads the visible part files under dir.
func committedRows(t *testing.T, dir string) []string {
	t.Helper()
	var rows []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			t.Errorf("%s: a hidden file is left behind", path)
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			rows = append(rows, sc.Text())
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
