package bench

import (
	"context"
	"time"

	"github.com/weirstream/weir"
)

// count counts a window's records.
type count struct{}

func (count) CreateAccumulator() int64     { return 0 }
func (count) Add(_ Event, acc int64) int64 { return acc + 1 }
func (count) Result(acc int64) int64       { return acc }
func (count) Merge(a, b int64) int64       { return a + b }

// eventTime gives event seq the time seq/100 milliseconds: 100 000 events a
// second of event time, so a 1 s window holds about ten events of each of
// the 10 000 keys.
func eventTime(e Event) time.Time { return time.UnixMilli(e.Value / 100) }

// TumblingWindowCount counts each key's events in tumbling 1 s event-time
// windows at parallelism p, over n events. opts are added to the job's.
func TumblingWindowCount(n int64, p int, opts ...weir.Option) (Result, Totals, error) {
	return windowCount(n, p, weir.TumblingEventTime(time.Second), opts...)
}

// Sliding windows of the sliding benchmark: a record is in size/slide = 4
// windows.
const (
	slideSize  = 1000 // milliseconds
	slideEvery = 250  // milliseconds
)

// SlidingWindowCount counts each key's events in sliding event-time windows
// of 1 s every 250 ms at parallelism p, over n events.
func SlidingWindowCount(n int64, p int) (Result, Totals, error) {
	return windowCount(n, p, weir.SlidingEventTime(slideSize*time.Millisecond, slideEvery*time.Millisecond))
}

// windowCount counts each key's events in the windows a gives, at
// parallelism p, over n events. opts are added to the job's.
func windowCount(n int64, p int, a weir.WindowAssigner, opts ...weir.Option) (Result, Totals, error) {
	env := weir.New(append([]weir.Option{weir.Parallelism(p)}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Splits: p}, Gen), weir.EventTime(eventTime, 0))
	ws := weir.Windowed(weir.KeyBy(src, keyOf), a)
	counts := weir.Map(weir.Aggregate(ws, count{}), func(r weir.WindowResult[int64, int64]) Event {
		return Event{Key: r.Key, Value: r.Value}
	})
	sink := newTotalSink()
	weir.To(counts, weir.Sink[Event](sink))
	r, err := measure(n, func() error { return env.Run(context.Background()) })
	return r, *sink.total, err
}

// TumblingWindowCountCeiling is TumblingWindowCount by hand: one goroutine,
// a map per open window, windows emitted when the (monotonic) event time
// passes their end.
func TumblingWindowCountCeiling(n int64) (Result, Totals) {
	var t Totals
	r, _ := measure(n, func() error {
		open := map[int64]int64{}
		window := int64(-1)
		flush := func() {
			for k, c := range open {
				t.add(Event{Key: k, Value: c})
			}
			clear(open)
		}
		for seq := range n {
			e := Gen(seq)
			w := eventTime(e).UnixMilli() / 1000
			if w != window {
				flush()
				window = w
			}
			open[keyOf(e)]++
		}
		flush()
		return nil
	})
	return r, t
}

// SlidingWindowCountCeiling is SlidingWindowCount by hand: one goroutine,
// the open windows in order of their start, each with a map of counts
// (reused once its window is emitted); a window is emitted when the
// (monotonic) event time reaches its end.
func SlidingWindowCountCeiling(n int64) (Result, Totals) {
	var t Totals
	r, _ := measure(n, func() error {
		type window struct {
			start  int64
			counts map[int64]int64
		}
		var open []window // by start
		var spare []map[int64]int64
		flush := func(w window) {
			for k, c := range w.counts {
				t.add(Event{Key: k, Value: c})
			}
			clear(w.counts)
			spare = append(spare, w.counts)
		}
		newCounts := func() map[int64]int64 {
			if n := len(spare); n > 0 {
				m := spare[n-1]
				spare = spare[:n-1]
				return m
			}
			return map[int64]int64{}
		}
		for seq := range n {
			e := Gen(seq)
			ts := eventTime(e).UnixMilli()
			for len(open) > 0 && open[0].start+slideSize <= ts {
				flush(open[0])
				open = open[1:]
			}
			last := ts - ts%slideEvery
			if len(open) == 0 || open[len(open)-1].start < last {
				first := last - slideSize + slideEvery
				if len(open) > 0 {
					first = open[len(open)-1].start + slideEvery
				}
				for start := first; start <= last; start += slideEvery {
					open = append(open, window{start: start, counts: newCounts()})
				}
			}
			k := keyOf(e)
			for i := len(open) - 1; i >= 0 && open[i].start > ts-slideSize; i-- {
				open[i].counts[k]++
			}
		}
		for _, w := range open {
			flush(w)
		}
		return nil
	})
	return r, t
}

// SessionWindowCount counts each key's events in event-time sessions with a
// 150 ms gap (its events come every 100 ms: one session per key), at
// parallelism p, over n events.
func SessionWindowCount(n int64, p int) (Result, Totals, error) {
	return windowCount(n, p, weir.EventTimeSessions(150*time.Millisecond))
}

// SessionWindowCountCeiling is SessionWindowCount by hand: per key, the
// open session's end and count, closed when an event comes after the gap
// (events arrive in event-time order).
func SessionWindowCountCeiling(n int64) (Result, Totals) {
	var t Totals
	r, _ := measure(n, func() error {
		type session struct{ end, count int64 }
		open := map[int64]*session{}
		for seq := range n {
			e := Gen(seq)
			ts := eventTime(e).UnixMilli()
			s := open[e.Key]
			switch {
			case s == nil:
				open[e.Key] = &session{end: ts + 150, count: 1}
			case ts <= s.end: // sessions that touch merge, as Flink's do
				s.end, s.count = max(s.end, ts+150), s.count+1
			default:
				t.add(Event{Key: e.Key, Value: s.count})
				s.end, s.count = ts+150, 1
			}
		}
		for k, s := range open {
			t.add(Event{Key: k, Value: s.count})
		}
		return nil
	})
	return r, t
}
