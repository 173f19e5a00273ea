package weir_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

type reading struct {
	Sensor string `json:"sensor"`
	Value  int    `json:"value"`
}

// writeReadings writes n JSON lines, every fifth one malformed.
func writeReadings(t *testing.T, dir string, n int) (string, int) {
	t.Helper()
	var b strings.Builder
	bad := 0
	for i := range n {
		if i%5 == 4 {
			fmt.Fprintf(&b, "{not json %d\n", i)
			bad++
			continue
		}
		fmt.Fprintf(&b, `{"sensor":"s%d","value":%d}`+"\n", i%3, i)
	}
	path := filepath.Join(dir, "readings.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, bad
}

func parse(s string) (reading, error) {
	var r reading
	err := json.Unmarshal([]byte(s), &r)
	return r, err
}

// With the dead-letter policy, malformed records go to the dead-letter file
// with their error, origin and operator, the job goes on, and the counts
// balance: what the source read equals what the sink wrote plus what was
// filtered and dead-lettered.
func TestDeadLettersAndBalance(t *testing.T) {
	dir := t.TempDir()
	in, bad := writeReadings(t, dir, 100)
	dlq := filepath.Join(dir, "dead")
	env := weir.New(weir.Parallelism(2), weir.DeadLetters(dlq))
	lines := weir.From(env, weir.Lines(in)).Name("readings")
	parsed := weir.TryMap(lines, parse).Name("parse").OnError(weir.DeadLetter)
	kept := parsed.Filter(func(r reading) bool { return r.Value%2 == 0 }).Name("even")
	got := weir.Collect(kept)
	run(t, env)

	var read, written, filtered, dead, skipped, late int64
	for _, m := range env.Metrics() {
		switch m.Operator {
		case "readings":
			read += m.Out
		case "collect":
			written += m.Out
		}
		filtered += m.Filtered
		dead += m.DeadLettered
		skipped += m.Skipped
		late += m.Late
	}
	if read != 100 || dead != int64(bad) || written != int64(len(got.Values())) {
		t.Fatalf("read %d, dead-lettered %d (want %d), written %d (collected %d)", read, dead, bad, written, len(got.Values()))
	}
	if read != written+filtered+dead+skipped+late {
		t.Fatalf("counts do not balance: read %d != written %d + filtered %d + dead %d + skipped %d + late %d",
			read, written, filtered, dead, skipped, late)
	}
	letters := readDeadLetters(t, dlq)
	if len(letters) != bad {
		t.Fatalf("%d dead letters, want %d", len(letters), bad)
	}
	var first struct {
		Operator, Source, Split, Error, Record string
		Line                                   int64
		Offset                                 *int64
	}
	if err := json.Unmarshal([]byte(letters[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Operator != "parse" || first.Source != "readings" || first.Split != in || first.Line%5 != 0 ||
		first.Offset != nil || !strings.HasPrefix(first.Record, "{not json") || first.Error == "" {
		t.Fatalf("dead letter %+v does not name the operator, origin (a line, not an offset), error and record", first)
	}
}

// readDeadLetters returns the committed dead letters in dir, those of every
// visible part file, and fails the test if a hidden file is left.
func readDeadLetters(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			out = append(out, l)
		}
	}
	return out
}

// With the skip policy failed records are counted and dropped; with the
// default policy the first one fails the job.
func TestSkipAndFailPolicies(t *testing.T) {
	dir := t.TempDir()
	in, bad := writeReadings(t, dir, 50)
	env := weir.New(weir.OnError(weir.Skip))
	got := weir.Collect(weir.TryMap(weir.From(env, weir.Lines(in)), parse))
	run(t, env)
	var skipped int64
	for _, m := range env.Metrics() {
		skipped += m.Skipped
	}
	if skipped != int64(bad) || len(got.Values()) != 50-bad {
		t.Fatalf("skipped %d, collected %d; want %d and %d", skipped, len(got.Values()), bad, 50-bad)
	}

	env = weir.New()
	weir.Collect(weir.TryMap(weir.From(env, weir.Lines(in)), parse))
	var oe *weir.OperatorError
	if err := env.Run(context.Background()); !errors.As(err, &oe) || oe.Origin == nil || oe.Origin.Offset != 5 {
		t.Fatalf("Run = %v, want the failure of line 5", err)
	}
}

// Asking for dead letters without an output is a mistake found before the
// job runs.
func TestDeadLetterPolicyNeedsOutput(t *testing.T) {
	env := weir.New(weir.OnError(weir.DeadLetter))
	weir.Collect(weir.From(env, weir.Slice(1)))
	if err := env.Validate(); err == nil || !strings.Contains(err.Error(), "DeadLetters") {
		t.Fatalf("Validate = %v", err)
	}
	for _, s := range []string{"fail", "dead-letter", "skip"} {
		if p, err := weir.ParseErrorPolicy(s); err != nil || p.String() != s {
			t.Errorf("ParseErrorPolicy(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := weir.ParseErrorPolicy("ignore"); err == nil {
		t.Error("ParseErrorPolicy accepted ignore")
	}
}
