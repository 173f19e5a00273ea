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

// BuildJob describes the job: per-key tumbling event-time window counts and
// sums (Windowed + Aggregate), and an interval join of left and right
// events (IntervalJoin, a co-process operator with event-time eviction),
// into exactly-once part files.
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
	key := func(e Event) string { return e.Key }
	keyed := weir.KeyBy(events, key)
	// The library's operators: an event-time window aggregate and an
	// interval join (a co-process operator) of left and right events.
	windows := weir.Map(weir.Aggregate(weir.Windowed(keyed, weir.TumblingEventTime(Window*time.Millisecond)), countSum{}).ID("windows"),
		func(r weir.WindowResult[string, [2]int64]) string {
			return fmt.Sprintf("win %s %d %d %d", r.Key, r.Window.Start, r.Value[0], r.Value[1])
		})
	left := weir.KeyBy(events.Filter(func(e Event) bool { return e.Side == "L" }), key)
	right := weir.KeyBy(events.Filter(func(e Event) bool { return e.Side == "R" }), key)
	joins := weir.IntervalJoin(left, right, -JoinWithin*time.Millisecond, JoinWithin*time.Millisecond, func(l, r Event) string {
		return fmt.Sprintf("join %s %d %d", l.Key, l.Value, r.Value)
	}).ID("join")
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

// countSum counts and sums a window's values.
type countSum struct{}

func (countSum) CreateAccumulator() [2]int64      { return [2]int64{} }
func (countSum) Add(e Event, a [2]int64) [2]int64 { return [2]int64{a[0] + 1, a[1] + e.Value} }
func (countSum) Result(a [2]int64) [2]int64       { return a }
func (countSum) Merge(a, b [2]int64) [2]int64     { return [2]int64{a[0] + b[0], a[1] + b[1]} }
