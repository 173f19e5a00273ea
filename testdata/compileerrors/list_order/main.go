// The type arguments of List are the element's type, then the key's.
package main

import "github.com/weirstream/weir"

type buffer struct {
	items weir.ListState[string, float64]
}

func (b *buffer) Open(oc weir.KeyedOpenContext[string]) error {
	b.items = weir.List[string, float64](oc, "items")
	return nil
}

func main() {}
