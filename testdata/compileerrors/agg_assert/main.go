// A compile-time assertion names the interface and its type arguments in
// full, where the message at the call site shows them as parameters.
package main

import "github.com/weirstream/weir"

type sum struct{}

func (sum) CreateAccumulator() int { return 0 }
func (sum) Add(v int, acc int) int { return acc + v }
func (sum) Result(acc int) int     { return acc }

var _ weir.AggregateFunction[int, int, int] = sum{}

type upper struct{}

func (upper) Process(c weir.KeyedContext[string], v string, out weir.Out[string]) {
	out.Emit(v)
}

var _ weir.KeyedProcessFunction[string, string, string] = upper{}

func main() {}
