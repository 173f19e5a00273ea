package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// withBid writes 100 generated events with a bid at dateTime inserted after
// the 50th and returns the file and the events in it.
func withBid(t *testing.T, dateTime string) (string, []nexmark.Event) {
	t.Helper()
	gen, _, err := execute(t, "nexmark", "generate", "--events", "100")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(gen, "\n")
	bid := `{"bid":{"auction":1000,"bidder":1001,"price":5,"channel":"c","url":"u","dateTime":` + dateTime + `,"extra":""}}` + "\n"
	text := strings.Join(lines[:50], "") + bid + strings.Join(lines[50:], "")
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var events []nexmark.Event
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		var e nexmark.Event
		if err := e.UnmarshalJSON([]byte(l)); err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
		events = append(events, e)
	}
	return path, events
}

// rowsIn returns the rows the file sink wrote under dir.
func rowsIn(t *testing.T, dir string) []string {
	t.Helper()
	var rows []string
	parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			rows = append(rows, sc.Text())
		}
		f.Close()
	}
	return rows
}

// One bid stamped in seconds among events stamped in milliseconds made q5
// step through every 2 s window from 1970 to 2015 — minutes at 0 events,
// deaf to Ctrl-C. The file is read in one poll, so no watermark comes
// before the bid and it is not late: the rows are the reference's, which
// counts every bid.
func TestNexmarkRunBidStampedInSeconds(t *testing.T) {
	in, events := withBid(t, "1436918400")
	out := filepath.Join(t.TempDir(), "out")
	if _, stderr, err := execute(t, "nexmark", "run", "--query", "q5", "--input", in, "--out", out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	jobtest.Check(t, rowsIn(t, out), false, reference.Q5(events))
}

// A bid at the int64 minimum is a bad line of the events file, not a job
// without an event-time strategy: the dead letter names the source's
// operator, the line and the time, and the other bids' sessions are the
// reference's.
func TestNexmarkRunBidAtInt64Min(t *testing.T) {
	in, events := withBid(t, "-9223372036854775808")
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "out"), filepath.Join(dir, "dead")
	if _, stderr, err := execute(t, "nexmark", "run", "--query", "q11", "--input", in, "--out", out,
		"--on-error", "dead-letter", "--dead-letters", dead); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dead, "part-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("dead-letter part files %v, want one", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Operator, Split, Error string
		Line                   int64
		Record                 string
	}
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatalf("dead letters %q: %v", data, err)
	}
	if l.Operator != "events" || l.Split != in || l.Line != 51 || !strings.Contains(l.Record, `"dateTime":-9223372036854775808`) ||
		!strings.Contains(l.Error, "event time -9223372036854775808 ms") {
		t.Errorf("dead letter %+v: want operator events, split %s, line 51, the line and its time", l, in)
	}
	jobtest.Check(t, rowsIn(t, out), false, reference.Q11(append(events[:50:50], events[51:]...)))
}
