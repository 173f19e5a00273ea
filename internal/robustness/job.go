// Package robustness holds Weir's exactly-once crash harness: a job that is
// deterministic by construction, a plain-Go model of its output, an input
// generator, and a test that runs the job as a separate process, kills it
// with SIGKILL at random moments and at named failpoints, restarts it from
// its latest checkpoint at alternating parallelism, and compares the
// committed output with the model.
package robustness

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
	"github.com/weirstream/weir/internal/failpoint"
)

// Event is one input record.
type Event struct {
	Key   string `json:"k"`
	Time  int64  `json:"t"` // event time, Unix milliseconds
	Value int64  `json:"v"` // unique over the input
	Side  string `json:"s"` // "L" or "R", for the join
}

const (
	// Window is the size of the tumbling count windows.
	Window = 10_000
	// JoinWithin is how close in event time a left and a right event of a
	// key must be to join.
	JoinWithin = 2_000
	// Disorder is the most an input file's events are out of order; the
	// job's watermark allows twice as much, so no record is ever late.
	Disorder = 500
	// PartFileCommitted is the failpoint hit after each part file of the
	// output is committed.
	PartFileCommitted = "part-file-committed"
)

// JobConfig configures the job.
type JobConfig struct {
	Input       string // glob of JSON-lines files, one split each
	Output      string // base directory of the exactly-once file sink
	Checkpoints string
	Interval    time.Duration
	Parallelism int
	Restore     bool
	// Pause slows the job down by sleeping a millisecond every Pause
	// records (zero: never), so that a harness has time to kill it.
	Pause int
}

// BuildJob describes the job: per-key tumbling window counts and sums, and
// a keyed interval join of left and right events, both written with keyed
// process functions and event-time timers, into part files.
func BuildJob(c JobConfig) (*weir.Env, error) {
	opts := []weir.Option{weir.Parallelism(c.Parallelism), weir.Checkpoints(c.Interval, c.Checkpoints)}
	if c.Restore {
		opts = append(opts, weir.Restore("latest"))
	}
	env := weir.New(opts...)
	lines := weir.From(env, weir.Lines(c.Input),
		weir.EventTime(lineTime, 2*Disorder*time.Millisecond)).ID("input")
	var n atomic.Int64
	events := weir.TryMap(lines, func(s string) (Event, error) {
		var e Event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return e, err
		}
		if c.Pause > 0 && n.Add(1)%int64(c.Pause) == 0 {
			time.Sleep(time.Millisecond)
		}
		return e, nil
	}).ID("parse")
	keyed := weir.KeyBy(events, func(e Event) string { return e.Key })
	windows := weir.Process(keyed, &windowCount{}).ID("windows")
	joins := weir.Process(keyed, &intervalJoin{}).ID("join")
	sink, err := file.New(file.Config[string]{
		Dir:       c.Output,
		Format:    file.Lines(func(s string) string { return s }),
		RollSize:  2048,
		Committed: func(string) { failpoint.Hit(PartFileCommitted) },
	})
	if err != nil {
		return nil, err
	}
	weir.To(weir.Union(windows, joins), weir.Sink[string](sink)).ID("output")
	return env, nil
}

// lineTime reads the event time of an input line.
func lineTime(s string) time.Time {
	var e struct {
		Time int64 `json:"t"`
	}
	json.Unmarshal([]byte(s), &e) // a bad line fails in parse
	return time.UnixMilli(e.Time)
}

// windowCount counts and sums each key's values in tumbling event-time
// windows.
type windowCount struct {
	acc weir.MapState[string, int64, [2]int64] // window start -> count, sum
}

func (w *windowCount) Open(c weir.KeyedOpenContext[string]) error {
	w.acc = weir.MapOf[int64, [2]int64](c, "acc")
	return nil
}

func (w *windowCount) Process(c weir.KeyedContext[string], e Event, _ weir.Out[string]) error {
	start := e.Time - e.Time%Window
	a, _, err := w.acc.Get(c, start)
	if err != nil {
		return err
	}
	a[0]++
	a[1] += e.Value
	if err := w.acc.Put(c, start, a); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(start + Window - 1))
}

func (w *windowCount) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	ts, _ := c.Timestamp()
	start := ts.UnixMilli() + 1 - Window
	a, ok, err := w.acc.Get(c, start)
	if err != nil || !ok {
		return err
	}
	out.Emit(fmt.Sprintf("win %s %d %d %d", c.Key(), start, a[0], a[1]))
	return w.acc.Delete(c, start)
}

// intervalJoin emits every pair of a left and a right event of a key whose
// event times are at most JoinWithin apart. Each side's events stay in
// state until the watermark passes them by JoinWithin, when a timer evicts
// them.
type intervalJoin struct {
	left, right weir.MapState[string, int64, Event] // value -> event
}

func (j *intervalJoin) Open(c weir.KeyedOpenContext[string]) error {
	j.left = weir.MapOf[int64, Event](c, "left")
	j.right = weir.MapOf[int64, Event](c, "right")
	return nil
}

func (j *intervalJoin) Process(c weir.KeyedContext[string], e Event, out weir.Out[string]) error {
	mine, other := j.left, j.right
	if e.Side == "R" {
		mine, other = j.right, j.left
	}
	for _, o := range other.All(c) {
		if d := e.Time - o.Time; d >= -JoinWithin && d <= JoinWithin {
			l, r := e, o
			if e.Side == "R" {
				l, r = o, e
			}
			out.Emit(fmt.Sprintf("join %s %d %d", c.Key(), l.Value, r.Value))
		}
	}
	if err := mine.Put(c, e.Value, e); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(e.Time + JoinWithin))
}

func (j *intervalJoin) OnTimer(c weir.TimerContext[string], _ weir.Out[string]) error {
	ts, _ := c.Timestamp()
	for _, side := range []weir.MapState[string, int64, Event]{j.left, j.right} {
		var old []int64
		for v, e := range side.All(c) {
			if e.Time+JoinWithin <= ts.UnixMilli() {
				old = append(old, v)
			}
		}
		for _, v := range old {
			if err := side.Delete(c, v); err != nil {
				return err
			}
		}
	}
	return nil
}
