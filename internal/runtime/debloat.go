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
//
// The rate is the consumer's while it has something to read: records
// polled over the time the queue held messages. A queue that waits empty
// (a source slower than its consumer, the start of a job, the pause
// between two windows' output) lowers no limit, so a channel whose
// consumer keeps up keeps full batches.
type debloat struct {
	target time.Duration
	now    func() time.Time
	// batchLimit is read by the producer with every batch it starts.
	batchLimit atomic.Int64
	// Guarded by the queue's mu.
	start   time.Time     // of the window
	records int           // polled in the window
	busy    time.Duration // the window's time with messages queued, up to since
	since   time.Time     // when the queue last became non-empty, or when the window began while it was
}

// recordCounter is implemented by every *Batch[T].
type recordCounter interface{ Len() int }

// Len returns the number of records in b.
func (b *Batch[T]) Len() int { return len(b.Recs) }

// SetInFlightTarget makes q ask its producer for batches small enough that
// a full queue holds about what its consumer reads in target, re-measured
// every 200 ms from the records the consumer polls while q holds messages
// (BatchLimit). It must be called before the queue is used; a zero target
// or an unbounded queue keeps the producer's batch size.
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

// filledLocked notes that a Put made the queue non-empty.
func (d *debloat) filledLocked() { d.since = d.now() }

// polledLocked counts the records of a polled message and the time the
// queue held messages and, once a window has passed, sets the batch limit
// so that capacity batches hold what the consumer reads in target at the
// window's rate. last says the poll empties the queue.
func (d *debloat) polledLocked(q *Queue, m Message, last bool) {
	if b, ok := m.Batch.(recordCounter); ok {
		d.records += b.Len()
	}
	now := d.now()
	if last {
		d.busy += now.Sub(d.since)
		d.since = now
	}
	if now.Sub(d.start) < debloatWindow {
		return
	}
	if !last {
		d.busy += now.Sub(d.since)
		d.since = now
	}
	switch {
	case d.busy > 0:
		perSecond := float64(d.records) / d.busy.Seconds()
		limit := math.Ceil(perSecond * d.target.Seconds() / float64(q.capacity))
		if limit >= math.MaxInt64 {
			d.batchLimit.Store(math.MaxInt64)
		} else {
			d.batchLimit.Store(max(int64(limit), 1))
		}
	case d.records > 0:
		// Read as soon as they came: the consumer keeps up.
		d.batchLimit.Store(math.MaxInt64)
	}
	d.start, d.records, d.busy = now, 0, 0
}
