package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

var rowTestSchema = &Schema{Fields: []Field{
	{"id", TypeInt}, {"amount", TypeFloat}, {"name", TypeString}, {"ok", TypeBool}, {"ts", TypeTimestamp}, {"meta", TypeAny},
}}

// rowTestLines are messages the one-pass decoder reads and messages it
// leaves to the schemaless decoder, good and bad.
var rowTestLines = []string{
	`{"id":1,"amount":2.5,"name":"a","ok":true,"ts":1772359200000,"meta":{"k":[1,2.5,"x"]}}`,
	`{"id":2}`,
	`{}`,
	` { "id" : 3 , "amount" : 4 , "name" : "ça va" } `,
	`{"id":4,"undeclared":{"deep":[{"a":null}],"s":"q\"uote\u00e9"},"n":-0.5e-3,"t":true,"f":false,"z":null}`,
	`{"id":5.0,"amount":1e2,"ts":"2026-03-01T10:00:00+02:00"}`,
	`{"id":-0,"amount":-7,"meta":12.75}`,
	`{"id":6,"meta":"text","meta":null}`,
	`{"id":7,"name":"esc\naped"}`,
	`{"id":8,"meta":[1,2]}`,
	`{"id":9007199254740993}`,
	`{"id":10,"big":123456789012345678901234567890}`,
	`{"id":11,"amount":"lots"}`,
	`{"id":12,"ts":"yesterday"}`,
	`{"id":1.5}`,
	`{"id":13,"ok":"yes"}`,
	`{"id":14,}`,
	`{"id":015}`,
	`{"id":16} x`,
	`[1,2]`,
	`"text"`,
	``,
	`{"id":17,"name":"bad utf8 ` + "\xff" + `"}`,
	`{"id":18,"x":"bad utf8 ` + "\xff" + `"}`,
	`{"id":19,"name":"tab	inside"}`,
	`{"id":20,"x":[1,{"y":[]}],"amount":3}`,
	`{"id":21`,
	`{"id":22,"x":1.}`,
	`{"id":23,"x":-}`,
	`{"id":24,"x":tru}`,
	`{"id":25,"x":"\q"}`,
	`{"id":26,"x":"\u12"}`,
	`{"id":27,"meta":{"a":9007199254740993}}`,
}

