package weir

import (
	"fmt"
	"time"
)

// TriggerResult says what a trigger wants done with a key's global window.
type TriggerResult uint8

const (
	// Continue keeps collecting.
	Continue TriggerResult = iota
	// Fire emits the window's result and keeps its contents.
	Fire
	// Purge drops the window's contents without emitting.
	Purge
	// FireAndPurge emits the result, then drops the contents.
	FireAndPurge
)

// TriggerContext is what a trigger can ask and do: the time, and timers for
// the current key (OnTime is called when they fire).
type TriggerContext interface {
	Watermark() time.Time
	ProcessingTime() time.Time
	Timers() Timers
}

// Trigger decides when a key's global window fires. It is called for every
// record added, with the number of records in the window so far, and for
// every timer it registered — also for a timer registered for contents
// purged since, so a trigger that purges deletes its timers (Timers) or
// checks the time it is called for.
//
// Assert that your type implements it where the type is declared, so that
// the compiler names the method it lacks or gets wrong, with the type
// arguments spelled out (docs/errors.md):
//
//	var _ weir.Trigger[Event] = everyMinute{}
type Trigger[T any] interface {
	OnRecord(c TriggerContext, v T, count int64) TriggerResult
	OnTime(c TriggerContext, domain TimeDomain, at time.Time) TriggerResult
}

// CountTrigger fires and purges a key's global window every n records.
func CountTrigger[T any](n int64) Trigger[T] { return countTrigger[T]{n: n} }

type countTrigger[T any] struct{ n int64 }

func (t countTrigger[T]) OnRecord(_ TriggerContext, _ T, count int64) TriggerResult {
	if count >= t.n {
		return FireAndPurge
	}
	return Continue
}

func (countTrigger[T]) OnTime(TriggerContext, TimeDomain, time.Time) TriggerResult { return Continue }

// GlobalWindow keeps one window per key for all time and lets trigger
// decide when it fires and when it is purged; results carry the zero
// Window. agg's Merge is never called.
//
// F, agg's own type, is a type parameter rather than agg an
// AggregateFunction so that a compile error names the method agg lacks or
// gets wrong (docs/errors.md).
func GlobalWindow[K comparable, T, ACC, R any, F AggregateFunction[T, ACC, R]](ks KeyedStream[K, T], trigger Trigger[T], agg F) Stream[WindowResult[K, R]] {
	return globalWindowOf[K, T, ACC, R](ks, trigger, agg)
}

func globalWindowOf[K comparable, T, ACC, R any](ks KeyedStream[K, T], trigger Trigger[T], agg AggregateFunction[T, ACC, R]) Stream[WindowResult[K, R]] {
	if trigger == nil {
		ks.s.n.env.fail(fmt.Errorf("global window: a trigger is required"))
	}
	fn := &globalWindow[K, T, ACC, R]{trigger: trigger, agg: agg}
	return process(ks, KeyedProcessFunction[K, T, WindowResult[K, R]](fn)).Name("global-window")
}

// globalState is a key's global window: how many records and their
// accumulator.
type globalState[ACC any] struct {
	Count int64
	Acc   ACC
}

type globalWindow[K comparable, T, ACC, R any] struct {
	trigger Trigger[T]
	agg     AggregateFunction[T, ACC, R]
	st      ValueState[K, globalState[ACC]]
}

func (g *globalWindow[K, T, ACC, R]) Open(c KeyedOpenContext[K]) error {
	g.st = Value[globalState[ACC]](c, "global-window")
	return nil
}

func (g *globalWindow[K, T, ACC, R]) Process(c KeyedContext[K], v T, out Out[WindowResult[K, R]]) error {
	st, ok, err := g.st.Get(c)
	if err != nil {
		return err
	}
	if !ok {
		st.Acc = g.agg.CreateAccumulator()
	}
	st.Count++
	st.Acc = g.agg.Add(v, st.Acc)
	return g.apply(c, st, g.trigger.OnRecord(c, v, st.Count), out)
}

func (g *globalWindow[K, T, ACC, R]) OnTimer(c TimerContext[K], out Out[WindowResult[K, R]]) error {
	st, ok, err := g.st.Get(c)
	if err != nil || !ok {
		return err
	}
	return g.apply(c, st, g.trigger.OnTime(c, c.Domain(), c.Time()), out)
}

// apply does what the trigger asked and keeps the window's state.
func (g *globalWindow[K, T, ACC, R]) apply(c KeyedContext[K], st globalState[ACC], r TriggerResult, out Out[WindowResult[K, R]]) error {
	if r == Fire || r == FireAndPurge {
		out.Emit(WindowResult[K, R]{Key: c.Key(), Value: g.agg.Result(st.Acc)})
	}
	if r == Purge || r == FireAndPurge {
		return g.st.Clear(c)
	}
	return g.st.Set(c, st)
}
