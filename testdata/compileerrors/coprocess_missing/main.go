// A KeyedCoProcessFunction has Process1 and Process2.
package main

import "github.com/weirstream/weir"

type join struct{}

func (join) Process1(c weir.KeyedContext[string], v string, out weir.Out[string]) error {
	return nil
}

func main() {
	env := weir.New()
	a := weir.KeyBy(weir.From(env, weir.Slice("a")), func(v string) string { return v })
	b := weir.KeyBy(weir.From(env, weir.Slice(1)), func(v int) string { return "" })
	weir.Collect(weir.CoProcess(weir.Connect(a, b), join{}))
}
