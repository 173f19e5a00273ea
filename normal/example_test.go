package normal_test

import (
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir/normal"
)

// A model learns three days of a 5-minute series with a daily cycle, then
// meets a value far from what that time of day usually has.
func ExampleModel() {
	m, err := normal.New(normal.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	value := func(t time.Time) float64 {
		h := float64(t.Hour()) + float64(t.Minute())/60
		return 100 + 40*math.Sin(h/24*2*math.Pi) + float64(t.Minute()%3)
	}
	t := start
	alerts := 0
	for ; t.Before(start.Add(72 * time.Hour)); t = t.Add(5 * time.Minute) {
		if m.Score(t, value(t)) >= normal.Threshold {
			alerts++
		}
	}
	fmt.Println("alerts while learning the cycle:", alerts)
	fmt.Printf("usual value at %s: anomalous %v\n", t.Format("15:04"), m.Score(t, value(t)) >= normal.Threshold)
	t = t.Add(5 * time.Minute)
	fmt.Printf("value 30 at %s: anomalous %v\n", t.Format("15:04"), m.Score(t, 30) >= normal.Threshold)
	fmt.Println("state:", m.StateSize(), "bytes")
	// Output:
	// alerts while learning the cycle: 0
	// usual value at 00:00: anomalous false
	// value 30 at 00:05: anomalous true
	// state: 2833 bytes
}
