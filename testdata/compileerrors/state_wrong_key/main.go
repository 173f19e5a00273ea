// A state handle is read with the context of the key type it was declared
// for.
package main

import "github.com/weirstream/weir"

type counter struct{ n weir.ValueState[string, int] }

func (c *counter) Process(kc weir.KeyedContext[int], v int, out weir.Out[int]) error {
	n, _, err := c.n.Get(kc)
	out.Emit(n)
	return err
}

func main() {}
