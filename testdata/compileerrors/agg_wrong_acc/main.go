// Add and Merge take the accumulator CreateAccumulator returns.
package main

import (
	"time"

	"github.com/weirstream/weir"
)

type avg struct{}

func (avg) CreateAccumulator() [2]int    { return [2]int{} }
func (avg) Add(v int, acc [2]int) [2]int { return [2]int{acc[0] + v, acc[1] + 1} }
func (avg) Result(acc [2]int) float64    { return float64(acc[0]) / float64(acc[1]) }
func (avg) Merge(a, b []int) []int       { return a }

func main() {
	env := weir.New()
	s := weir.From(env, weir.Slice(1, 2, 3))
	ws := weir.Windowed(weir.KeyBy(s, func(v int) int { return v % 2 }), weir.TumblingEventTime(time.Second))
	weir.Collect(weir.Aggregate(ws, avg{}))
}
