package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/app/nab"
	"github.com/weirstream/weir/normal"
)

var nabCorpus = filepath.Join("..", "..", "..", "testdata", "nab")

// TestNormalScore scores a NAB series whose rows are out of time order and
// checks the output row by row: input order, timestamps and values as read,
// and the scores of one model fed the rows in order.
func TestNormalScore(t *testing.T) {
	in := filepath.Join(nabCorpus, "data", "realKnownCause", "machine_temperature_system_failure.csv")
	out := filepath.Join(t.TempDir(), "scored.csv")
	if _, _, err := execute(t, "normal", "score", "--input", in, "--output", out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	series, err := nab.ReadSeries(f, in)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	inLines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if lines[0] != "timestamp,value,anomaly_score" || len(lines) != series.Len()+1 {
		t.Fatalf("got header %q and %d rows, want timestamp,value,anomaly_score and %d rows", lines[0], len(lines)-1, series.Len())
	}
	m, err := normal.New(normal.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for i, line := range lines[1:] {
		want := m.Score(series.Times[i], series.Values[i])
		cut := strings.LastIndexByte(line, ',')
		if line[:cut] != strings.TrimSpace(inLines[i+1]) {
			t.Fatalf("row %d: %q does not start with input row %q", i+1, line, inLines[i+1])
		}
		got, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil || got != want {
			t.Fatalf("row %d: score %q, want %v", i+1, line[cut+1:], want)
		}
		if got >= normal.Threshold {
			alerts++
		}
	}
	if alerts == 0 {
		t.Error("no score at or above the threshold on a series with four labelled failures")
	}
}

func TestNormalScoreErrors(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ csv, want string }{
		"value":     {"timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,abc\n", ":3: value \"abc\" is not a number"},
		"timestamp": {"timestamp,value\n2020-01-01 00:00:00,1\nyesterday,2\n", ":3: timestamp \"yesterday\""},
		"fields":    {"2020-01-01 00:00:00,1\n2020-01-01 00:05:00\n", ":2: want timestamp,value, got 1 field(s)"},
		"infinite":  {"timestamp,value\n2020-01-01 00:00:00,1e999\n", ":2: value \"1e999\" is not a finite number"},
	} {
		path := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(path, []byte(c.csv), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := execute(t, "normal", "score", "--input", path)
		if err == nil || !strings.Contains(err.Error(), path+c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, path+c.want)
		}
	}
	if _, _, err := execute(t, "normal", "score"); err == nil || !strings.Contains(err.Error(), "--input is required") {
		t.Errorf("no --input: error %v", err)
	}
}

func TestNormalNAB(t *testing.T) {
	stdout, _, err := execute(t, "normal", "nab", "--corpus", nabCorpus)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"58 series, 365558 points", "| standard |", "| reward_low_FP_rate |", "| reward_low_FN_rate |"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if _, _, err := execute(t, "normal", "nab", "--corpus", t.TempDir()); err == nil || !strings.Contains(err.Error(), "combined_windows.json") {
		t.Errorf("empty corpus: error %v", err)
	}
}
