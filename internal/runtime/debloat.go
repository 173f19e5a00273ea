package runtime

import (
	"math"
	"sync/atomic"
	"time"
)

// debloatWindow is how often a debloating queue re-measures its consumer's
// rate: long enough to average a few batches of a slow consumer, short
// enough to follow a change of rate within a checkpoint interval.
const debloatWindow = 200 * time.Millisecond

// debloat bounds a queue's in-flight records by time rather than by a fixed
// number of full batches, as Flink's buffer debloating does. A checkpoint
// barrier waits behind everything queued before it, so under backpressure
// the records a channel holds decide how long aligned checkpoints take;
// what matters is the time the consumer needs to read them. The queue keeps
// its capacity in messages and the producer sends smaller batches.
type debloat struct {
	target time.Duration
	now    func() time.Time
	// batchLimit is read by the producer with every record it adds.
	batchLimit atomic.Int64
	// Guarded by the queue's mu.
	start   time.Time
	records int
}

// recordCounter is implemented by every *Batch[T].
type recordCounter interface{ Len() int }

// Len returns the number of records in b.
func (b *Batch[T]) Len() int { return len(b.Recs) }

// SetInFlightTarget makes q ask its producer for batches small enough that
// a full queue holds about what its consumer reads in target, re-measured
// every 200 ms from the records the consumer polls (BatchLimit). It must be
// called before the queue is used; a zero target or an unbounded queue
// keeps the producer's batch size.
func (q *Queue) SetInFlightTarget(target time.Duration) { q.setInFlightTarget(target, time.Now) }

func (q *Queue) setInFlightTarget(target time.Duration, now func() time.Time) {
	if target <= 0 || q.capacity == 0 {
		return
	}
	q.debloat = &debloat{target: target, now: now, start: now()}
	q.debloat.batchLimit.Store(math.MaxInt64)
}

// InFlightTarget returns the target q was given with SetInFlightTarget, or
// zero when q does not debloat.
func (q *Queue) InFlightTarget() time.Duration {
	if q.debloat == nil {
		return 0
	}
	return q.debloat.target
}

// Debloats reports whether q limits the batches sent into it.
func (q *Queue) Debloats() bool { return q.debloat != nil }

// BatchLimit returns how many records a batch sent into q should hold at
// most: unlimited (math.MaxInt64) unless the queue debloats.
func (q *Queue) BatchLimit() int64 {
	if q.debloat == nil {
		return math.MaxInt64
	}
	return q.debloat.batchLimit.Load()
}

// polledLocked counts the records of a polled message and, once a window
// has passed, sets the batch limit so that capacity batches hold what the
// consumer read in target at the window's rate.
func (d *debloat) polledLocked(q *Queue, m Message) {
	if b, ok := m.Batch.(recordCounter); ok {
		d.records += b.Len()
	}
	now := d.now()
	elapsed := now.Sub(d.start)
	if elapsed < debloatWindow {
		return
	}
	perSecond := float64(d.records) / elapsed.Seconds()
	limit := int64(math.Ceil(perSecond * d.target.Seconds() / float64(q.capacity)))
	d.batchLimit.Store(max(limit, 1))
	d.start, d.records = now, 0
}
