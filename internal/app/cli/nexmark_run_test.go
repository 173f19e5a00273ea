package cli

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestNexmarkRunFlags: mistakes are reported naming the flag.
func TestNexmarkRunFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--query is required"},
		{[]string{"--query", "q6"}, "invalid --query q6: its reference SQL needs an OVER window"},
		{[]string{"--query", "q99"}, `invalid --query "q99"`},
		{[]string{"--query", "q0", "--events", "-1"}, "invalid --events -1"},
		{[]string{"--query", "q0", "--parallelism", "0"}, "invalid --parallelism 0"},
		{[]string{"--query", "q0", "--input", "x.jsonl", "--events", "5"}, "--input reads events from files"},
		{[]string{"--query", "q0", "--checkpoint-interval", "1s"}, "--checkpoint-interval needs --checkpoint-dir"},
		{[]string{"--query", "q0", "--restore", "latest"}, "--restore latest needs --checkpoint-dir"},
		{[]string{"--query", "q0", "--on-error", "ignore"}, `invalid --on-error "ignore"`},
		{[]string{"--query", "q0", "--on-error", "dead-letter"}, "--on-error dead-letter needs --dead-letters"},
		{[]string{"--query", "q0", "--side-input", "s.csv"}, "--side-input is q13's side input"},
		{[]string{"--query", "q0", "--duration", "-1s"}, "invalid --duration -1s"},
		{[]string{"--query", "q0", "--append"}, "--append needs --out DIR or --dead-letters DIR"},
		{[]string{"--query", "q0", "--rate", "Inf"}, "invalid --rate +Inf: want a finite number"},
		{[]string{"--query", "q0", "--rate", "NaN"}, "invalid --rate NaN"},
		{[]string{"--query", "q0", "--kafka-topic", "t", "--seed", "3"}, "--kafka-topic reads events from Kafka"},
		{[]string{"--query", "q0", "--kafka-topic", "t", "--input", "x.jsonl"}, "--input and --kafka-topic both name"},
		{[]string{"--query", "q0", "--kafka-brokers", "h:1"}, "--kafka-brokers and --kafka-group need --kafka-topic"},
		{[]string{"--query", "q0", "--kafka-topic", ""}, "invalid --kafka-topic: the topic name is empty"},
		{[]string{"--query", "q0", "--kafka-topic", "t", "--kafka-brokers", "nohost"}, `Conn.Brokers[0] "nohost": want host:port`},
	} {
		_, _, err := execute(t, append([]string{"nexmark", "run"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("nexmark run %v: error %v, want it to say %q", c.args, err, c.want)
		}
	}
}

// TestNexmarkRunGenerated: a bounded run on the generator prints the
// summary with events/s per core and reads every event.
func TestNexmarkRunGenerated(t *testing.T) {
	stdout, stderr, err := execute(t, "nexmark", "run", "--query", "q2", "--events", "50000", "--parallelism", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := regexp.MustCompile(`^q2: 50000 events in [0-9.]+s: [0-9]+ events/s, [0-9]+ events/s per core \([0-9.]+ CPU s\), [0-9]+ rows, 0 checkpoints\n$`)
	if !want.MatchString(stdout) {
		t.Errorf("stdout %q does not match %v", stdout, want)
	}
	if !strings.Contains(stderr, "q2 (selection) on 50000 generated events (seed 0, tps 100000), parallelism 2") {
		t.Errorf("stderr does not say what runs:\n%s", stderr)
	}
}

// TestNexmarkRunFileOutAndDeadLetters: on a file with a malformed line,
// --on-error dead-letter writes that line with its error and origin to the
// dead-letter file and every bid to the output directory, exactly once.
func TestNexmarkRunFileOutAndDeadLetters(t *testing.T) {
	dir := t.TempDir()
	events, _, err := execute(t, "nexmark", "generate", "--events", "2000", "--tps", "1000")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(events, "\n")
	input := strings.Join(lines[:1000], "") + "{\"bid\": oops}\n" + strings.Join(lines[1000:], "")
	in := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	bids := strings.Count(events, `{"bid":`)
	out, dead := filepath.Join(dir, "out"), filepath.Join(dir, "dead")
	if _, stderr, err := execute(t, "nexmark", "run", "--query", "q0", "--input", in, "--out", out); err == nil ||
		!strings.Contains(err.Error(), `split "`+in+`" line 1001`) {
		t.Fatalf("with --on-error fail (the default): error %v, want it to name the file and line 1001\n%s", err, stderr)
	}
	os.RemoveAll(out)
	if _, stderr, err := execute(t, "nexmark", "run", "--query", "q0", "--input", in, "--out", out,
		"--on-error", "dead-letter", "--dead-letters", dead); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rows int
	parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if _, ok := row["op"]; ok || len(row) != 5 {
				t.Fatalf("%s: row %s: want q0's five columns and no op", p, sc.Text())
			}
			rows++
		}
		f.Close()
	}
	if rows != bids {
		t.Errorf("%d rows in %s, want one per bid: %d", rows, out, bids)
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
	if l.Operator != "decode" || l.Split != in || l.Line != 1001 || l.Record != `{"bid": oops}` || !strings.Contains(l.Error, "not a Nexmark event") {
		t.Errorf("dead letter %+v: want operator decode, split %s, line 1001, the line and its error", l, in)
	}
}

// writeEventsFile writes n generated events to a file in dir with extra
// appended, and returns its path and the number of bids.
func writeEventsFile(t *testing.T, dir string, n int, extra string) (string, int) {
	t.Helper()
	events, _, err := execute(t, "nexmark", "generate", "--events", strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(in, []byte(events+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return in, strings.Count(events, `{"bid":`)
}

// TestNexmarkRunBlankLinesAndBalance: blank lines (a trailing one too) are
// skipped and counted as filtered rather than failing the job, and the
// summary accounts for every line: skipped ones included.
func TestNexmarkRunBlankLinesAndBalance(t *testing.T) {
	in, bids := writeEventsFile(t, t.TempDir(), 200, "not json\n  \n{\"bid\": 1}\n\n")
	stdout, stderr, err := execute(t, "nexmark", "run", "--query", "q0", "--input", in, "--on-error", "skip")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "204 events in") || !strings.Contains(stdout, fmt.Sprintf(", %d rows,", bids)) {
		t.Errorf("stdout %q: want 204 lines read and %d rows", stdout, bids)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^  events +204 +204 +- +- +- +- +in = out \+ dropped$`),
		regexp.MustCompile(`(?m)^  skip blank lines +204 +202 +2 +- +- +- +in = out \+ dropped$`),
		regexp.MustCompile(`(?m)^  decode +202 +200 +- +- +2 +- +in = out \+ dropped$`),
		// The blank lines and the events q0 filters out (not bids).
		regexp.MustCompile(fmt.Sprintf(`(?m)^weir nexmark: dropped on the way: %d filtered, 0 dead-lettered, 2 skipped, 0 late$`, 2+200-bids)),
	} {
		if !want.MatchString(stderr) {
			t.Errorf("stderr does not match %v:\n%s", want, stderr)
		}
	}
	// Under the default policy the blank lines are no failure; the bad
	// line is, named as a line.
	_, _, err = execute(t, "nexmark", "run", "--query", "q0", "--input", in)
	if err == nil || !strings.Contains(err.Error(), "line 201") || !strings.Contains(err.Error(), "subtask 0 of 1") {
		t.Fatalf("with --on-error fail: %v, want the failure of line 201 (and of nothing blank)", err)
	}
	blankOnly, _ := writeEventsFile(t, t.TempDir(), 100, "\n")
	if _, stderr, err := execute(t, "nexmark", "run", "--query", "q0", "--input", blankOnly); err != nil {
		t.Fatalf("a trailing blank line: %v\n%s", err, stderr)
	}
}

// TestNexmarkRunRefusesEarlierOutput: --out and --dead-letters that hold
// an earlier run's output are refused, naming the directory, and --append
// adds to them.
func TestNexmarkRunRefusesEarlierOutput(t *testing.T) {
	dir := t.TempDir()
	in, bids := writeEventsFile(t, dir, 300, "oops\n")
	out, dead := filepath.Join(dir, "out"), filepath.Join(dir, "dead")
	args := []string{"nexmark", "run", "--query", "q0", "--input", in, "--out", out, "--on-error", "dead-letter", "--dead-letters", dead}
	if _, stderr, err := execute(t, args...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := func() int {
		n := 0
		parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
		for _, p := range parts {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			n += strings.Count(string(b), "\n")
		}
		return n
	}
	if got := rows(); got != bids {
		t.Fatalf("%d rows after one run, want %d", got, bids)
	}
	_, _, err := execute(t, args...)
	if err == nil || !strings.Contains(err.Error(), "output directory "+out+" already holds") {
		t.Fatalf("second run into %s: %v, want a refusal naming it", out, err)
	}
	if got := rows(); got != bids {
		t.Fatalf("%d rows after a refused run, want %d", got, bids)
	}
	os.RemoveAll(out)
	_, _, err = execute(t, args...)
	if err == nil || !strings.Contains(err.Error(), "dead letters: "+dead+" already holds") {
		t.Fatalf("second run into the dead letters %s: %v, want a refusal naming it", dead, err)
	}
	os.RemoveAll(out)
	if _, stderr, err := execute(t, append(args, "--append")...); err != nil {
		t.Fatalf("--append: %v\n%s", err, stderr)
	}
	if got := rows(); got != bids {
		t.Fatalf("%d rows after --append into an empty --out, want %d", got, bids)
	}
	if _, stderr, err := execute(t, append(args, "--append")...); err != nil {
		t.Fatalf("--append: %v\n%s", err, stderr)
	}
	if got := rows(); got != 2*bids {
		t.Fatalf("%d rows after appending a second run, want %d", got, 2*bids)
	}
}

// TestNexmarkRunDeadLetterKeepsBytes: a dead-lettered line that is not
// UTF-8 keeps its bytes (recordBase64), so that it can be replayed.
func TestNexmarkRunDeadLetterKeepsBytes(t *testing.T) {
	dir := t.TempDir()
	bad := "{\"bid\": \"caf\xe9\xff\"}"
	in, _ := writeEventsFile(t, dir, 50, bad+"\n")
	dead := filepath.Join(dir, "dead")
	if _, stderr, err := execute(t, "nexmark", "run", "--query", "q0", "--input", in, "--on-error", "dead-letter", "--dead-letters", dead); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	parts, _ := filepath.Glob(filepath.Join(dead, "part-*.jsonl"))
	if len(parts) != 1 {
		t.Fatalf("dead-letter part files %v, want one", parts)
	}
	data, err := os.ReadFile(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Line         int64
		Record       *string
		RecordBase64 string
	}
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(l.RecordBase64)
	if l.Line != 51 || l.Record != nil || err != nil || string(b) != bad {
		t.Fatalf("dead letter %s: want line 51 and the line's bytes in recordBase64", data)
	}
}

// TestNexmarkRunAllowNonRestoredState: restoring q5's checkpoint into q7
// fails naming the flag that allows it, and the flag makes it work.
func TestNexmarkRunAllowNonRestoredState(t *testing.T) {
	dir := t.TempDir()
	args := []string{"nexmark", "run", "--events", "2000", "--checkpoint-dir", dir}
	if _, stderr, err := execute(t, append(args, "--query", "q5")...); err != nil {
		t.Fatalf("q5: %v\n%s", err, stderr)
	}
	q7 := append(args, "--query", "q7", "--restore", "latest")
	_, _, err := execute(t, q7...)
	if err == nil || !strings.Contains(err.Error(), "--allow-non-restored-state") {
		t.Fatalf("q7 restoring q5's checkpoint: error %v, want one naming --allow-non-restored-state", err)
	}
	if _, stderr, err := execute(t, append(q7, "--allow-non-restored-state")...); err != nil {
		t.Fatalf("q7 --allow-non-restored-state: %v\n%s", err, stderr)
	}
}

// TestNexmarkRunRefusesRestoreWithOtherInput: a restore with another --seed
// (so other events) fails naming both values; it used to be accepted, and
// the restored positions then pointed into another stream.
func TestNexmarkRunRefusesRestoreWithOtherInput(t *testing.T) {
	dir := t.TempDir()
	args := []string{"nexmark", "run", "--query", "q1", "--events", "2000", "--checkpoint-dir", dir}
	if _, stderr, err := execute(t, append(args, "--seed", "1")...); err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr)
	}
	_, _, err := execute(t, append(args, "--seed", "2", "--restore", "latest")...)
	if err == nil || !strings.Contains(err.Error(), "taken with seed=1, the job runs with seed=2") {
		t.Fatalf("restore with --seed 2: %v; want an error naming seed=1 and seed=2", err)
	}
	if _, stderr, err := execute(t, append(args, "--seed", "1", "--restore", "latest")...); err != nil {
		t.Fatalf("restore with the same --seed: %v\n%s", err, stderr)
	}
}
