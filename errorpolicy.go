package weir

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// ErrorPolicy says what happens to a record whose processing fails: its
// user function returned an error for it, or it could not be decoded.
type ErrorPolicy uint8

const (
	// FailJob fails the job, naming the operator and the record's origin.
	// It is the default.
	FailJob ErrorPolicy = iota
	// DeadLetter writes the record, the error, its origin and the operator
	// to the job's dead-letter output (DeadLetters) and goes on.
	DeadLetter
	// Skip drops the record, counts it and goes on.
	Skip
)

func (p ErrorPolicy) String() string {
	switch p {
	case FailJob:
		return "fail"
	case DeadLetter:
		return "dead-letter"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("ErrorPolicy(%d)", uint8(p))
}

// ParseErrorPolicy parses "fail", "dead-letter" or "skip".
func ParseErrorPolicy(s string) (ErrorPolicy, error) {
	for _, p := range []ErrorPolicy{FailJob, DeadLetter, Skip} {
		if p.String() == s {
			return p, nil
		}
	}
	return FailJob, fmt.Errorf("error policy %q: want fail, dead-letter or skip", s)
}

// OnError sets the job's error policy; Stream.OnError overrides it for one
// operator.
func OnError(p ErrorPolicy) Option { return optionFunc(func(c *config) { c.onError = p }) }

// OnError sets the error policy of the operator that makes s.
func (s Stream[T]) OnError(p ErrorPolicy) Stream[T] {
	s.n.onError = &p
	return s
}

// OperatorMetrics are the counts of one operator subtask. For a pipeline
// whose operators each emit at most one record per record they receive,
// what the sources emit equals what the sinks wrote plus everything
// filtered, dead-lettered, skipped and late on the way.
type OperatorMetrics struct {
	Operator string
	ID       string
	Subtask  int
	// In counts the records the operator received; for a source, those it
	// read.
	In int64
	// Out counts the records it emitted; for a sink, those it wrote.
	Out int64
	// Filtered counts records a filter dropped.
	Filtered int64
	// DeadLettered and Skipped count failed records under those policies.
	DeadLettered int64
	Skipped      int64
	// Late counts records a window received after its allowed lateness.
	Late int64
	// Watermark is the event time the operator has been told no earlier
	// record will come: zero before the first watermark and after the end
	// of input. WatermarkLag is how far it was behind the wall clock when
	// read.
	Watermark    time.Time
	WatermarkLag time.Duration
	// Backpressured is how long the operator's output waited for room in
	// full queues to the next tasks: the time its task was held back by
	// slower ones downstream. Only an output that crosses to another task
	// can wait.
	Backpressured time.Duration
	// Connector holds the metrics the operator's connector and its open
	// split readers report (MetricsReporter), for a source or a sink.
	Connector []Metric
}

// counters are an operator subtask's counts: plain fields its task goroutine
// updates per record, and a copy the task publishes every few hundred
// milliseconds and when it ends, which Metrics reads.
type counters struct {
	in, out, filtered, dead, skipped, late int64
	pub                                    [6]atomic.Int64
	name, id                               string
	subtask                                int
	node                                   int
	// task and idx find the operator's watermark, outQueues its
	// backpressure; both are read only when metrics are, so records cost
	// nothing more for them.
	task      *runtime.Task
	idx       int
	outQueues []*runtime.Queue
	// reporters are a source's or sink's connector metrics reporters.
	reporters reporters
}

// Publish implements runtime.Publisher.
func (c *counters) Publish() {
	for i, v := range [6]int64{c.in, c.out, c.filtered, c.dead, c.skipped, c.late} {
		c.pub[i].Store(v)
	}
}

func (c *counters) metrics(now time.Time) OperatorMetrics {
	m := OperatorMetrics{
		Operator: c.name, ID: c.id, Subtask: c.subtask,
		In: c.pub[0].Load(), Out: c.pub[1].Load(), Filtered: c.pub[2].Load(),
		DeadLettered: c.pub[3].Load(), Skipped: c.pub[4].Load(), Late: c.pub[5].Load(),
	}
	if c.task != nil {
		if wm := c.task.Watermark(c.idx); wm != runtime.MinWatermark && wm != runtime.MaxWatermark {
			m.Watermark = time.UnixMilli(wm)
			m.WatermarkLag = now.Sub(m.Watermark)
		}
	}
	for _, q := range c.outQueues {
		m.Backpressured += q.Blocked()
	}
	m.Connector = c.reporters.metrics()
	return m
}

// Metrics returns the counts of every operator subtask of the running (or
// finished) job, in graph order; while the job runs they lag by up to a
// quarter of a second.
func (e *Env) Metrics() []OperatorMetrics {
	e.running.Lock()
	cs := slices.Clone(e.running.counters)
	e.running.Unlock()
	slices.SortStableFunc(cs, func(a, b *counters) int {
		if a.node != b.node {
			return a.node - b.node
		}
		return a.subtask - b.subtask
	})
	out := make([]OperatorMetrics, len(cs))
	now := time.Now()
	for i, c := range cs {
		out[i] = c.metrics(now)
	}
	return out
}

// errNoDeadLetters is the mistake of asking for dead letters without saying
// where they go.
var errNoDeadLetters = errors.New("the dead-letter error policy needs a dead-letter output (DeadLetters)")

// handle applies the operator's error policy to err, which its user code
// returned for the record v: the job's error under FailJob, nil after
// writing or counting the record otherwise.
func (o *opBase) handle(err error, v any) error {
	switch o.policy {
	case DeadLetter:
		l := deadLetter{Time: time.Now().UTC(), Operator: o.name, OperatorID: o.id, Subtask: o.task.Subtask,
			Error: err.Error(), Record: v}
		if info, ok := o.task.Origins.Lookup(o.meta.Origin); ok {
			off := o.meta.Origin.Offset
			l.Source, l.Split = info.Source, info.Split
			if info.Unit == lineUnit {
				l.Line = &off
			} else {
				l.Offset = &off
			}
		}
		if werr := o.dead.write(l); werr != nil {
			return o.task.RecordError(o.idx, fmt.Errorf("%w (and writing the dead letter failed: %v)", err, werr))
		}
		o.c.dead++
		return nil
	case Skip:
		o.c.skipped++
		return nil
	}
	return o.task.RecordError(o.idx, err)
}

var _ runtime.Publisher = (*counters)(nil)
