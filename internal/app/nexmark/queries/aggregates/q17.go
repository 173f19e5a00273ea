package aggregates

import (
	"fmt"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q17 is auction statistics per (auction, UTC day): the number of bids,
// overall and per price rank, and the minimum, maximum, average (truncated)
// and sum of their prices.
//
// Half of the bids go to the hot auction, so one key per day takes half of
// the load; each bid costs one value-state read and write there, and
// nothing can be combined before the exchange without holding bids back, so
// there is no pre-aggregation.
var Q17 = job.Query{Name: "q17", Title: "auction statistics per day", Updating: true, Build: buildQ17}

// auctionDay is Q17's group key.
type auctionDay struct {
	Auction int64
	Day     int64
}

// auctionBid is what Q17 needs of a bid.
type auctionBid struct {
	auctionDay
	Price int64
}

// auctionStats are the aggregates of one Q17 group. Ranks counts the bids of
// price rank r at index r (index 0 is unused).
type auctionStats struct {
	Total, Min, Max, Sum int64
	Ranks                [4]int64
}

// auctionRow is one row of Q17.
type auctionRow struct {
	auctionDay
	auctionStats
}

func buildQ17(c *job.Context) error {
	bids := weir.Map(c.Bids(), func(b nexmark.Bid) auctionBid {
		return auctionBid{auctionDay{b.Auction, dayOf(b.DateTime)}, b.Price}
	}).Name("q17 auction, day")
	keyed := weir.KeyBy(bids, func(b auctionBid) auctionDay { return b.auctionDay })
	rows := weir.Process(keyed, &q17Fn{}).Name("q17 per auction and day")
	job.EmitChanges(c, rows, func(dst []byte, a auctionRow) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", a.Auction)
		r.Str("day", dayString(a.Day))
		r.Int("total_bids", a.Total)
		r.Int("rank1_bids", a.Ranks[1])
		r.Int("rank2_bids", a.Ranks[2])
		r.Int("rank3_bids", a.Ranks[3])
		r.Int("min_price", a.Min)
		r.Int("max_price", a.Max)
		// AVG over BIGINT is a BIGINT: truncated toward zero, as Go's
		// division.
		r.Int("avg_price", a.Sum/a.Total)
		r.Int("sum_price", a.Sum)
		return r.End()
	})
	return nil
}

// q17Fn keeps one (auction, day)'s statistics and emits its row each time a
// bid changes it.
type q17Fn struct {
	stats weir.ValueState[auctionDay, auctionStats]
}

// Open declares the state.
func (f *q17Fn) Open(c weir.KeyedOpenContext[auctionDay]) error {
	f.stats = weir.Value[auctionStats](c, "stats")
	return nil
}

// Process adds one bid to its group's statistics.
func (f *q17Fn) Process(c weir.KeyedContext[auctionDay], b auctionBid, out weir.Out[job.Change[auctionRow]]) error {
	old, existed, err := f.stats.Get(c)
	if err != nil {
		return fmt.Errorf("q17: stats state: %w", err)
	}
	cur := old
	if !existed {
		cur.Min, cur.Max = b.Price, b.Price
	}
	cur.Total++
	cur.Ranks[priceRank(b.Price)]++
	cur.Min, cur.Max = min(cur.Min, b.Price), max(cur.Max, b.Price)
	cur.Sum += b.Price
	if err := f.stats.Set(c, cur); err != nil {
		return fmt.Errorf("q17: stats state: %w", err)
	}
	emitChange(out, existed, auctionRow{b.auctionDay, old}, auctionRow{b.auctionDay, cur})
	return nil
}
