package pipeline_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/pipeline"
)

func TestUnnest(t *testing.T) {
	const src = `version: 1
inputs:
  orders: {type: file, path: none.jsonl}
steps:
  - name: items
    on_error: skip
    unnest:
      field: items
      as: item
  - name: lines
    from: orders
    unnest:
      field: order.lines
      keep_empty: true
outputs:
  items: {type: stdout, from: items}
  lines: {type: stdout, from: lines}
tests:
  - name: one record per element, the others kept
    input:
      orders:
        - {id: 1, items: [a, b], order: {lines: [{n: 1}, {n: 2}], at: x}}
        - {id: 2, items: [], order: {lines: []}}
        - {id: 3}
        - {id: 4, items: not-a-list, order: {lines: null}}
    expect:
      items:
        - {id: 1, item: a, order: {lines: [{n: 1}, {n: 2}], at: x}}
        - {id: 1, item: b, order: {lines: [{n: 1}, {n: 2}], at: x}}
      lines:
        - {id: 1, items: [a, b], order: {at: x}, lines: {n: 1}}
        - {id: 1, items: [a, b], order: {at: x}, lines: {n: 2}}
        - {id: 2, items: [], order: {}, lines: null}
        - {id: 3, lines: null}
        - {id: 4, items: not-a-list, order: {}, lines: null}
`
	p, err := pipeline.Parse("unnest.yaml", []byte(src), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Test(context.Background()) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
}

// A value that is not an array is the record's error, naming the step
// and the field.
func TestUnnestNotAnArray(t *testing.T) {
	// scriptDir writes the input; the pipeline is the same with unnest
	// for the script.
	dir, _ := scriptDir(t, "source: 'function process(r) { return r }'", []string{`{"id":1,"tags":"x"}`, `{"id":2,"tags":["y"]}`}, nil)
	src := strings.Replace(scriptPipeline, "    script:\nSTEP", "    unnest: {field: tags, as: tag}", 1)
	p, err := pipeline.Parse(filepath.Join(dir, "p.yaml"), []byte(src), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := runDir(t, dir, p); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, filepath.Join(dir, "out")); !slices.Equal(got, []string{`{"id":2,"tag":"y"}`}) {
		t.Errorf("output %q", got)
	}
	causes := deadCauses(t, filepath.Join(dir, "dead"))
	if len(causes) != 1 || !strings.Contains(causes[0], `step "js": unnest: field tags is string "x", not an array`) {
		t.Errorf("dead letters %q", causes)
	}
}

func TestUnnestValidate(t *testing.T) {
	for _, tc := range []struct{ step, want string }{
		{"unnest: {as: x}", `step "u": unnest: missing field "field"`},
		{"unnest: {field: 'a..b'}", `step "u": unnest: field: "a..b" is not a field name or a dotted path`},
		{"unnest: {field: tags, keep: true}", `step "u": unnest: unknown field "keep"`},
		{"unnest: {field: nope}", `step "u": unnest: field "nope" is not in the schema (id int, tags any, n string)`},
		{"unnest: {field: n}", `step "u": unnest: field "n" is a string, not an array`},
	} {
		src := `version: 1
inputs:
  in: {type: file, path: in.jsonl, schema: {id: int, tags: any, n: string}}
steps:
  - name: u
    ` + tc.step + `
outputs:
  out: {type: stdout}
`
		_, err := pipeline.Parse("u.yaml", []byte(src), pipeline.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.step, err, tc.want)
		}
	}
}
