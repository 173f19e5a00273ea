package bench

import (
	"context"
	"time"

	"github.com/weirstream/weir"
)

// joinKeys is the key space of the join benchmark: with 100 000 events per
// second of event time, a key has an event every millisecond.
const joinKeys = 100

func joinKey(e Event) int64 { return e.Key % joinKeys }

// IntervalJoinCount joins two copies of the generated stream on joinKey for
// events at most 2 ms apart, at parallelism p, over n events (n/2 a side),
// and counts the pairs.
func IntervalJoinCount(n int64, p int) (Result, Totals, error) {
	env := weir.New(weir.Parallelism(p))
	side := func() weir.Stream[Event] {
		return weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n / 2, Splits: p}, Gen), weir.EventTime(eventTime, 0))
	}
	pairs := weir.IntervalJoin(weir.KeyBy(side(), joinKey), weir.KeyBy(side(), joinKey),
		-2*time.Millisecond, 2*time.Millisecond, func(a, _ Event) Event { return Event{Key: joinKey(a), Value: 1} })
	sink := newTotalSink()
	weir.To(pairs, weir.Sink[Event](sink))
	r, err := measure(n, func() error { return env.Run(context.Background()) })
	return r, *sink.total, err
}

// IntervalJoinCountCeiling is IntervalJoinCount by hand, in one pass over
// the stream in event-time order: per key the times of its recent events;
// an event pairs with itself (one copy on each side) and twice with each
// earlier event at most 2 ms before it (left-right and right-left).
func IntervalJoinCountCeiling(n int64) (Result, Totals) {
	var t Totals
	r, _ := measure(n, func() error {
		recent := make(map[int64][]int64, joinKeys)
		for seq := range n / 2 {
			e := Gen(seq)
			k, ts := joinKey(e), eventTime(e).UnixMilli()
			keep := recent[k][:0]
			for _, o := range recent[k] {
				if ts-o <= 2 {
					keep = append(keep, o)
				}
			}
			for range 2*len(keep) + 1 {
				t.add(Event{Key: k, Value: 1})
			}
			recent[k] = append(keep, ts)
		}
		return nil
	})
	return r, t
}
