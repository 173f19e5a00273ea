package aggregates

import (
	"fmt"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q15 is bidding statistics per day: per UTC day, the number of bids and of
// distinct bidders and auctions, over all bids and in each of the three
// price ranks (below 10 000, below 1 000 000, the rest).
//
// The day is one hot key: every bid of a day goes to one subtask. The
// counts are kept in one keyed operator by day, with the distinct bidders
// and auctions of the day in map state (the ranks each was seen in, as a
// bit mask), so each bid costs a few map operations there. An exact
// two-phase aggregation would need one exchange keyed by (day, bidder) to
// count the distinct bidders and another keyed by (day, auction) for the
// auctions before the per-day sum, and every bid would still reach the day's
// subtask, since each one changes total_bids; it would only move the map
// operations off the hot subtask, at the cost of two more exchanges, so it
// is not done.
var Q15 = job.Query{Name: "q15", Title: "bidding statistics per day", Updating: true, Build: buildQ15}

// Q16 is channel statistics per (channel, day): Q15's counts per channel
// and UTC day, and the latest minute of the day ('HH:mm') a bid was made.
// Half of the bids go to four hot channels, so four keys per day take half
// of the load; the operator is Q15's.
var Q16 = job.Query{Name: "q16", Title: "channel statistics per day", Updating: true, Build: buildQ16}

// dayBid is what Q15 and Q16 need of a bid: it crosses the exchange
// instead of the whole bid.
type dayBid struct {
	Channel string // Q16 only
	Day     int64  // dayOf(dateTime)
	Bidder  int64
	Auction int64
	Minute  int32 // minuteOf(dateTime)
	Rank    uint8 // priceRank(price)
}

// channelDay is Q16's group key.
type channelDay struct {
	Channel string
	Day     int64
}

// dayCounts are the aggregates of one Q15 or Q16 group: index 0 counts all
// bids, index r the bids of price rank r.
type dayCounts struct {
	Bids     [4]int64
	Bidders  [4]int64 // distinct
	Auctions [4]int64 // distinct
	Minute   int32    // the greatest minuteOf (Q16)
}

// dayRow is one row of Q15 (Channel empty) or Q16.
type dayRow struct {
	Channel string
	Day     int64
	dayCounts
}

func toDayBid(channel bool) func(b nexmark.Bid) dayBid {
	return func(b nexmark.Bid) dayBid {
		d := dayBid{Day: dayOf(b.DateTime), Bidder: b.Bidder, Auction: b.Auction,
			Minute: minuteOf(b.DateTime), Rank: priceRank(b.Price)}
		if channel {
			d.Channel = b.Channel
		}
		return d
	}
}

func buildQ15(c *job.Context) error {
	bids := weir.Map(c.Bids(), toDayBid(false)).Name("q15 day")
	keyed := weir.KeyBy(bids, func(b dayBid) int64 { return b.Day })
	rows := weir.Process(keyed, &dayStatsFn[int64]{query: "q15"}).Name("q15 per day")
	job.EmitChanges(c, rows, func(dst []byte, d dayRow) []byte {
		r := job.BeginRow(dst)
		r.Str("day", dayString(d.Day))
		appendCounts(&r, &d.dayCounts)
		return r.End()
	})
	return nil
}

func buildQ16(c *job.Context) error {
	bids := weir.Map(c.Bids(), toDayBid(true)).Name("q16 channel, day")
	keyed := weir.KeyBy(bids, func(b dayBid) channelDay { return channelDay{b.Channel, b.Day} })
	rows := weir.Process(keyed, &dayStatsFn[channelDay]{query: "q16"}).Name("q16 per channel and day")
	job.EmitChanges(c, rows, func(dst []byte, d dayRow) []byte {
		r := job.BeginRow(dst)
		r.Str("channel", d.Channel)
		r.Str("day", dayString(d.Day))
		r.Str("minute", minuteString(d.Minute))
		appendCounts(&r, &d.dayCounts)
		return r.End()
	})
	return nil
}

// appendCounts appends the count columns Q15 and Q16 share.
func appendCounts(r *job.Row, c *dayCounts) {
	r.Int("total_bids", c.Bids[0])
	r.Int("rank1_bids", c.Bids[1])
	r.Int("rank2_bids", c.Bids[2])
	r.Int("rank3_bids", c.Bids[3])
	r.Int("total_bidders", c.Bidders[0])
	r.Int("rank1_bidders", c.Bidders[1])
	r.Int("rank2_bidders", c.Bidders[2])
	r.Int("rank3_bidders", c.Bidders[3])
	r.Int("total_auctions", c.Auctions[0])
	r.Int("rank1_auctions", c.Auctions[1])
	r.Int("rank2_auctions", c.Auctions[2])
	r.Int("rank3_auctions", c.Auctions[3])
}

// dayStatsFn keeps the counts of one Q15 or Q16 group (key K) and emits
// the group's row each time a bid changes it.
type dayStatsFn[K comparable] struct {
	query string // for errors

	counts weir.ValueState[K, dayCounts]
	// bidders and auctions map each distinct bidder and auction of the
	// group to the set of ranks it has been seen in: bit 0 for any rank,
	// bit r for rank r.
	bidders  weir.MapState[K, int64, uint8]
	auctions weir.MapState[K, int64, uint8]
}

// Open declares the state.
func (f *dayStatsFn[K]) Open(c weir.KeyedOpenContext[K]) error {
	f.counts = weir.Value[dayCounts](c, "counts")
	f.bidders = weir.MapOf[int64, uint8](c, "bidders")
	f.auctions = weir.MapOf[int64, uint8](c, "auctions")
	return nil
}

// Process adds one bid to its group's counts.
func (f *dayStatsFn[K]) Process(c weir.KeyedContext[K], b dayBid, out weir.Out[job.Change[dayRow]]) error {
	old, existed, err := f.counts.Get(c)
	if err != nil {
		return fmt.Errorf("%s: counts state: %w", f.query, err)
	}
	cur := old
	ranks := uint8(1) | 1<<b.Rank
	added, err := addDistinct(c, f.bidders, b.Bidder, ranks)
	if err != nil {
		return fmt.Errorf("%s: bidders state: %w", f.query, err)
	}
	countRanks(&cur.Bidders, added)
	if added, err = addDistinct(c, f.auctions, b.Auction, ranks); err != nil {
		return fmt.Errorf("%s: auctions state: %w", f.query, err)
	}
	countRanks(&cur.Auctions, added)
	cur.Bids[0]++
	cur.Bids[b.Rank]++
	if !existed || b.Minute > cur.Minute {
		cur.Minute = b.Minute
	}
	if err := f.counts.Set(c, cur); err != nil {
		return fmt.Errorf("%s: counts state: %w", f.query, err)
	}
	emitChange(out, existed, dayRow{Channel: b.Channel, Day: b.Day, dayCounts: old},
		dayRow{Channel: b.Channel, Day: b.Day, dayCounts: cur})
	return nil
}

// addDistinct records that id was seen in ranks (a bit set) and returns the
// ranks it had not been seen in before.
func addDistinct[K comparable](c weir.KeyedContext[K], s weir.MapState[K, int64, uint8], id int64, ranks uint8) (uint8, error) {
	seen, _, err := s.Get(c, id)
	if err != nil {
		return 0, err
	}
	added := ranks &^ seen
	if added == 0 {
		return 0, nil
	}
	return added, s.Put(c, id, seen|ranks)
}

// countRanks adds one to the distinct count of each rank in the bit set
// added.
func countRanks(n *[4]int64, added uint8) {
	for i := range n {
		if added&(1<<i) != 0 {
			n[i]++
		}
	}
}
