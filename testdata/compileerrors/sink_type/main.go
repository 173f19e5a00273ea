// A sink takes the type of the stream it ends.
package main

import (
	"strconv"

	"github.com/weirstream/weir"
)

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice("a", "b"))
	weir.To(s, weir.Stdout(func(v int) string { return strconv.Itoa(v) }))
}
