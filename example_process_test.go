package weir_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/weirstream/weir"
)

// Reading is a sensor's temperature reading.
type Reading struct {
	Sensor  string
	Celsius float64
}

// A keyed function sends what is unusual to a side output, which
// SideOutput turns into a stream of its own; the main output goes on.
func ExampleSideOutput() {
	tooHot := weir.NewOutputTag[Reading]("too-hot")
	env := weir.New(weir.Parallelism(1))
	readings := weir.From(env, weir.Slice(
		Reading{"kitchen", 21.5}, Reading{"oven", 240}, Reading{"hall", 19}, Reading{"kitchen", 85},
	))
	normal := weir.Process(weir.KeyBy(readings, func(r Reading) string { return r.Sensor }),
		weir.ProcessFunc[string, Reading, Reading](func(c weir.KeyedContext[string], r Reading, out weir.Out[Reading]) error {
			if r.Celsius > 60 {
				weir.Output(c, tooHot, r)
				return nil
			}
			out.Emit(r)
			return nil
		}))
	hot := weir.SideOutput(normal, tooHot)
	gotNormal, gotHot := weir.Collect(normal), weir.Collect(hot)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println("normal:", gotNormal.Values())
	fmt.Println("too hot:", gotHot.Values())
	// Output:
	// normal: [{kitchen 21.5} {hall 19}]
	// too hot: [{oven 240} {kitchen 85}]
}

// cartTimeout reports a user's cart as abandoned when the user has not
// clicked for 30 minutes of event time. Each click moves the user's timer:
// the old one is deleted, a new one registered.
type cartTimeout struct {
	deadline weir.ValueState[string, time.Time]
}

func (f *cartTimeout) Open(c weir.KeyedOpenContext[string]) error {
	f.deadline = weir.Value[time.Time](c, "deadline")
	return nil
}

func (f *cartTimeout) Process(c weir.KeyedContext[string], click Click, _ weir.Out[string]) error {
	old, ok, err := f.deadline.Get(c)
	if err != nil {
		return err
	}
	if ok {
		if err := c.Timers().DeleteEventTime(old); err != nil {
			return err
		}
	}
	deadline := click.At.Add(30 * time.Minute)
	if err := c.Timers().RegisterEventTime(deadline); err != nil {
		return err
	}
	return f.deadline.Set(c, deadline)
}

// OnTimer fires when the watermark passes the deadline.
func (f *cartTimeout) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	out.Emit(fmt.Sprintf("%s abandoned the cart at %s (%s)", c.Key(), c.Time().UTC().Format(time.TimeOnly), c.Domain()))
	return f.deadline.Clear(c)
}

// Event-time timers fire in time order as the watermark passes them; at
// the end of a bounded input the final watermark fires those still
// pending.
func ExampleTimers_eventTime() {
	env := weir.New(weir.Parallelism(1))
	clicks := weir.From(env, weir.Slice(
		clickAt("ann", "shoes", 0, 0), clickAt("bob", "hat", 5, 0),
		clickAt("ann", "socks", 20, 0), clickAt("cid", "tea", 59, 0),
	), weir.EventTime(whenClicked, time.Minute))
	abandoned := weir.Process(weir.KeyBy(clicks, func(c Click) string { return c.User }), &cartTimeout{})
	weir.To(abandoned, weir.Stdout[string](nil))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// bob abandoned the cart at 10:35:00 (event time)
	// ann abandoned the cart at 10:50:00 (event time)
	// cid abandoned the cart at 11:29:00 (event time)
}

// signalWriter writes to standard output and sends each write on lines,
// so that an example can wait for a running job's output.
type signalWriter struct{ lines chan string }

func (w signalWriter) Write(p []byte) (int, error) {
	n, err := os.Stdout.Write(p)
	w.lines <- strings.TrimSpace(string(p))
	return n, err
}

// reminder emits a reminder 20 ms of wall-clock time after a user's first
// record.
type reminder struct{}

func (reminder) Process(c weir.KeyedContext[string], _ string, _ weir.Out[string]) error {
	return c.Timers().RegisterProcessingTime(c.ProcessingTime().Add(20 * time.Millisecond))
}

func (reminder) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	out.Emit(fmt.Sprintf("reminder for %s (%s)", c.Key(), c.Domain()))
	return nil
}

// Processing-time timers fire on the wall clock while the job runs; they
// stop with a bounded input, unlike event-time timers, so this job reads
// a channel that stays open until the reminder is out.
func ExampleTimers_processingTime() {
	users := make(chan string)
	out := signalWriter{lines: make(chan string, 1)}
	env := weir.New(weir.Parallelism(1))
	reminders := weir.Process(weir.KeyBy(weir.FromChannel(env, users), func(u string) string { return u }), reminder{})
	weir.To(reminders, weir.Print[string](out, nil))
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	users <- "ann"
	<-out.lines
	close(users)
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	// Output:
	// reminder for ann (processing time)
}

// firstVisit says whether a user is new, remembering users for as long as
// its state's TTL.
type firstVisit struct {
	seen weir.ValueState[string, bool]
	ttl  time.Duration
}

func (f *firstVisit) Open(c weir.KeyedOpenContext[string]) error {
	f.seen = weir.Value[bool](c, "seen", weir.TTL(f.ttl))
	return nil
}

func (f *firstVisit) Process(c weir.KeyedContext[string], user string, out weir.Out[string]) error {
	_, seen, err := f.seen.Get(c) // an expired entry reads as missing
	if err != nil {
		return err
	}
	if seen {
		out.Emit(user + ": seen before")
		return nil
	}
	out.Emit(user + ": first visit")
	return f.seen.Set(c, true)
}

// State with a TTL expires that long after it was last written, in
// processing time. The first two visits are in the job's first poll of
// the channel; the third comes after the TTL. (The TTL is long enough that
// a busy machine does not expire the entry between the first two.)
func ExampleTTL() {
	const ttl = 500 * time.Millisecond
	visits := make(chan string, 2)
	visits <- "ann"
	visits <- "ann"
	out := signalWriter{lines: make(chan string, 3)}
	env := weir.New(weir.Parallelism(1))
	seen := weir.Process(weir.KeyBy(weir.FromChannel(env, visits), func(u string) string { return u }), &firstVisit{ttl: ttl})
	weir.To(seen, weir.Print[string](out, nil))
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	<-out.lines
	<-out.lines
	time.Sleep(2 * ttl)
	visits <- "ann"
	<-out.lines
	close(visits)
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	// Output:
	// ann: first visit
	// ann: seen before
	// ann: first visit
}

// Requests to a slow service overlap (up to AsyncCapacity per subtask),
// and the results come out in input order all the same.
func ExampleAsyncMap() {
	env := weir.New()
	ids := weir.From(env, weir.Slice(3, 1, 2))
	names := weir.AsyncMap(ids, func(ctx context.Context, id int) (string, error) {
		select { // the later the ID, the sooner its answer
		case <-time.After(time.Duration(4-id) * 10 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return fmt.Sprintf("user-%d", id), nil
	}, weir.AsyncCapacity(10), weir.AsyncTimeout(time.Second))
	weir.To(names, weir.Stdout[string](nil))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// user-3
	// user-1
	// user-2
}
