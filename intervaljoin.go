package weir

import (
	"errors"
	"time"
)

// IntervalJoin joins each record a of the first stream with every record b
// of the second that has the same key and whose event time lies in
// [time(a)+lower, time(a)+upper], emitting join(a, b) with the event time
// of whichever of the two arrived second. Both sides are buffered in keyed state until the
// watermark passes the last time they could still join, when timers evict
// them. Records without an event time fail the job.
func IntervalJoin[K comparable, A, B, R any](a KeyedStream[K, A], b KeyedStream[K, B], lower, upper time.Duration, join func(A, B) R) Stream[R] {
	if lower > upper {
		a.s.n.env.fail(errors.New("interval join: lower bound after upper bound"))
	}
	fn := &intervalJoin[K, A, B, R]{lower: lower.Milliseconds(), upper: upper.Milliseconds(), join: join}
	return CoProcess(Connect(a, b), KeyedCoProcessFunction[K, A, B, R](fn)).Name("interval-join")
}

type intervalJoin[K comparable, A, B, R any] struct {
	lower, upper int64
	join         func(A, B) R
	left         MapState[K, int64, []A] // by event time
	right        MapState[K, int64, []B]
}

var errNoEventTime = errors.New("interval join: the record has no event time (set EventTime on its source)")

func (j *intervalJoin[K, A, B, R]) Open(c KeyedOpenContext[K]) error {
	j.left = MapOf[int64, []A](c, "left")
	j.right = MapOf[int64, []B](c, "right")
	return nil
}

func (j *intervalJoin[K, A, B, R]) Process1(c KeyedContext[K], v A, out Out[R]) error {
	t, ok := c.Timestamp()
	if !ok {
		return errNoEventTime
	}
	ta := t.UnixMilli()
	for tb, bs := range j.right.All(c) {
		if tb >= ta+j.lower && tb <= ta+j.upper {
			for _, b := range bs {
				out.Emit(j.join(v, b))
			}
		}
	}
	as, _, err := j.left.Get(c, ta)
	if err != nil {
		return err
	}
	// A new slice: the one in state may be held by a snapshot.
	if err := j.left.Put(c, ta, append(append([]A(nil), as...), v)); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(ta + max(j.upper, 0)))
}

func (j *intervalJoin[K, A, B, R]) Process2(c KeyedContext[K], v B, out Out[R]) error {
	t, ok := c.Timestamp()
	if !ok {
		return errNoEventTime
	}
	tb := t.UnixMilli()
	for ta, as := range j.left.All(c) {
		if tb >= ta+j.lower && tb <= ta+j.upper {
			for _, a := range as {
				out.Emit(j.join(a, v))
			}
		}
	}
	bs, _, err := j.right.Get(c, tb)
	if err != nil {
		return err
	}
	if err := j.right.Put(c, tb, append(append([]B(nil), bs...), v)); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(tb - min(j.lower, 0)))
}

// OnTimer evicts what can no longer join: a left record once the watermark
// passes its time plus upper, a right one once it passes its time minus
// lower.
func (j *intervalJoin[K, A, B, R]) OnTimer(c TimerContext[K], _ Out[R]) error {
	wm := c.Time().UnixMilli()
	var old []int64
	for ta := range j.left.All(c) {
		if ta+max(j.upper, 0) <= wm {
			old = append(old, ta)
		}
	}
	for _, ta := range old {
		if err := j.left.Delete(c, ta); err != nil {
			return err
		}
	}
	old = old[:0]
	for tb := range j.right.All(c) {
		if tb-min(j.lower, 0) <= wm {
			old = append(old, tb)
		}
	}
	for _, tb := range old {
		if err := j.right.Delete(c, tb); err != nil {
			return err
		}
	}
	return nil
}
