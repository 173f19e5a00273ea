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

var _ = fmt.Sprint
var _ sync.Mutex
var _ time.Duration
