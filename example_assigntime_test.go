package weir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/weirstream/weir"
)

// A time inside a JSON line: decode the line once, then take its time from
// the decoded record. A time that does not parse meets the step's error
// policy, here Skip, instead of becoming year 1.
func ExampleStream_AssignTime() {
	type Click struct {
		User string
		At   string
	}
	env := weir.New()
	lines := weir.From(env, weir.Slice(
		`{"User":"ann","At":"2024-05-01T10:00:05Z"}`,
		`{"User":"bob","At":"2024-05-01T10:00:40Z"}`,
		`{"User":"ann","At":"10 o'clock"}`,
		`{"User":"ann","At":"2024-05-01T10:01:10Z"}`,
		`{"User":"ann","At":"2024-05-01T10:00:30Z"}`,
	))
	clicks := weir.TryMap(lines, func(s string) (c Click, err error) {
		err = json.Unmarshal([]byte(s), &c)
		return c, err
	}).Name("decode")
	// Up to a minute out of order; the watermark is kept per split of the
	// source, to which the step is chained.
	stamped := clicks.AssignTime(func(c Click) (time.Time, error) {
		return time.Parse(time.RFC3339, c.At)
	}, time.Minute).Name("click time").OnError(weir.Skip)
	perMinute := weir.Aggregate(weir.Windowed(weir.KeyBy(stamped, func(c Click) string { return c.User }),
		weir.TumblingEventTime(time.Minute)), countOf[Click]{})
	weir.To(perMinute, weir.Stdout(func(r weir.WindowResult[string, int64]) string {
		return fmt.Sprintf("%s %s: %d", r.Key, time.UnixMilli(r.Window.Start).UTC().Format(time.TimeOnly), r.Value)
	}))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	for _, m := range env.Metrics() {
		if m.Operator == "click time" {
			fmt.Println("skipped:", m.Skipped)
		}
	}
	// Output:
	// ann 10:00:00: 2
	// bob 10:00:00: 1
	// ann 10:01:00: 1
	// skipped: 1
}
