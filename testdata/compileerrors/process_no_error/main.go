// Process returns an error.
package main

import "github.com/weirstream/weir"

type upper struct{}

func (upper) Process(c weir.KeyedContext[string], v string, out weir.Out[string]) {
	out.Emit(v)
}

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice("a", "b"))
	weir.Collect(weir.Process(weir.KeyBy(s, func(v string) string { return v }), upper{}))
}
