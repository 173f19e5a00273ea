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
	return buffer(c, j.left, ta, v, ta+max(j.upper, 0))
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
	return buffer(c, j.right, tb, v, tb-min(j.lower, 0))
}

// buffer keeps v, at event time ts, on its side until the watermark passes
// until, when a timer evicts it.
func buffer[K comparable, X any](c KeyedContext[K], side MapState[K, int64, []X], ts int64, v X, until int64) error {
	xs, _, err := side.Get(c, ts)
	if err != nil {
		return err
	}
	// A new slice: the one in state may be held by a snapshot.
	if err := side.Put(c, ts, append(append([]X(nil), xs...), v)); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(until))
}

// evict removes the entries of a side whose time plus slack the watermark
// wm has passed.
func evict[K comparable, X any](c KeyedContext[K], side MapState[K, int64, []X], slack, wm int64) error {
	var old []int64
	for ts := range side.All(c) {
		if ts+slack <= wm {
			old = append(old, ts)
		}
	}
	for _, ts := range old {
		if err := side.Delete(c, ts); err != nil {
			return err
		}
	}
	return nil
}

// OnTimer evicts what can no longer join: a left record once the watermark
// passes its time plus upper, a right one once it passes its time minus
// lower.
func (j *intervalJoin[K, A, B, R]) OnTimer(c TimerContext[K], _ Out[R]) error {
	wm := c.Time().UnixMilli()
	if err := evict(c, j.left, max(j.upper, 0), wm); err != nil {
		return err
	}
	return evict(c, j.right, -min(j.lower, 0), wm)
}
