package weir_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/weirstream/weir"
)

// Click is a user's click on a page, at an event time.
type Click struct {
	User string
	Page string
	At   time.Time
}

// clickAt is a click at min:sec past 10:00 UTC on 1 May 2024.
func clickAt(user, page string, min, sec int) Click {
	return Click{User: user, Page: page, At: time.Date(2024, 5, 1, 10, min, sec, 0, time.UTC)}
}

// whenClicked is the clicks' event time, for EventTime.
func whenClicked(c Click) time.Time { return c.At }

// clickCount counts the records of a window. Its accumulator is a number,
// so Add and Merge return new values and share nothing.
type clickCount struct{}

func (clickCount) CreateAccumulator() int64   { return 0 }
func (clickCount) Add(_ Click, n int64) int64 { return n + 1 }
func (clickCount) Result(n int64) int64       { return n }
func (clickCount) Merge(a, b int64) int64     { return a + b }

// printWindows prints a window's results sorted, since windows that fire
// at the same watermark may come out in any order of their keys.
func printWindows(got *weir.Collector[weir.WindowResult[string, int64]]) {
	var lines []string
	for _, r := range got.Values() {
		lines = append(lines, fmt.Sprintf("%s [%s, %s): %d", r.Key,
			r.Window.StartTime().UTC().Format(time.TimeOnly), r.Window.EndTime().UTC().Format(time.TimeOnly), r.Value))
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}

// Clicks per user and minute. A window fires when the watermark passes its
// end; at the end of the bounded input, the final watermark fires the rest.
func ExampleTumblingEventTime() {
	env := weir.New()
	clicks := weir.From(env, weir.Slice(
		clickAt("ann", "home", 0, 5), clickAt("bob", "home", 0, 40),
		clickAt("ann", "cart", 0, 50), clickAt("ann", "home", 1, 10),
	), weir.EventTime(whenClicked, 10*time.Second))
	perMinute := weir.Aggregate(weir.Windowed(weir.KeyBy(clicks, func(c Click) string { return c.User }),
		weir.TumblingEventTime(time.Minute)), clickCount{})
	got := weir.Collect(perMinute)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	printWindows(got)
	// Output:
	// ann [10:00:00, 10:01:00): 2
	// ann [10:01:00, 10:02:00): 1
	// bob [10:00:00, 10:01:00): 1
}

// Clicks per user over the last minute, every 30 seconds: each click is in
// two windows.
func ExampleSlidingEventTime() {
	env := weir.New()
	clicks := weir.From(env, weir.Slice(
		clickAt("ann", "home", 0, 10), clickAt("ann", "cart", 0, 40), clickAt("ann", "pay", 1, 20),
	), weir.EventTime(whenClicked, 10*time.Second))
	lastMinute := weir.Aggregate(weir.Windowed(weir.KeyBy(clicks, func(c Click) string { return c.User }),
		weir.SlidingEventTime(time.Minute, 30*time.Second)), clickCount{})
	got := weir.Collect(lastMinute)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	printWindows(got)
	// Output:
	// ann [09:59:30, 10:00:30): 1
	// ann [10:00:00, 10:01:00): 2
	// ann [10:00:30, 10:01:30): 2
	// ann [10:01:00, 10:02:00): 1
}

// A session is a user's run of clicks less than 30 seconds apart; it ends
// 30 seconds after its last click. Ann's click at 10:00:25 arrives late,
// within the watermark's bound, and bridges her two sessions, which merge
// (with the AggregateFunction's Merge) into one of three clicks.
func ExampleEventTimeSessions() {
	env := weir.New()
	clicks := weir.From(env, weir.Slice(
		clickAt("ann", "home", 0, 0), clickAt("bob", "home", 0, 10),
		clickAt("ann", "cart", 0, 50), clickAt("ann", "search", 0, 25),
		clickAt("ann", "home", 3, 0),
	), weir.EventTime(whenClicked, time.Minute))
	sessions := weir.Aggregate(weir.Windowed(weir.KeyBy(clicks, func(c Click) string { return c.User }),
		weir.EventTimeSessions(30*time.Second)), clickCount{})
	got := weir.Collect(sessions)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	printWindows(got)
	// Output:
	// ann [10:00:00, 10:01:20): 3
	// ann [10:03:00, 10:03:30): 1
	// bob [10:00:10, 10:00:40): 1
}

// cart is the pages a user put in the cart. Add returns a new slice rather
// than appending to the one it is given, which the engine may still hold
// (see AggregateFunction).
type cart struct{}

func (cart) CreateAccumulator() []string { return nil }
func (cart) Add(c Click, items []string) []string {
	return append(slices.Clip(items), c.Page)
}
func (cart) Result(items []string) string { return fmt.Sprint(items) }
func (cart) Merge(a, b []string) []string { return append(slices.Clip(a), b...) }

// untilCheckout fires a user's global window at a click on "checkout" and
// empties it; other clicks only add to it.
type untilCheckout struct{}

func (untilCheckout) OnRecord(_ weir.TriggerContext, c Click, _ int64) weir.TriggerResult {
	if c.Page == "checkout" {
		return weir.FireAndPurge
	}
	return weir.Continue
}

func (untilCheckout) OnTime(weir.TriggerContext, weir.TimeDomain, time.Time) weir.TriggerResult {
	return weir.Continue // it sets no timers
}

// A global window keeps one window per key for all time; its trigger says
// when it fires (here at each checkout; CountTrigger fires every n
// records). What is left when the input ends is not emitted: Bob never
// checked out.
func ExampleGlobalWindow() {
	env := weir.New(weir.Parallelism(1))
	clicks := weir.From(env, weir.Slice(
		Click{User: "ann", Page: "shoes"}, Click{User: "bob", Page: "hat"},
		Click{User: "ann", Page: "socks"}, Click{User: "ann", Page: "checkout"},
		Click{User: "ann", Page: "scarf"}, Click{User: "ann", Page: "checkout"},
	))
	carts := weir.GlobalWindow(weir.KeyBy(clicks, func(c Click) string { return c.User }), untilCheckout{}, cart{})
	weir.To(carts, weir.Stdout(func(r weir.WindowResult[string, string]) string {
		return r.Key + " bought " + r.Value
	}))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ann bought [shoes socks checkout]
	// ann bought [scarf checkout]
}

// Rating is a viewer's rating of a title, from 1 to 5.
type Rating struct {
	Title string
	Stars int
}

// meanStars averages ratings; its accumulator is a struct of numbers.
type meanStars struct{}

type starSum struct{ N, Sum int }

func (meanStars) CreateAccumulator() starSum { return starSum{} }
func (meanStars) Add(r Rating, s starSum) starSum {
	s.N++ // s is a copy: changing it changes nothing the engine holds
	s.Sum += r.Stars
	return s
}
func (meanStars) Result(s starSum) float64 { return float64(s.Sum) / float64(s.N) }
func (meanStars) Merge(a, b starSum) starSum {
	return starSum{N: a.N + b.N, Sum: a.Sum + b.Sum} // never called by CountWindow
}

// The mean of every 3 ratings of a title, as soon as the 3rd arrives
// (size 3, slide 3: tumbling; a slide of 1 would give the mean of the last
// 3 at every rating). A title's last, partial window is not emitted.
func ExampleCountWindow() {
	env := weir.New(weir.Parallelism(1))
	ratings := weir.From(env, weir.Slice(
		Rating{"Heat", 5}, Rating{"Up", 3}, Rating{"Heat", 4}, Rating{"Heat", 3},
		Rating{"Up", 4}, Rating{"Up", 2}, Rating{"Heat", 1},
	))
	means := weir.CountWindow(weir.KeyBy(ratings, func(r Rating) string { return r.Title }), 3, 3, meanStars{})
	weir.To(means, weir.Stdout(func(r weir.WindowResult[string, float64]) string {
		return fmt.Sprintf("%s: %.1f stars", r.Key, r.Value)
	}))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// Heat: 4.0 stars
	// Up: 3.0 stars
}

// A window fires when the watermark passes its end, and with
// AllowedLateness it stays for a while: a record arriving then makes it
// fire again, updated. A record later still goes to the LateData side
// output. WatermarkInterval(0) sends a watermark after every record, so
// that lateness shows on a few of them.
func ExampleLateData() {
	late := weir.NewOutputTag[Click]("late")
	env := weir.New(weir.Parallelism(1), weir.WatermarkInterval(0))
	clicks := weir.From(env, weir.Slice(
		clickAt("ann", "home", 0, 10),
		clickAt("ann", "cart", 1, 5),   // the watermark passes 10:01: [10:00, 10:01) fires
		clickAt("ann", "shoes", 0, 50), // late, within the 30 s allowed: it fires again
		clickAt("ann", "pay", 1, 40),   // the lateness of [10:00, 10:01) is over
		clickAt("ann", "socks", 0, 20), // too late: to the side output
	), weir.EventTime(whenClicked, 0))
	counts := weir.Aggregate(weir.Windowed(weir.KeyBy(clicks, func(c Click) string { return c.User }),
		weir.TumblingEventTime(time.Minute), weir.AllowedLateness[Click](30*time.Second), weir.LateData(late)),
		clickCount{})
	got, tooLate := weir.Collect(counts), weir.Collect(weir.SideOutput(counts, late))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	for _, r := range got.Values() {
		fmt.Printf("%s [%s, %s): %d\n", r.Key, r.Window.StartTime().UTC().Format(time.TimeOnly),
			r.Window.EndTime().UTC().Format(time.TimeOnly), r.Value)
	}
	for _, c := range tooLate.Values() {
		fmt.Println("too late:", c.Page, c.At.Format(time.TimeOnly))
	}
	// Output:
	// ann [10:00:00, 10:01:00): 1
	// ann [10:00:00, 10:01:00): 2
	// ann [10:01:00, 10:02:00): 2
	// too late: socks 10:00:20
}
