// Process takes a KeyedProcessFunction; a plain function is wrapped in
// ProcessFunc.
package main

import "github.com/weirstream/weir"

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice("a", "b"))
	weir.Collect(weir.Process(weir.KeyBy(s, func(v string) string { return v }),
		func(c weir.KeyedContext[string], v string, out weir.Out[string]) error {
			out.Emit(v)
			return nil
		}))
}
