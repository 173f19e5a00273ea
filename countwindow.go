package weir

import "fmt"

// CountWindow cuts each key's records into windows of size records and
// emits each window's aggregate as soon as it is full: with slide equal to
// size the windows tumble; with a smaller slide, the window of a key's last
// size records is emitted at every slide-th record of the key (the 1st
// window once it is full: with size 3 and slide 2, at records 4, 6, 8, …).
// A result's Window spans the event times of its records (the zero Window
// when they have none). A key's partial window stays in state until
// enough records arrive; it is not emitted at the end of the input. agg's
// Merge is never called.
//
// F, agg's own type, is a type parameter rather than agg an
// AggregateFunction so that a compile error names the method agg lacks or
// gets wrong (docs/errors.md).
func CountWindow[K comparable, T, ACC, R any, F AggregateFunction[T, ACC, R]](ks KeyedStream[K, T], size, slide int, agg F) Stream[WindowResult[K, R]] {
	return countWindow[K, T, ACC, R](ks, size, slide, agg)
}

func countWindow[K comparable, T, ACC, R any](ks KeyedStream[K, T], size, slide int, agg AggregateFunction[T, ACC, R]) Stream[WindowResult[K, R]] {
	if size <= 0 || slide <= 0 || slide > size {
		ks.s.n.env.fail(fmt.Errorf("count window: size %d and slide %d must be positive, slide at most size", size, slide))
	}
	if err := stateTypeErr[ACC]("count window accumulator"); err != nil {
		ks.s.n.env.fail(err)
	}
	if slide == size {
		return process(ks, KeyedProcessFunction[K, T, WindowResult[K, R]](&tumblingCount[K, T, ACC, R]{size: size, agg: agg})).Name("count-window")
	}
	return process(ks, KeyedProcessFunction[K, T, WindowResult[K, R]](&slidingCount[K, T, ACC, R]{size: size, slide: slide, agg: agg})).Name("count-window")
}

// countState is a tumbling count window in progress.
type countState[ACC any] struct {
	N     int
	First int64
	Last  int64
	Acc   ACC
}

type tumblingCount[K comparable, T, ACC, R any] struct {
	size int
	agg  AggregateFunction[T, ACC, R]
	st   ValueState[K, countState[ACC]]
}

func (f *tumblingCount[K, T, ACC, R]) Open(c KeyedOpenContext[K]) error {
	f.st = Value[countState[ACC]](c, "count-window")
	return nil
}

func (f *tumblingCount[K, T, ACC, R]) Process(c KeyedContext[K], v T, out Out[WindowResult[K, R]]) error {
	st, ok, err := f.st.Get(c)
	if err != nil {
		return err
	}
	ts := eventMillis(c)
	if !ok {
		st = countState[ACC]{Acc: f.agg.CreateAccumulator(), First: ts}
	}
	st.N++
	st.Last = ts
	st.Acc = f.agg.Add(v, st.Acc)
	if st.N < f.size {
		return f.st.Set(c, st)
	}
	out.Emit(WindowResult[K, R]{Key: c.Key(), Window: spanWindow(st.First, st.Last), Value: f.agg.Result(st.Acc)})
	return f.st.Clear(c)
}

// slidingCount keeps the last size records of each key and aggregates them
// every slide records.
type slidingCount[K comparable, T, ACC, R any] struct {
	size, slide int
	agg         AggregateFunction[T, ACC, R]
	recs        ListState[K, timed[T]]
	seen        ValueState[K, int64]
}

// timed is a record with its event time, kept in a sliding count window.
type timed[T any] struct {
	V  T
	Ts int64
}

func (f *slidingCount[K, T, ACC, R]) Open(c KeyedOpenContext[K]) error {
	f.recs = List[timed[T]](c, "count-window")
	f.seen = Value[int64](c, "records-seen")
	return nil
}

func (f *slidingCount[K, T, ACC, R]) Process(c KeyedContext[K], v T, out Out[WindowResult[K, R]]) error {
	recs, err := f.recs.Get(c)
	if err != nil {
		return err
	}
	recs = append(recs, timed[T]{V: v, Ts: eventMillis(c)})
	if len(recs) > f.size {
		recs = recs[len(recs)-f.size:]
	}
	// Update writes a new list, never into the one a snapshot may hold.
	if err := f.recs.Update(c, append([]timed[T](nil), recs...)); err != nil {
		return err
	}
	n, _, err := f.seen.Get(c)
	if err != nil {
		return err
	}
	n++
	if err := f.seen.Set(c, n); err != nil {
		return err
	}
	if n%int64(f.slide) != 0 || len(recs) < f.size {
		return nil
	}
	acc := f.agg.CreateAccumulator()
	for _, r := range recs {
		acc = f.agg.Add(r.V, acc)
	}
	out.Emit(WindowResult[K, R]{Key: c.Key(), Window: spanWindow(recs[0].Ts, recs[len(recs)-1].Ts), Value: f.agg.Result(acc)})
	return nil
}

// eventMillis returns the event time of the record at hand, or MinInt64.
func eventMillis[K comparable](c KeyedContext[K]) int64 {
	if t, ok := c.Timestamp(); ok {
		return t.UnixMilli()
	}
	return noTime
}

const noTime = -1 << 63

// spanWindow is the window from the first to the last event time of a count
// window's records; the zero Window when they have none.
func spanWindow(first, last int64) Window {
	if first == noTime || last == noTime {
		return Window{}
	}
	return Window{Start: min(first, last), End: max(first, last) + 1}
}
