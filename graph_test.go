package weir_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// Graph shows every operator with its parallelism and task, and every edge
// with its partitioning, the same before Run and while it runs.
func TestGraph(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	nums := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 10}, func(seq int64) int64 { return seq }))
	evens := weir.Process(weir.KeyBy(nums, func(v int64) int64 { return v % 3 }), weir.KeyedProcessFunction[int64, int64, int64](oddOut{})).Parallelism(1)
	weir.Collect(weir.SideOutput(evens, oddTag))
	weir.Collect(evens)
	describe := func(g weir.JobGraph) string {
		var b strings.Builder
		for _, o := range g.Operators {
			fmt.Fprintf(&b, "op %s (%s) p%d task %d\n", o.Name, o.Kind, o.Parallelism, o.Task)
		}
		names := map[string]string{}
		for _, o := range g.Operators {
			names[o.ID] = o.Name
		}
		for _, e := range g.Edges {
			fmt.Fprintf(&b, "edge %s -> %s %s chained=%v side=%q\n", names[e.From], names[e.To], e.Partitioning, e.Chained, e.SideOutput)
		}
		return b.String()
	}
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	want := `op source (source) p2 task 0
op process (process) p1 task 1
op side-output odd (side-output) p1 task 1
op collect (collect) p2 task 2
op collect (collect) p2 task 3
edge source -> process hash chained=false side=""
edge process -> side-output odd forward chained=true side="odd"
edge process -> collect rebalance chained=false side=""
edge side-output odd -> collect rebalance chained=false side=""
`
	if got := describe(g); got != want {
		t.Fatalf("graph:\n%s\nwant:\n%s", got, want)
	}
	run(t, env)
	g, err = env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(g); got != want {
		t.Fatalf("graph after Run:\n%s\nwant:\n%s", got, want)
	}
}
