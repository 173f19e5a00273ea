// FlatMap takes a plain function; a KeyedProcessFunction goes to Process.
package main

import "github.com/weirstream/weir"

type upper struct{}

func (upper) Process(c weir.KeyedContext[string], v string, out weir.Out[string]) error {
	out.Emit(v)
	return nil
}

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice("a", "b"))
	weir.Collect(weir.FlatMap(s, upper{}))
}
