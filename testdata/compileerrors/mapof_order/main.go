// The type arguments of MapOf are the user key's and value's types, then
// the stream key's.
package main

import "github.com/weirstream/weir"

type seen struct {
	last weir.MapState[string, int64, bool]
}

func (s *seen) Open(oc weir.KeyedOpenContext[string]) error {
	s.last = weir.MapOf[string, int64, bool](oc, "last")
	return nil
}

func main() {}
