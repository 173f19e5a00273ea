package weir

import (
	"errors"
	"fmt"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// DefaultWatermarkInterval is the watermark interval of a job that sets
// none (WatermarkInterval): Flink's autoWatermarkInterval.
const DefaultWatermarkInterval = 200 * time.Millisecond

// WatermarkInterval bounds how long, in processing time, a watermark may
// wait inside one poll of a source or one input batch (default
// DefaultWatermarkInterval). A source sends its watermark after every poll
// of its splits, which reads up to BatchSize records per split, and a
// timestamp step that makes its own watermark (AssignTime) after every
// input batch; within a poll or a batch they send it again once d has
// passed since they last did, looking at the clock every 64 records. A
// poll or batch that takes long — a slow operator chained to the source, a
// full queue downstream — then still moves event time on. With d = 0 they
// send it after every record, so that a small input (a file of a few
// hundred lines, read in one or two polls) sees its watermark advance
// record by record; each watermark sends the partial batches of the
// task's outputs, so this costs throughput.
func WatermarkInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.watermarkInterval = d })
}

// assignTimeKind is the node kind of AssignTime.
const assignTimeKind = "assign-time"

// AssignTime gives each record of s the event time ts returns for it and
// makes the watermark of the operators after it, allowing records to come
// up to bound out of order: the watermark is the largest event time seen
// minus bound, minus one millisecond (a bound of zero suits monotonic
// input). It is the step for a time that is in the decoded record, such
// as a field of a JSON line parsed by TryMap; the source option EventTime
// suits a time that is in the raw record, and cannot fail.
//
// A record for which ts returns an error, the zero time.Time or a time
// outside MinEventTime…MaxEventTime meets the step's error policy (OnError):
// FailJob fails the job naming the step and the record's origin;
// DeadLetter writes the record and the error, naming the step, and goes
// on; Skip counts it and goes on. Such a record moves no watermark.
//
// The watermark it makes replaces the one it receives (only the final
// watermark at the end of a bounded input passes through). Chained to its
// source through Map, TryMap and Filter steps only — decode, drop, then
// assign time — the step keeps one watermark per source split, as
// EventTime does, and the subtask's watermark is the minimum over its
// active splits: a slow split holds it back instead of finding its
// records late, IdleTimeout marks a quiet split idle, a reader's own
// watermarks (SourceOutput.Watermark) still count, and each split's
// watermark is checkpointed with its position. Anywhere else (behind an
// exchange, after FlatMap or a keyed function, or with DisableChaining),
// the step makes one watermark per subtask from the records it sees, as
// Flink's assignTimestampsAndWatermarks does; it then starts a chain of
// its own unless every operator before it in its chain has no other
// output, and its watermark starts over after a restore. When its input
// is idle, so is its output.
//
// How often the watermark is sent is WatermarkInterval's.
func (s Stream[T]) AssignTime(ts func(T) (time.Time, error), bound time.Duration) Stream[T] {
	if bound < 0 {
		s.n.env.fail(fmt.Errorf("AssignTime after %q: bound %v must not be negative", s.n.displayName(), bound))
	}
	n := oneInput(s, assignTimeKind)
	n.fanout = fanoutOf[T]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &assignTimeOp[T]{
			opBase: newOpBase(b), fn: ts, bound: bound.Milliseconds(),
			next: b.main.(runtime.Pusher[T]), maxTs: runtime.MinWatermark,
			progress: newWatermarkPacer(b.cfg.watermarkInterval),
		}
		if b.clock != nil {
			// Read per split by the source at the head of the chain.
			b.clock.bound = op.bound
			op.clock = b.clock
			return op, op, nil
		}
		g := &generatingTimeOp[T]{op}
		return g, g, nil
	}
	return Stream[T]{n: n}
}

// errZeroTime is what a record whose event time is the zero time.Time gets:
// a parse that failed without saying so, most often.
var errZeroTime = errors.New("event time is the zero time.Time (year 1): the time function found no time in the record")

// splitClock links a per-split AssignTime step to the source at the head
// of its chain: the source points maxTs at the largest event time of the
// split it is polling, and the step raises it, record by record, while
// the poll pushes the split's records through the chain.
type splitClock struct {
	bound int64
	maxTs *int64
}

// assignTimeOp is AssignTime's operator. With a clock it reports event
// times to the source's split being read; without one it is a
// generatingTimeOp.
type assignTimeOp[T any] struct {
	opBase
	fn       func(T) (time.Time, error)
	bound    int64
	next     runtime.Pusher[T]
	clock    *splitClock
	maxTs    int64 // the largest event time seen, without a clock
	seen     int   // records stamped, which pace the watermark
	progress watermarkPacer
}

func (o *assignTimeOp[T]) Push(v T) error {
	o.enter()
	o.c.in++
	t, err := o.fn(v)
	var ts int64
	switch {
	case err != nil:
	case t.IsZero():
		err = errZeroTime
	default:
		if ts = t.UnixMilli(); !runtime.EventTimeInRange(ts) {
			err = errEventTimeRange(ts)
		}
	}
	if err != nil {
		return o.handle(err, v)
	}
	o.meta.Ts = ts
	if o.clock != nil {
		if m := o.clock.maxTs; m != nil && ts > *m {
			*m = ts
		}
	} else if ts > o.maxTs {
		o.maxTs = ts
	}
	o.c.out++
	o.seen++
	return o.next.Push(v)
}

// generatingTimeOp is an AssignTime step that makes its subtask's
// watermark from the records it sees.
type generatingTimeOp[T any] struct {
	*assignTimeOp[T]
}

func (o *generatingTimeOp[T]) Push(v T) error {
	if err := o.assignTimeOp.Push(v); err != nil {
		return err
	}
	if o.seen%o.progress.chunk == 0 {
		if now, due := o.progress.due(); due {
			return o.task.WatermarkProgress(now)
		}
	}
	return nil
}

// GeneratedWatermark implements runtime.WatermarkGenerator.
func (o *generatingTimeOp[T]) GeneratedWatermark(in int64) int64 {
	o.progress.sent(time.Now())
	switch {
	case in == runtime.MaxWatermark:
		return in
	case o.maxTs == runtime.MinWatermark:
		// Nothing seen yet: no watermark, whatever came in.
		return runtime.MinWatermark
	}
	return o.maxTs - o.bound - 1
}

// watermarkPacer decides when a watermark is due within a poll or a batch
// (WatermarkInterval): its owner asks due after every chunk of records.
type watermarkPacer struct {
	interval time.Duration
	chunk    int
	last     time.Time
}

// watermarkPaceRecords is how many records go by between two looks at the
// clock, unless the interval is zero: reading it costs about as much as a
// record through a short chain.
const watermarkPaceRecords = 64

func newWatermarkPacer(interval time.Duration) watermarkPacer {
	p := watermarkPacer{interval: interval, chunk: watermarkPaceRecords, last: time.Now()}
	if interval == 0 {
		p.chunk = 1
	}
	return p
}

// due reports whether a watermark is due, with the time then. It reads
// only the monotonic clock until one is: time.Since of a time.Now reading
// costs one clock read, time.Now two.
func (p *watermarkPacer) due() (time.Time, bool) {
	if time.Since(p.last) < p.interval {
		return time.Time{}, false
	}
	return time.Now(), true
}

// sent notes that a watermark was taken at now.
func (p *watermarkPacer) sent(now time.Time) { p.last = now }
