package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// logRecords returns the JSON log records among the lines of stderr.
func logRecords(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func countMsg(recs []map[string]any, msg string) int {
	n := 0
	for _, r := range recs {
		if r["msg"] == msg {
			n++
		}
	}
	return n
}

// The run verbs log the job's events to standard error, in JSON with
// --log-format json, at the level --log-level sets; the rows and the
// summary stay alone on standard output.
func TestRunVerbsLog(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, err := execute(t, "nexmark", "run", "--query", "q5", "--events", "20000",
		"--checkpoint-dir", filepath.Join(dir, "chk"), "--checkpoint-interval", "20ms", "--checkpoint-writers", "3",
		"--log-level", "info", "--log-format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	recs := logRecords(t, stderr)
	for _, r := range recs {
		if r["msg"] == "job starting" && r["checkpoint_writers"] != float64(3) {
			t.Errorf("job starting with %v checkpoint writers, want --checkpoint-writers 3", r["checkpoint_writers"])
		}
	}
	for _, msg := range []string{"job starting", "checkpoint completed", "job finished"} {
		if countMsg(recs, msg) == 0 {
			t.Errorf("no %q in the log:\n%s", msg, stderr)
		}
	}
	if strings.Contains(stdout, `"msg"`) || !strings.HasPrefix(stdout, "q5: 20000 events") {
		t.Errorf("stdout %q: want the summary alone", stdout)
	}
	_, stderr, err = execute(t, "demo", "--no-server", "--views", "2000", "--rate", "0", "--duration", "0", "--parallelism", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "level=INFO") {
		t.Errorf("the default level logs info records:\n%s", stderr)
	}
}

// With checkpoints a failing job restarts itself by default, reports each
// restart with its cause, and fails once the restarts in a row run out;
// --restarts 0 turns it off.
func TestRunVerbsRestartByDefault(t *testing.T) {
	dir := t.TempDir()
	events, _, err := execute(t, "nexmark", "generate", "--events", "200", "--tps", "1000")
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(in, []byte(events+"{\"bid\": oops}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"nexmark", "run", "--query", "q0", "--input", in, "--checkpoint-dir", filepath.Join(dir, "chk"),
		"--restart-backoff", "1ms", "--restart-max-backoff", "1ms", "--log-format", "json"}
	_, stderr, err := execute(t, args...)
	if err == nil || !strings.Contains(err.Error(), "10 restarts in a row") || !strings.Contains(err.Error(), "line 201") {
		t.Fatalf("error %v: want the bad line's after 10 restarts\n%s", err, stderr)
	}
	recs := logRecords(t, stderr)
	if n := countMsg(recs, "job restarting"); n != 10 {
		t.Fatalf("%d restarts logged, want 10:\n%s", n, stderr)
	}
	for _, r := range recs {
		if r["msg"] == "job restarting" && !strings.Contains(r["cause"].(string), "line 201") {
			t.Fatalf("restart logged without its cause: %v", r)
		}
	}
	_, stderr, err = execute(t, append(args, "--restarts", "0")...)
	if err == nil || strings.Contains(err.Error(), "restarts in a row") || countMsg(logRecords(t, stderr), "job restarting") != 0 {
		t.Fatalf("--restarts 0: error %v\n%s", err, stderr)
	}
}

func TestJobFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml"}, `invalid --log-format "xml"`},
		{[]string{"--log-level", "loud"}, `invalid --log-level "loud"`},
		{[]string{"--restarts", "-1"}, "invalid --restarts -1"},
		{[]string{"--restarts", "3"}, "--restarts needs --checkpoints DIR"},
		{[]string{"--restart-backoff", "2s", "--restart-max-backoff", "1s"}, "invalid --restart-max-backoff 1s"},
		{[]string{"--checkpoint-writers", "0", "--checkpoints", "x"}, "invalid --checkpoint-writers 0"},
		{[]string{"--checkpoint-writers", "2"}, "--checkpoint-writers needs --checkpoints DIR"},
		{[]string{"--state", "rocksdb"}, `invalid --state "rocksdb": want memory, bytes or pebble`},
		{[]string{"--state-dir", "x"}, "--state-dir needs --state pebble"},
		{[]string{"--state", "bytes", "--state-memory", "100"}, "--state-memory needs --state pebble"},
		{[]string{"--state", "pebble", "--state-memory", "3"}, "invalid --state-memory 3"},
	} {
		_, _, err := execute(t, append([]string{"demo", "--no-server", "--views", "10", "--duration", "0"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// --state picks the job's state backend: the run verbs give the same
// results on each, the job's log names it, and --state pebble keeps its
// working directories under --state-dir until the job ends.
func TestRunVerbsStateBackend(t *testing.T) {
	var want string
	for _, state := range []string{"memory", "bytes", "pebble"} {
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		args := []string{"nexmark", "run", "--query", "q5", "--events", "5000", "--parallelism", "2", "--out", out,
			"--state", state, "--log-level", "info", "--log-format", "json"}
		if state == "pebble" {
			args = append(args, "--state-dir", filepath.Join(dir, "state"), "--state-memory", "8")
		}
		_, stderr, err := execute(t, args...)
		if err != nil {
			t.Fatalf("--state %s: %v\n%s", state, err, stderr)
		}
		for _, r := range logRecords(t, stderr) {
			if r["msg"] == "job starting" && r["state_backend"] != state {
				t.Errorf("--state %s: the job started on %v", state, r["state_backend"])
			}
		}
		rows := readRows(t, out)
		if len(rows) == 0 {
			t.Fatalf("--state %s: no rows in %s", state, out)
		}
		if want == "" {
			want = rows
		} else if rows != want {
			t.Errorf("--state %s: rows differ from --state memory's", state)
		}
		if state == "pebble" {
			if es, err := os.ReadDir(filepath.Join(dir, "state")); err != nil || len(es) != 0 {
				t.Errorf("--state-dir after the job: %d entries, %v; want it empty", len(es), err)
			}
		}
	}
}

// readRows returns the sorted lines of the part files under dir.
func readRows(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// A failed job's error is the verb's last line; the text log does not
// repeat it, the JSON log keeps it for a collector.
func TestRunVerbsPrintFailureOnce(t *testing.T) {
	in := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(in, []byte("{\"bid\": oops}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"nexmark", "run", "--query", "q0", "--input", in}
	_, stderr, err := execute(t, args...)
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("error %v: want line 1's", err)
	}
	if strings.Contains(stderr, "line 1") {
		t.Errorf("the text log repeats the failure:\n%s", stderr)
	}
	_, stderr, _ = execute(t, append(args, "--log-format", "json")...)
	if n := countMsg(logRecords(t, stderr), "job failed"); n != 1 {
		t.Errorf("%d %q records in the JSON log, want 1:\n%s", n, "job failed", stderr)
	}
}

// --state-memory sets the Go memory limit to the state budget for the run
// and puts the earlier one back, unless GOMEMLIMIT is set or the flag is
// not given.
func TestStateMemorySetsGoMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    bool
		args   []string
		wantMB int64 // 0: the limit is not touched
	}{
		{"given", false, []string{"--state", "pebble", "--state-memory", "8"}, 8},
		{"GOMEMLIMIT set", true, []string{"--state", "pebble", "--state-memory", "8"}, 0},
		{"not given", false, []string{"--state", "pebble"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []int64
			defer func(s func(int64) int64, l func(string) (string, bool)) { setMemoryLimit, lookupEnv = s, l }(setMemoryLimit, lookupEnv)
			setMemoryLimit = func(n int64) int64 { calls = append(calls, n); return -7 }
			lookupEnv = func(k string) (string, bool) {
				if k == "GOMEMLIMIT" && tc.env {
					return "1GiB", true
				}
				return "", false
			}
			args := append([]string{"nexmark", "run", "--query", "q1", "--events", "100", "--state-dir", t.TempDir()}, tc.args...)
			if _, stderr, err := execute(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			want := []int64(nil)
			if tc.wantMB > 0 {
				want = []int64{tc.wantMB << 20, -7}
			}
			if !slices.Equal(calls, want) {
				t.Errorf("memory limits set: %v, want %v", calls, want)
			}
		})
	}
}
