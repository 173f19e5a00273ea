package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// scriptPipeline is a file input, a script step on it and a file output,
// dead letters beside it. STEP is replaced by the script's fields.
const scriptPipeline = `version: 1
inputs:
  in:
    type: file
    path: in.jsonl
steps:
  - name: js
    on_error: dead-letter
    script:
STEP
outputs:
  out: {type: file, path: out}
dead_letter:
  path: dead
`

// scriptDir writes a pipeline file with step's fields, the input lines
// and any other files into a new directory, and parses it.
func scriptDir(t *testing.T, step string, lines []string, files map[string]string) (string, *pipeline.Pipeline) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("in.jsonl", strings.Join(lines, "\n")+"\n")
	for name, body := range files {
		write(name, body)
	}
	write("p.yaml", strings.Replace(scriptPipeline, "STEP", indent(step, "      "), 1))
	p, err := pipeline.ParseFile(filepath.Join(dir, "p.yaml"), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return dir, p
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = by + lines[i]
	}
	return strings.Join(lines, "\n")
}

// runDir runs a pipeline of scriptDir from its directory's point of
// view: its relative paths are relative to dir.
func runDir(t *testing.T, dir string, p *pipeline.Pipeline, opts ...weir.Option) error {
	t.Helper()
	fixPaths(p, dir)
	env := weir.New(append(p.EnvOptions(), opts...)...)
	if _, err := p.Build(env); err != nil {
		t.Fatal(err)
	}
	return env.Run(context.Background())
}

// fixPaths makes a pipeline's relative input, output and dead-letter
// paths relative to dir.
func fixPaths(p *pipeline.Pipeline, dir string) {
	for _, in := range p.Inputs {
		if in.File != nil {
			for i, path := range in.File.Paths {
				if !filepath.IsAbs(path) {
					in.File.Paths[i] = filepath.Join(dir, path)
				}
			}
		}
	}
	for _, o := range p.Outputs {
		if o.File != nil && !filepath.IsAbs(o.File.Path) {
			o.File.Path = filepath.Join(dir, o.File.Path)
		}
	}
	if p.DeadLetter != nil && !filepath.IsAbs(p.DeadLetter.Path) {
		p.DeadLetter.Path = filepath.Join(dir, p.DeadLetter.Path)
	}
}

// deadCauses returns the causes of the dead letters under dir.
func deadCauses(t *testing.T, dir string) []string {
	t.Helper()
	var causes []string
	for _, line := range committed(t, dir) {
		var dl struct{ Error string }
		if err := json.Unmarshal([]byte(line), &dl); err != nil {
			t.Fatalf("dead letter %q: %v", line, err)
		}
		causes = append(causes, dl.Error)
	}
	return causes
}

