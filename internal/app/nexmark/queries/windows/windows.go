// Package windows holds the Nexmark queries built on time windows: q5 (hot
// items), q7 (highest bid), q8 (new users), q11 (user sessions) and q12
// (processing-time windows).
//
// Every query reads the job's event stream once through a FlatMap that keeps
// only the columns it needs, so the records crossing an exchange are small,
// and its state is dropped by event-time timers once the watermark makes it
// useless (q12: once its processing-time window has fired).
package windows

import (
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// count is the AggregateFunction that counts records.
type count[T any] struct{}

// CreateAccumulator starts a count at zero.
func (count[T]) CreateAccumulator() int64 { return 0 }

// Add counts one record.
func (count[T]) Add(_ T, n int64) int64 { return n + 1 }

// Result is the count.
func (count[T]) Result(n int64) int64 { return n }

// Merge adds two counts.
func (count[T]) Merge(a, b int64) int64 { return a + b }

// floorMod is a mod b in [0, b), also for negative a (b > 0).
func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// tumbleStart returns the start of the epoch-aligned window of size ms
// that holds t.
func tumbleStart(t, size int64) int64 { return t - floorMod(t, size) }

// bidColumn returns one column of every bid of c's events (col reads it),
// as a stream named name; other events are dropped.
func bidColumn(c *job.Context, name string, col func(b *nexmark.Bid) int64) weir.Stream[int64] {
	return weir.FlatMap(c.Events(), func(e nexmark.Event, out weir.Out[int64]) error {
		if e.Kind == nexmark.KindBid {
			out.Emit(col(&e.Bid))
		}
		return nil
	}).Name(name)
}
