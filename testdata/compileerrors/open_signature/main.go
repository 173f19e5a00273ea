// Open takes the KeyedOpenContext of the stream's key type.
package main

import "github.com/weirstream/weir"

type counter struct{ n weir.ValueState[int, int] }

func (c *counter) Open(oc weir.KeyedOpenContext[string]) error {
	c.n = weir.Value[int](oc, "n")
	return nil
}

func main() {}
