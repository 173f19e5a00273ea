// Result returns the type the window's results are declared with.
package main

import (
	"time"

	"github.com/weirstream/weir"
)

type sum struct{}

func (sum) CreateAccumulator() int { return 0 }
func (sum) Add(v int, acc int) int { return acc + v }
func (sum) Result(acc int) int     { return acc }
func (sum) Merge(a, b int) int     { return a + b }

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice(1, 2, 3))
	ws := weir.Windowed(weir.KeyBy(s, func(v int) int { return v % 2 }), weir.TumblingEventTime(time.Second))
	weir.Collect(weir.Aggregate[int, int, int, float64](ws, sum{}))
}
