// A ProcessWindowFunc takes the key, the window, the records and an Out.
package main

import (
	"time"

	"github.com/weirstream/weir"
)

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice(1, 2, 3))
	ws := weir.Windowed(weir.KeyBy(s, func(v int) int { return v % 2 }), weir.TumblingEventTime(time.Second))
	weir.Collect(weir.ProcessWindow(ws, func(w weir.Window, records []int, out weir.Out[int]) error {
		out.Emit(len(records))
		return nil
	}))
}
