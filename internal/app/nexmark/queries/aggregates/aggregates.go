// Package aggregates holds the Nexmark queries that are unbounded group
// aggregates over the bids, each an updating result (a Flink-style
// changelog: +I for a group's first row, then -U old / +U new on every
// change):
//
//   - q15: bidding statistics per day,
//   - q16: channel statistics per (channel, day),
//   - q17: auction statistics per (auction, day),
//   - q18: the last bid per (bidder, auction), a keep-last-row
//     deduplication,
//   - q19: the top 10 bids per auction.
//
// Their state is unbounded by the queries' semantics: a group (a day, an
// auction, a bidder and auction) may get another bid at any time, however
// old, and the reference keeps every group for ever, so no watermark ever
// makes a group's state useless and none is evicted. What each group keeps
// is small and fixed (counters, one bid, at most ten bids), except the
// distinct bidder and auction sets of q15 and q16, which grow with the
// distinct values of their day.
package aggregates

import (
	"fmt"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// msPerDay is the length of a UTC day in milliseconds.
const msPerDay = 24 * 60 * 60 * 1000

// dayOf returns the number of the UTC day ms falls in, counted from the
// Unix epoch (floor division, so times before 1970 fall in negative days).
func dayOf(ms int64) int64 {
	d := ms / msPerDay
	if ms%msPerDay < 0 {
		d--
	}
	return d
}

// minuteOf returns the minute of its UTC day ms falls in, 0 to 1439: what
// DATE_FORMAT(ms, 'HH:mm') shows, as a number.
func minuteOf(ms int64) int32 {
	return int32((ms - dayOf(ms)*msPerDay) / 60_000)
}

// dayString returns DATE_FORMAT of day's first millisecond as
// 'yyyy-MM-dd' (UTC), the reference's day column.
func dayString(day int64) string {
	return time.UnixMilli(day * msPerDay).UTC().Format("2006-01-02")
}

// minuteString returns a minute of the day (0 to 1439) as 'HH:mm'.
func minuteString(m int32) string {
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// priceRank returns the reference's price bucket of price: 1 below 10 000,
// 2 from 10 000 to below 1 000 000, 3 from 1 000 000.
func priceRank(price int64) uint8 {
	switch {
	case price < 10_000:
		return 1
	case price < 1_000_000:
		return 2
	default:
		return 3
	}
}

// emitChange emits the change of one group's row from old to cur: +I cur
// when the group had no row (existed false), nothing when the row did not
// change, and otherwise -U old, then +U cur.
func emitChange[T comparable](out weir.Out[job.Change[T]], existed bool, old, cur T) {
	switch {
	case !existed:
		out.Emit(job.Change[T]{Op: job.Insert, Row: cur})
	case old != cur:
		out.Emit(job.Change[T]{Op: job.UpdateBefore, Row: old})
		out.Emit(job.Change[T]{Op: job.UpdateAfter, Row: cur})
	}
}
