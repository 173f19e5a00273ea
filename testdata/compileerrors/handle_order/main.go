// A state handle's type arguments are the key's type, then the value's:
// the other way round from Value's.
package main

import "github.com/weirstream/weir"

type counter struct{ n weir.ValueState[int, string] }

func (c *counter) Open(oc weir.KeyedOpenContext[string]) error {
	c.n = weir.Value[int](oc, "n")
	return nil
}

func main() {}
