package pipeline_test

import (
	"context"
	"fmt"

	"github.com/weirstream/weir/pipeline"
)

// Parse reports every mistake of a file at once, each with its position,
// the line and a caret.
func ExampleParse() {
	src := `version: 1
inputs:
  orders:
    type: file
    path: orders.jsonl
    schema: {id: int, total: float}
steps:
  - name: big
    filter: total * 2
outputs:
  out: {type: stdout, colour: red}
`
	_, err := pipeline.Parse("orders.yaml", []byte(src), pipeline.Options{})
	fmt.Println(err)
	// Output:
	// orders.yaml:9:13: step "big": filter: expected bool, but got float64
	//     9 |     filter: total * 2
	//       |             ^
	//
	// orders.yaml:11:23: output "out": unknown field "colour" (known: type, format, from)
	//    11 |   out: {type: stdout, colour: red}
	//       |                       ^
	//
	// 2 errors
}

// A pipeline file's test cases run in-process: their records replace the
// inputs, and each output must receive exactly the expected records.
func ExamplePipeline_Test() {
	src := `version: 1
inputs:
  orders: {type: file, path: orders.jsonl, schema: {id: int, total: float}}
steps:
  - name: big
    filter: total > 100
  - name: cents
    project: {id: id, cents: int(total * 100)}
outputs:
  out: {type: stdout}
tests:
  - name: only big orders, in cents
    input:
      orders: [{id: 1, total: 150.5}, {id: 2, total: 20}]
    expect:
      out: [{id: 1, cents: 15050}]
`
	p, err := pipeline.Parse("orders.yaml", []byte(src), pipeline.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range p.Test(context.Background()) {
		fmt.Printf("%s: %v\n", r.Name, r.Err)
	}
	// Output:
	// only big orders, in cents: <nil>
}
