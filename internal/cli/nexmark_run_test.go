package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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
	out, dead := filepath.Join(dir, "out"), filepath.Join(dir, "dead.jsonl")
	if _, stderr, err := execute(t, "nexmark", "run", "--query", "q0", "--input", in, "--out", out); err == nil ||
		!strings.Contains(err.Error(), `split "`+in+`" offset 1001`) {
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
	data, err := os.ReadFile(dead)
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Operator, Split, Error string
		Offset                 int64
		Record                 string
	}
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatalf("dead letters %q: %v", data, err)
	}
	if l.Operator != "decode" || l.Split != in || l.Offset != 1001 || l.Record != `{"bid": oops}` || !strings.Contains(l.Error, "not a Nexmark event") {
		t.Errorf("dead letter %+v: want operator decode, split %s, offset 1001, the line and its error", l, in)
	}
}
