package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliPipeline = `version: 1
inputs:
  nums:
    type: file
    path: IN
    schema: {n: int, word: string}
steps:
  - name: even
    filter: n % 2 == 0
  - name: shout
    map:
      word: upper(word)
outputs:
  out: {type: stdout}
tests:
  - name: evens shouted
    input:
      nums: [{n: 1, word: a}, {n: 2, word: b}]
    expect:
      out: [{n: 2, word: B}]
`

func writePipeline(t *testing.T, src string) (path, in string) {
	t.Helper()
	dir := t.TempDir()
	in = filepath.Join(dir, "in.jsonl")
	var b strings.Builder
	for i, w := range []string{"zero", "one", "two", "three", "four"} {
		b.WriteString(`{"n":` + string(rune('0'+i)) + `,"word":"` + w + `"}` + "\n")
	}
	b.WriteString("not json\n")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(src, "IN", in, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, in
}

// weir run runs a pipeline file: its stdout output on standard output,
// the description, the end line and the balance on standard error, and
// the --on-error flag overriding the file's policy.
func TestRunPipeline(t *testing.T) {
	path, _ := writePipeline(t, cliPipeline)
	_, stderr, err := execute(t, "run", path)
	if err == nil || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("weir run with a bad line and --on-error fail: error %v, want it to name line 6\n%s", err, stderr)
	}
	stdout, stderr, err := execute(t, "run", path, "--on-error", "skip", "--parallelism", "2")
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	want := []string{`{"n":0,"word":"ZERO"}`, `{"n":2,"word":"TWO"}`, `{"n":4,"word":"FOUR"}`}
	for _, w := range want {
		if !strings.Contains(stdout, w+"\n") {
			t.Errorf("stdout lacks %s:\n%s", w, stdout)
		}
	}
	if n := strings.Count(stdout, "\n"); n != 3 {
		t.Errorf("stdout has %d lines, want 3:\n%s", n, stdout)
	}
	for _, w := range []string{
		"weir run: pipeline " + path + ": inputs nums (file); steps even (filter), shout (map); outputs out (stdout); parallelism 2\n",
		"6 records read", ", 3 written\n",
		"records per operator", "dropped on the way: 2 filtered, 0 dead-lettered, 1 skipped, 0 late\n",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

func TestRunPipelineFlags(t *testing.T) {
	path, _ := writePipeline(t, cliPipeline)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "accepts 1 arg(s)"},
		{[]string{"run", path, "--on-error", "ignore"}, `invalid --on-error "ignore"`},
		{[]string{"run", path, "--on-error", "dead-letter"}, "--on-error dead-letter needs a dead-letter directory"},
		{[]string{"run", path, "--parallelism", "0"}, "invalid --parallelism 0"},
		{[]string{"run", path, "--restore", "latest"}, "--restore latest needs --checkpoint-dir DIR"},
		{[]string{"run", path, "--restarts", "3"}, "--restarts needs --checkpoint-dir DIR"},
		{[]string{"run", filepath.Join(t.TempDir(), "nope.yaml")}, "nope.yaml: cannot read the pipeline"},
	} {
		_, _, err := execute(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("weir %s: error %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// weir validate exits 0 on a valid file, and reports every mistake of a
// bad one with positions.
func TestValidatePipeline(t *testing.T) {
	path, _ := writePipeline(t, cliPipeline)
	stdout, _, err := execute(t, "validate", path)
	if err != nil || stdout != path+": valid: 1 input, 2 steps, 1 output, 1 test\n" {
		t.Fatalf("weir validate: %q, %v", stdout, err)
	}
	bad, _ := writePipeline(t, strings.Replace(strings.Replace(cliPipeline, "n % 2 == 0", "word + 1", 1), "type: stdout", "type: printer", 1))
	_, _, err = execute(t, "validate", bad)
	if err == nil {
		t.Fatal("weir validate accepted a bad file")
	}
	for _, w := range []string{bad + ":9:18: step \"even\": filter: invalid operation: + (mismatched types string and int)", bad + `:14:9: output "out": unknown type "printer"`, "2 errors"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

// weir test runs the file's cases: PASS, or FAIL with the difference and
// an error.
func TestTestPipeline(t *testing.T) {
	path, _ := writePipeline(t, cliPipeline)
	stdout, _, err := execute(t, "test", path)
	if err != nil || !strings.Contains(stdout, "PASS evens shouted\n") {
		t.Fatalf("weir test: %q, %v", stdout, err)
	}
	bad, _ := writePipeline(t, strings.Replace(cliPipeline, "word: B}", "word: b}", 1))
	stdout, _, err = execute(t, "test", bad)
	if err == nil || err.Error() != "1 of 1 test failed" {
		t.Fatalf("weir test of a failing case: error %v", err)
	}
	for _, w := range []string{"FAIL evens shouted", `output "out": missing {"n":2,"word":"b"}`, `output "out": unexpected {"n":2,"word":"B"}`} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	_, _, err = execute(t, "test", "../../../examples/pipelines/router.yaml")
	if err != nil {
		t.Errorf("weir test of the router example: %v", err)
	}
}

// weir schema prints the JSON Schema.
func TestSchemaCommand(t *testing.T) {
	stdout, _, err := execute(t, "schema")
	if err != nil || !strings.Contains(stdout, `"$schema": "https://json-schema.org/draft/2020-12/schema"`) {
		t.Fatalf("weir schema: %v\n%.200s", err, stdout)
	}
}

// weir run with --checkpoint-dir ends a bounded run with a checkpoint;
// --restore latest then carries on from it and writes nothing twice.
func TestRunPipelineRestore(t *testing.T) {
	src := strings.Replace(cliPipeline, "out: {type: stdout}", "out: {type: file, path: OUT}", 1)
	path, _ := writePipeline(t, src)
	dir := t.TempDir()
	out, chk := filepath.Join(dir, "out"), filepath.Join(dir, "chk")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "OUT", out, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		files, _ := filepath.Glob(filepath.Join(out, "part-*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			n += strings.Count(string(b), "\n")
		}
		return n
	}
	_, stderr, err := execute(t, "run", path, "--on-error", "skip", "--checkpoint-dir", chk, "--checkpoint-interval", "50ms")
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d records written, want 3\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "weir run: checkpoint ") {
		t.Errorf("stderr does not say what the run left in --checkpoint-dir:\n%s", stderr)
	}
	_, stderr, err = execute(t, "run", path, "--on-error", "skip", "--checkpoint-dir", chk, "--restore", "latest", "--parallelism", "2")
	if err != nil {
		t.Fatalf("weir run --restore latest: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "weir run: restoring from checkpoint") {
		t.Errorf("stderr does not name the checkpoint restored:\n%s", stderr)
	}
	if n := count(); n != 3 {
		t.Errorf("after the restore, %d records written, want the same 3\n%s", n, stderr)
	}
}

// weir test needs no environment for the inputs and outputs its cases
// replace.
func TestTestPipelineWithoutEnvironment(t *testing.T) {
	path, _ := writePipeline(t, strings.Replace(cliPipeline, "path: IN", "path: ${env:WEIR_TEST_SURELY_UNSET}/in.jsonl", 1))
	if _, _, err := execute(t, "validate", path); err == nil || !strings.Contains(err.Error(), "WEIR_TEST_SURELY_UNSET is not set") {
		t.Fatalf("weir validate: error %v, want the unset variable named", err)
	}
	stdout, _, err := execute(t, "test", path)
	if err != nil || !strings.Contains(stdout, "PASS evens shouted") {
		t.Fatalf("weir test: %q, %v", stdout, err)
	}
}