func TestScriptResults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		in     []string
		want   []string
		dead   []string // substrings of the causes, in order of the input
	}{
		{
			name:   "one record, changed",
			script: "function process(r) { r.n = r.n * 2; r.tag = 'x'; return r }",
			in:     []string{`{"n":1}`, `{"n":2.5}`},
			want:   []string{`{"n":2,"tag":"x"}`, `{"n":5,"tag":"x"}`},
		},
		{
			name:   "drop with null and undefined",
			script: "function process(r) { if (r.n == 1) return null; if (r.n == 2) return; return {m: r.n} }",
			in:     []string{`{"n":1}`, `{"n":2}`, `{"n":3}`},
			want:   []string{`{"m":3}`},
		},
		{
			name:   "many",
			script: "function process(r) { return r.items.map(function (x, i) { return {id: r.id, i: i, x: x} }) }",
			in:     []string{`{"id":7,"items":["a","b"]}`, `{"id":8,"items":[]}`},
			want:   []string{`{"i":0,"id":7,"x":"a"}`, `{"i":1,"id":7,"x":"b"}`},
		},
		{
			name:   "nested values and dates",
			script: "function process(r) { return {d: new Date(r.ms), o: {a: [1, {b: true}]}, s: JSON.stringify(r)} }",
			in:     []string{`{"ms":0,"z":1,"a":2}`},
			want:   []string{`{"d":"1970-01-01T00:00:00Z","o":{"a":[1,{"b":true}]},"s":"{\"a\":2,\"ms\":0,\"z\":1}"}`},
		},
		{
			name:   "wrong shapes",
			script: "function process(r) { return [42, 'text', [{a: 1}, 2], [[{}]], function () {}, {f: function () {}}, {n: NaN}][r.n] }",
			in:     []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`, `{"n":5}`, `{"n":6}`},
			dead: []string{
				`step "js": script: process returned int 42; want an object, an array of objects, or null or undefined`,
				`process returned string "text"; want an object`,
				`process returned an array whose element 1 is int 2; want objects only`,
				`process returned an array whose element 0 is an array; want objects only`,
				`process returned a function; want an object`,
				`process returned an object whose field f is a function, which a record cannot hold`,
				`process returned an object whose field n is NaN, which JSON cannot hold`,
			},
		},
		{
			name:   "throws",
			script: "function process(r) {\n  if (r.n > 1) {\n    throw new Error('too big: ' + r.n)\n  }\n  return r.x.y\n}",
			in:     []string{`{"n":2}`, `{"n":1}`},
			dead: []string{
				`step "js": script: process threw at inline:3:11: Error: too big: 2`,
				`process threw at inline:5:14: TypeError: Cannot read property 'y' of undefined`,
			},
		},
		{
			name:   "endless loop",
			script: "function process(r) {\n  if (r.n == 1) { for (;;) {} }\n  return r\n}\ntimeout: 20ms",
			in:     []string{`{"n":1}`, `{"n":2}`},
			want:   []string{`{"n":2}`},
			dead:   []string{`step "js": script: process ran longer than its time limit of 20ms and was interrupted at inline:2:`},
		},
		{
			name:   "state without a key",
			script: "function process(r) { state.put('a', 1); return r }",
			in:     []string{`{"n":1}`},
			dead:   []string{`process threw at inline:1:23: ReferenceError: state is not defined (state is there only in a step with a key: key: EXPR)`},
		},
		{
			name:   "an object that holds itself",
			script: "function process(r) { r.self = r; return r }",
			in:     []string{`{"n":1}`},
			dead:   []string{`process returned an object nested more than 64 deep at .self.self`},
		},
		{
			name:   "too many records",
			script: "function process(r) { var out = []; for (var i = 0; i < 11; i++) out.push({i: i}); return out }\nmax_output: 10",
			in:     []string{`{"n":1}`},
			dead:   []string{`process returned 11 records; at most 10 (max_output)`},
		},
		{
			name:   "too many bytes",
			script: "function process(r) { return {s: 'x'.repeat(2000)} }\nmax_output_bytes: 1000",
			in:     []string{`{"n":1}`},
			dead:   []string{`process returned more than the output limit (max_output_bytes) at s`},
		},
		{
			name:   "a string too large to make",
			script: "function process(r) { return {s: 'x'.repeat(1e9)} }",
			in:     []string{`{"n":1}`},
			dead:   []string{`RangeError: repeat: the result would exceed 16777216 characters`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script, extra, _ := strings.Cut(tc.script, "\n"+"timeout")
			if extra != "" {
				extra = "timeout" + extra
			}
			for _, f := range []string{"max_output_bytes", "max_output"} {
				if s, e, ok := strings.Cut(script, "\n"+f); ok {
					script, extra = s, f+e
				}
			}
			step := "source: " + jsonString(script)
			if extra == "" {
				// More than the default: a machine busy with other work
				// can stall a call for a second.
				extra = "timeout: 10s"
			}
			if extra != "" {
				step += "\n" + extra
			}
			dir, p := scriptDir(t, step, tc.in, nil)
			if err := runDir(t, dir, p); err != nil {
				t.Fatal(err)
			}
			got := committed(t, filepath.Join(dir, "out"))
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
				t.Errorf("output\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			causes := deadCauses(t, filepath.Join(dir, "dead"))
			if len(causes) != len(tc.dead) {
				t.Fatalf("dead letters %q, want %d", causes, len(tc.dead))
			}
			for _, d := range tc.dead {
				if !slices.ContainsFunc(causes, func(c string) bool { return strings.Contains(c, d) }) {
					t.Errorf("no dead letter's cause contains %q: %q", d, causes)
				}
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A script sees the ECMAScript built-ins and console.log, and nothing
// that reaches out of the process.
func TestScriptSandbox(t *testing.T) {
	const script = `function process(r) {
  var names = ["require", "fetch", "process", "setTimeout", "setInterval", "setImmediate",
    "XMLHttpRequest", "module", "exports", "Deno", "Bun", "os", "fs", "WebSocket", "load", "print", "state"];
  var out = {};
  for (var i = 0; i < names.length; i++) {
    out[names[i]] = typeof globalThis[names[i]];
  }
  out.process = typeof process;
  out.json = typeof JSON.parse;
  out.math = typeof Math.max;
  out.date = typeof Date.now;
  out.console = typeof console.log;
  console.log("hello", {n: r.n});
  return out;
}`
	var logs bytes.Buffer
	dir, p := scriptDir(t, "source: "+jsonString(script), []string{`{"n":1}`}, nil)
	fixPaths(p, dir)
	env := weir.New(p.EnvOptions()...)
	if _, err := p.Build(env, pipeline.Logger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))); err != nil {
		t.Fatal(err)
	}
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := committed(t, filepath.Join(dir, "out"))
	const want = `{"Bun":"undefined","Deno":"undefined","WebSocket":"undefined","XMLHttpRequest":"undefined","console":"function","date":"function","exports":"undefined","fetch":"undefined","fs":"undefined","json":"function","load":"undefined","math":"function","module":"undefined","os":"undefined","print":"undefined","process":"function","require":"undefined","setImmediate":"undefined","setInterval":"undefined","setTimeout":"undefined","state":"undefined"}`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %q\nwant %s", got, want)
	}
	if !strings.Contains(logs.String(), `msg=console.log step=js subtask=0 line="hello {\"n\":1}"`) {
		t.Errorf("console.log did not reach the log: %s", logs.String())
	}
}

// A script that does not compile, lacks process or cannot be read is an
// error of the pipeline file, at the YAML node, with the script's own
// line and column.
func TestScriptValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		step  string
		files map[string]string
		want  string
	}{
		{"syntax", "source: |\n  function process(r) {\n    return r +* 1\n  }", nil,
			`p.yaml:10:15: step "js": script: inline:2:13: SyntaxError: Unexpected token *`},
		{"syntax in a file", "file: bad.js", map[string]string{"bad.js": "function process(r) {\n\n  let let = 1\n}\n"},
			`p.yaml:10:13: step "js": script: bad.js:3:7: SyntaxError:`},
		{"no process", "source: 'function proc(r) { return r }'", nil,
			`p.yaml:10:15: step "js": script: inline: the script does not define process; it must define function process(record)`},
		{"process not a function", "source: 'var process = 3'", nil,
			`step "js": script: inline: the script defines process as int 3; it must define function process(record)`},
		{"top level throws", "source: |\n  var x = null;\n  x.y = 1;\n  function process(r) { return r }", nil,
			`p.yaml:10:15: step "js": script: the script's top level threw at inline:2:3: TypeError: Cannot convert undefined or null to object`},
		{"top level loops", "source: 'while (true) {}'\ntimeout: 10ms", nil,
			`step "js": script: the script's top level ran longer than its time limit of 10ms and was interrupted at inline:1:`},
		{"absolute path", "file: /etc/passwd", nil,
			`p.yaml:10:13: step "js": script: file "/etc/passwd": an absolute path; a script file is named relative to the pipeline file's directory`},
		{"path out of the directory", "file: lib/../../x.js", nil,
			`step "js": script: file "lib/../../x.js": the path leaves the pipeline file's directory (..)`},
		{"missing file", "file: none.js", nil,
			`p.yaml:10:13: step "js": script: file "none.js": no such file or directory`},
		{"both", "file: a.js\nsource: 'function process(r) {}'", nil,
			`step "js": script: give source or file, not both`},
		{"neither", "key: id", nil,
			`step "js": script: missing field "source" (the script) or "file"`},
		{"unknown field", "source: 'function process(r) {}'\nmemory: 1", nil,
			`step "js": script: unknown field "memory"`},
		{"reload inline", "source: 'function process(r) {}'\nreload: false", nil,
			`step "js": script: reload: only a script file is reloaded`},
		{"zero timeout", "source: 'function process(r) {}'\ntimeout: 0s", nil,
			`p.yaml:11:7: step "js": script: timeout: want a positive duration such as 100ms`},
		{"negative timeout", "source: 'function process(r) {}'\ntimeout: -1s", nil,
			`step "js": script: timeout: want a duration such as 500ms, 5s or 1m, not negative; got "-1s"`},
		{"no output allowed", "source: 'function process(r) {}'\nmax_output: 0", nil,
			`p.yaml:11:7: step "js": script: max_output must be at least 1`},
		{"no output bytes allowed", "source: 'function process(r) {}'\nmax_output_bytes: -5", nil,
			`p.yaml:11:7: step "js": script: max_output_bytes must be at least 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src := strings.Replace(scriptPipeline, "STEP", indent(tc.step, "      "), 1)
			_, err := pipeline.Parse(filepath.Join(dir, "p.yaml"), []byte(src), pipeline.Options{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("error\n%s\nwant it to contain\n%s", msg, tc.want)
			}
			if n := len(err.(pipeline.Errors)); n != 1 {
				t.Errorf("%d errors, want the one:\n%s", n, msg)
			}
		})
	}
}

// statePipeline counts each user's views in the script's keyed state and
// keeps the titles seen, from a directory of files it watches.
const statePipeline = `version: 1
inputs:
  views:
    type: file
    path: in
    watch: true
    discovery_interval: 5ms
steps:
  - name: count
    script:
      key: user
      timeout: 10s
      source: |
        function process(v) {
          var n = (state.get("n") || 0) + 1;
          var titles = state.get("titles") || {};
          titles[v.title] = true;
          state.put("n", n);
          state.put("titles", titles);
          if (n % 5 == 0) state.delete("titles");
          return {user: v.user, id: v.id, n: n, distinct: Object.keys(titles).length};
        }
outputs:
  out: {type: file, path: out}
`

func writeViews(t *testing.T, path string, first, n int) {
	t.Helper()
	var b strings.Builder
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"u%d","title":"t%d"}`+"\n", i, i%17, i%5)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A script's keyed state is checkpointed: stopped with a savepoint at
// parallelism 2 and restored at 3, the pipeline writes what one
// uninterrupted run writes.
func TestScriptStateRescales(t *testing.T) {
	setup := func() (string, *pipeline.Pipeline) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
			t.Fatal(err)
		}
		p, err := pipeline.Parse(filepath.Join(dir, "p.yaml"), []byte(statePipeline), pipeline.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fixPaths(p, dir)
		return dir, p
	}
	onceDir, once := setup()
	// One file: the views in the order the two phases below read them.
	writeViews(t, filepath.Join(onceDir, "in", "0.jsonl"), 0, 3500)
	if err := runUntil(t, once, filepath.Join(onceDir, "chk"), false, func() bool {
		return len(committed(t, filepath.Join(onceDir, "out"))) == 3500
	}, weir.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	want := committed(t, filepath.Join(onceDir, "out"))
	if !slices.Contains(want, `{"distinct":5,"id":3398,"n":200,"user":"u15"}`) {
		t.Fatalf("the uninterrupted run counted wrong: %d lines: %v", len(want), slices.DeleteFunc(slices.Clone(want), func(s string) bool { return !strings.Contains(s, `"id":3398,`) }))
	}

	dir, p := setup()
	chk := filepath.Join(dir, "chk")
	writeViews(t, filepath.Join(dir, "in", "0.jsonl"), 0, 2000)
	if err := runUntil(t, p, chk, false, func() bool { return len(committed(t, filepath.Join(dir, "out"))) == 2000 }, weir.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	writeViews(t, filepath.Join(dir, "in", "1.jsonl"), 2000, 1500)
	if err := runUntil(t, p, chk, true, func() bool { return len(committed(t, filepath.Join(dir, "out"))) >= 3500 }, weir.Parallelism(3)); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, filepath.Join(dir, "out")); !slices.Equal(got, want) {
		t.Fatalf("restored at parallelism 3: %d lines, want the uninterrupted run's %d", len(got), len(want))
	}
}

// A call that throws changes no state: its writes are dropped. A record
// without a key fails (and is skipped here).
func TestScriptStateOfAFailedCall(t *testing.T) {
	const src = `version: 1
inputs:
  views: {type: file, path: none.jsonl}
steps:
  - name: count
    on_error: skip
    script:
      key: user
      timeout: 10s
      source: |
        function process(v) {
          var n = (state.get("n") || 0) + 1;
          state.put("n", n);
          if (v.fail) throw new Error("failed after the put");
          return {user: v.user, n: n};
        }
outputs:
  out: {type: stdout}
tests:
  - name: the failed call's put is dropped
    input:
      views:
        - {user: a}
        - {user: a, fail: true}
        - {user: a}
        - {user: b}
        - {title: no user, so no key}
    expect:
      out:
        - {user: a, n: 1}
        - {user: a, n: 2}
        - {user: b, n: 1}
`
	p, err := pipeline.Parse("count.yaml", []byte(src), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Test(context.Background()) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
}

// lineWriter collects the lines a stdout output writes.
type lineWriter struct {
	mu    sync.Mutex
	lines []string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	return len(b), nil
}

func (w *lineWriter) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.lines)
}

// syncBuffer is a log's output, read while the job writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A script file changed while the job runs is applied at a checkpoint
// barrier, by every subtask at the same one: for each split of the input,
// the records before a point come from the old version and those after it
// from the new, none is lost or written twice. A change that does not
// compile is logged with its position and the old version keeps running.
func TestScriptHotReload(t *testing.T) {
	const src = `version: 1
inputs:
  nums:
    type: generator
    rate: 4000
    splits: 2
    fields: {seq: seq}
steps:
  - name: js
    script:
      file: js/v.js
      timeout: 10s
outputs:
  out: {type: stdout}
`
	dir := t.TempDir()
	script := filepath.Join(dir, "js", "v.js")
	replace := func(body string) {
		t.Helper()
		tmp := script + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, script); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	replace("function process(r) { return {seq: r.seq, v: 1} }\n")
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.ParseFile(filepath.Join(dir, "p.yaml"), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, logs := &lineWriter{}, &syncBuffer{}
	stop := make(chan struct{})
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(20*time.Millisecond, filepath.Join(dir, "chk")), weir.StopOn(stop))
	if _, err := p.Build(env, pipeline.Stdout(out), pipeline.Logger(slog.New(slog.NewTextHandler(logs, nil)))); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- env.Run(context.Background()) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(time.Minute)
		for !cond() {
			select {
			case err := <-ended:
				t.Fatalf("the job ended (%v) before %s", err, what)
			case <-deadline:
				close(stop)
				<-ended
				t.Fatalf("after a minute, not %s; log:\n%s", what, logs)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	count := func(v string) int {
		n := 0
		for _, l := range out.snapshot() {
			if strings.HasSuffix(l, `"v":`+v+`}`) {
				n++
			}
		}
		return n
	}
	waitFor("200 records of version 1", func() bool { return count("1") >= 200 })
	replace("function process(r) {\n  return {seq: r.seq, v: 2\n}\n")
	waitFor("the broken version logged", func() bool { return strings.Contains(logs.String(), "does not compile") })
	if !strings.Contains(logs.String(), `js/v.js:4:1: SyntaxError: Unexpected end of input`) {
		t.Errorf("the log does not name the error's position: %s", logs)
	}
	before := count("1")
	waitFor("200 more records of version 1", func() bool { return count("1") >= before+200 })
	replace("function process(r) { return {seq: r.seq, v: 2} }\n")
	waitFor("200 records of version 2", func() bool { return count("2") >= 200 })
	close(stop)
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
	applied := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "new version applied") {
			applied = l
		}
	}
	if !strings.Contains(applied, "version=2") || !strings.Contains(applied, "since_change=") {
		t.Errorf("the new version's application is not logged with the time since the change: %s", logs)
	}
	t.Log(applied)

	// Per split (seq mod 2): every seq once, from the split's first on
	// without a gap, version 1 before a point and 2 after it.
	type rec struct{ Seq, V int }
	bySplit := map[int][]rec{}
	for _, l := range out.snapshot() {
		var r rec
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		bySplit[r.Seq%2] = append(bySplit[r.Seq%2], r)
	}
	for split, recs := range bySplit {
		slices.SortFunc(recs, func(a, b rec) int { return a.Seq - b.Seq })
		switched := -1
		for i, r := range recs {
			if r.Seq != split+2*i {
				t.Fatalf("split %d: record %d has seq %d, want %d (lost or written twice)", split, i, r.Seq, split+2*i)
			}
			if r.V == 2 && switched < 0 {
				switched = r.Seq
			}
			if r.V == 1 && switched >= 0 {
				t.Fatalf("split %d: seq %d from version 1 after seq %d from version 2", split, r.Seq, switched)
			}
		}
		if switched < 0 {
			t.Fatalf("split %d: no record from version 2", split)
		}
	}
}

// failingWriter collects lines like lineWriter and fails one write once
// fail says so.
type failingWriter struct {
	lineWriter
	fail   func(lines []string) bool
	failed bool
}

func (w *failingWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	if !w.failed && w.fail(w.lines) {
		w.failed = true
		w.mu.Unlock()
		return 0, fmt.Errorf("the disk is full")
	}
	w.mu.Unlock()
	return w.lineWriter.Write(b)
}

// A job restarted after a failure runs the script's newest version from
// the start of the restored run, although the checkpoint it restores from
// was taken under the old one.
func TestScriptRestartKeepsNewVersion(t *testing.T) {
	const src = `version: 1
inputs:
  nums: {type: generator, rate: 4000, fields: {seq: seq}}
steps:
  - name: js
    script: {file: v.js, timeout: 10s}
outputs:
  out: {type: stdout}
`
	dir := t.TempDir()
	script := filepath.Join(dir, "v.js")
	replace := func(body string) {
		t.Helper()
		if err := os.WriteFile(script+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(script+".tmp", script); err != nil {
			t.Fatal(err)
		}
	}
	replace("function process(r) { return {seq: r.seq, v: 1} }\n")
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.ParseFile(filepath.Join(dir, "p.yaml"), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	count := func(lines []string, v string) int {
		n := 0
		for _, l := range lines {
			if strings.HasSuffix(l, `"v":`+v+`}`) {
				n++
			}
		}
		return n
	}
	out := &failingWriter{fail: func(lines []string) bool { return count(lines, "2") >= 50 }}
	stop := make(chan struct{})
	env := weir.New(weir.Checkpoints(20*time.Millisecond, filepath.Join(dir, "chk")), weir.StopOn(stop),
		weir.Restarts(weir.RestartStrategy{InitialBackoff: time.Millisecond, Jitter: -1}))
	if _, err := p.Build(env, pipeline.Stdout(out), pipeline.Logger(slog.New(slog.NewTextHandler(&syncBuffer{}, nil)))); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- env.Run(context.Background()) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(time.Minute)
		for !cond() {
			select {
			case err := <-ended:
				t.Fatalf("the job ended (%v) before %s", err, what)
			case <-deadline:
				close(stop)
				<-ended
				t.Fatalf("after a minute, not %s", what)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	waitFor("100 records of version 1", func() bool { return count(out.snapshot(), "1") >= 100 })
	replace("function process(r) { return {seq: r.seq, v: 2} }\n")
	var failedAt int
	waitFor("the failure", func() bool {
		out.mu.Lock()
		defer out.mu.Unlock()
		failedAt = len(out.lines)
		return out.failed
	})
	waitFor("100 records after the restart", func() bool { return len(out.snapshot()) >= failedAt+100 })
	close(stop)
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
	if n := env.JobMetrics().RestartsTotal; n != 1 {
		t.Fatalf("%d restarts, want 1", n)
	}
	if after := out.snapshot()[failedAt:]; count(after, "1") > 0 {
		t.Fatalf("after the restart, %d of %d records from version 1", count(after, "1"), len(after))
	}
}
