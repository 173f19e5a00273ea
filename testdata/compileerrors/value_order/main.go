// The type arguments of Value are the value's type, then the key's: a
// program that writes them key first does not compile.
package main

import "github.com/weirstream/weir"

type counter struct{ n weir.ValueState[string, int] }

func (c *counter) Open(oc weir.KeyedOpenContext[string]) error {
	c.n = weir.Value[string, int](oc, "n")
	return nil
}

func main() {}
