// Process takes the keyed context, the record and an Out, and returns an
// error; a function written with the Flink argument order does not match.
package main

import "github.com/weirstream/weir"

type upper struct{}

func (upper) Process(v string, c weir.KeyedContext[string], out weir.Out[string]) error {
	out.Emit(v)
	return nil
}

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice("a", "b"))
	weir.Collect(weir.Process(weir.KeyBy(s, func(v string) string { return v }), upper{}))
}