// A row decoded from a message is, made a record, the record the
// schemaless decoder and the schema's conversion make of it, and a
// message one refuses the other refuses with the same error.
// So it is when the decoder leaves fields no step reads in the line.
func TestRowDecoderMatchesRecords(t *testing.T) {
	lines := append(slices.Clone(rowTestLines),
		`{"id":5,"id":null,"name":"x","name":"y"}`,
		`{"id":null,"id":6,"name":null,"name":"z"}`,
		`{"id":7.0,"name":"q\"q"}`,
		`{"id":7.5,"name":"q"}`,
	)
	tests := []struct {
		name string
		d    rowDecoder
	}{
		{"every field decoded", newRowDecoder(rowTestSchema)},
		{"none read by position", newRowDecoder(rowTestSchema).leaving(func(string) bool { return false })},
		{"name read by position", newRowDecoder(rowTestSchema).leaving(func(n string) bool { return n == "name" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fast := 0
			for _, line := range lines {
				checkRowDecode(t, tt.d, []byte(line))
				if _, ok := tt.d.fast([]byte(line)); ok {
					fast++
				}
			}
			// The one pass reads the plain messages: a decoder that
			// always gave up would pass the comparisons.
			if fast < 10 {
				t.Errorf("the one-pass decoder read %d of the messages, want at least 10", fast)
			}
		})
	}
	// A field left in the line is not in the row's values.
	r, ok := tests[1].d.fast([]byte(`{"id":8,"name":"n","ok":true}`))
	if !ok || r.vals[0] != nil || r.vals[2] != nil || r.vals[3] != true || r.line == "" {
		t.Errorf("leaving id and name: the row is %#v, %v", r, ok)
	}
}

func checkRowDecode(t *testing.T, d rowDecoder, data []byte) {
	t.Helper()
	want, werr := decoder{d.schema}.Decode(data)
	got, gerr := d.Decode(data)
	if (werr != nil) != (gerr != nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%q: rows give error %v, records %v", data, gerr, werr)
	}
	if werr != nil {
		return
	}
	if rec := got.record(); !reflect.DeepEqual(rec, want) {
		t.Fatalf("%q: the row is the record %#v, want %#v", data, rec, want)
	}
	if b, err := json.Marshal(got); err != nil || !bytes.Equal(b, mustJSON(t, want)) {
		t.Fatalf("%q: the row's JSON is %s (%v), want %s", data, b, err, mustJSON(t, want))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzRowDecoder(f *testing.F) {
	for _, l := range rowTestLines {
		f.Add([]byte(l))
	}
	d := newRowDecoder(rowTestSchema)
	lazy := d.leaving(func(string) bool { return false })
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRowDecode(t, d, data)
		checkRowDecode(t, lazy, data)
	})
}

// rowPipelines read records of a declared schema through the steps that
// read rows, with outputs and steps that read records beside them.
var rowPipelines = map[string]string{
	"chain": `
steps:
  - name: big
    filter: amount > 1 && name != "skip"
  - name: tagged
    map: {big: true, amount: amount * 2, ratio: 10 / id}
  - name: slim
    project: {id: id, amount: amount, when: ts, day: string(ts)}
outputs:
  all: {type: stdout, from: tagged}
  slim: {type: stdout, from: slim}
  raw: {type: stdout, from: in}
`,
	"window": `
steps:
  - name: per-name
    window:
      key: name
      tumbling: 1h
      allowed_lateness: 1h
      late: late
      aggregates: {n: count, total: sum(amount), top: max(amount), first: first(id), last: last(id), ids: distinct_count(id)}
  - name: tagged
    from: in
    project: {id: id, upper: upper(name), seen: meta ?? "none", mx: meta.x}
outputs:
  out: {type: stdout, from: per-name}
  tagged: {type: stdout, from: tagged}
  late: {type: stdout}
`,
}

const rowPipelineHead = `version: 1
on_error: dead-letter
dead_letter: {path: "${env:DEAD}"}
inputs:
  in:
    type: file
    path: ${env:IN}
    schema: {id: int, amount: float, name: string, ts: timestamp, meta: any}
    event_time: {field: ts, max_out_of_orderness: 1s}
`

// A pipeline gives the same output and the same dead letters, field
// names and all, with its records as rows and as maps.
func TestRowsMatchRecords(t *testing.T) {
	lines := strings.Join([]string{
		`{"id":1,"amount":2.5,"name":"a","ts":1772359200000,"note":"kept \"as\" it was","tags":[1,2]}`,
		`{"id":2,"amount":0.5,"name":"a","ts":1772359201000}`,
		`{"id":3,"amount":"lots","name":"b","ts":1772359202000}`,
		`{"id":4,"amount":3,"name":"b","ts":"2026-03-01T10:00:03+02:00","big":"no","meta":{"x":1}}`,
		`{"id":5,"amount":1e1,"name":"skip","ts":1772359204000,"extra":12345678901234567890}`,
		`{"id":0,"amount":7.5,"name":"ça","ts":1772359205000,"meta":"m"}`,
		`{"id":6,"amount":9,"ts":1772359206000,"meta":null}`,
		`{"id":7,"amount":9,"name":"c"}`,
		`{"id":8,"amount":4,"name":"a","ts":1772355600000}`,
		`{"id":9,"amount":5,"name":"d","ts":1772359207000,"meta":[1]}`,
		`{"id":10,"amount":6,"name":"late","ts":1772348400000,"note":"three hours late"}`,
	}, "\n") + "\n"
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, steps := range rowPipelines {
		t.Run(name, func(t *testing.T) {
			run := func(opts ...BuildOption) (out, dead []string) {
				deadDir := t.TempDir()
				p, err := Parse("rows.yaml", []byte(rowPipelineHead+steps), Options{LookupEnv: func(n string) (string, bool) {
					return map[string]string{"IN": in, "DEAD": deadDir}[n], true
				}})
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				env := weir.New(append(p.EnvOptions(), weir.Parallelism(1))...)
				b := &builder{p: p, env: env, job: &Job{env: env}, stdout: &buf}
				for _, o := range append([]BuildOption{Stdout(&buf)}, opts...) {
					o(b)
				}
				if err := b.build(); err != nil {
					t.Fatal(err)
				}
				if err := env.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				return sortedLines(buf.String()), deadLetters(t, deadDir)
			}
			rowsOut, rowsDead := run()
			recsOut, recsDead := run(withoutRows())
			if !slices.Equal(rowsOut, recsOut) {
				t.Errorf("output with rows:\n%s\nwith records:\n%s", strings.Join(rowsOut, "\n"), strings.Join(recsOut, "\n"))
			}
			if !slices.Equal(rowsDead, recsDead) {
				t.Errorf("dead letters with rows:\n%s\nwith records:\n%s", strings.Join(rowsDead, "\n"), strings.Join(recsDead, "\n"))
			}
			if len(rowsOut) < 5 || len(rowsDead) == 0 {
				t.Errorf("%d lines out and %d dead letters: the pipeline does too little to compare", len(rowsOut), len(rowsDead))
			}
		})
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return lines
}

// deadLetters are the dead letters under dir without their times, sorted.
func deadLetters(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				return err
			}
			delete(m, "time")
			b, _ := json.Marshal(m)
			out = append(out, string(b))
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
