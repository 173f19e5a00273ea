package joins

import (
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q4 is the average selling price per category: each auction's final
// price is the highest bid placed between its dateTime and its expires
// (inclusive), and each category's row is the average final price of its
// auctions, a BIGINT truncated toward zero. An updating result keyed by
// the category: a higher bid on one of its auctions changes the average.
var Q4 = job.Query{Name: "q4", Title: "average price per category", Updating: true, Build: buildQ4}

// q4In is one side of q4's join, keyed by the auction's id: an auction
// (IsAuction; its dateTime, expires and category) or a bid (its dateTime
// and price). Only the columns q4 reads cross the exchange.
type q4In struct {
	Key       int64 // the auction's id
	IsAuction bool
	DateTime  int64
	Expires   int64 // auction
	Category  int64 // auction
	Price     int64 // bid
}

// q4Auction is what q4 keeps of an auction: its life and category and its
// highest bid so far while it is open, then a tombstone (Closed) that drops
// the bids still coming for it (see tombstoneLinger).
type q4Auction struct {
	DateTime, Expires, Category int64
	Max                         int64
	HasMax                      bool
	Closed                      bool
	Until                       int64 // a tombstone's end of linger, in Unix ms
	Seen                        bool  // a bid came for the tombstone since it was last renewed
}

// q4Bid is a bid waiting for its auction.
type q4Bid struct{ Price, DateTime int64 }

// q4Change is a change of one auction's final price: from Old (if HasOld)
// to New.
type q4Change struct {
	Category int64
	Old, New int64
	HasOld   bool
}

// q4Avg is one result row.
type q4Avg struct{ category, avg int64 }

// buildQ4 is Q4.Build: q4Stream's operators on the job's events, their
// result to job.EmitChanges.
func buildQ4(c *job.Context) error {
	job.EmitChanges(c, q4Stream(c.Events()), q4Encode)
	return nil
}

// q4Encode writes a q4 row.
func q4Encode(dst []byte, r q4Avg) []byte {
	w := job.BeginRow(dst)
	w.Int("category", r.category)
	w.Int("final", r.avg)
	return w.End()
}

// q4Stream adds q4's operators after events and returns its changelog.
func q4Stream(events weir.Stream[nexmark.Event]) weir.Stream[job.Change[q4Avg]] {
	in := weir.FlatMap(events, func(e nexmark.Event, out weir.Out[q4In]) error {
		switch e.Kind {
		case nexmark.KindBid:
			out.Emit(q4In{Key: e.Bid.Auction, DateTime: e.Bid.DateTime, Price: e.Bid.Price})
		case nexmark.KindAuction:
			a := &e.Auction
			out.Emit(q4In{Key: a.ID, IsAuction: true, DateTime: a.DateTime, Expires: a.Expires, Category: a.Category})
		}
		return nil
	}).Name("q4 bids and auctions")
	finals := weir.Process(weir.KeyBy(in, func(r q4In) int64 { return r.Key }), &q4Join{}).
		Name("q4 final price per auction").ID("q4-join")
	return weir.Process(weir.KeyBy(finals, func(ch q4Change) int64 { return ch.Category }), &q4Average{}).
		Name("q4 average per category").ID("q4-average")
}

// q4Join keeps, per auction, its highest bid while it is open and emits
// every change of it. The auction's state goes when the watermark passes
// its expires, and bids that came before their auction wait until it
// arrives or the watermark passes their dateTime (see the package comment
// for why that is safe).
type q4Join struct {
	auction weir.ValueState[int64, q4Auction]
	pending weir.ListState[int64, q4Bid]
}

// Open declares the state.
func (j *q4Join) Open(c weir.KeyedOpenContext[int64]) error {
	j.auction = weir.Value[q4Auction](c, "auction")
	j.pending = weir.List[q4Bid](c, "pending bids")
	return nil
}

// Process takes a bid or an auction.
func (j *q4Join) Process(c weir.KeyedContext[int64], r q4In, out weir.Out[q4Change]) error {
	s, known, err := j.auction.Get(c)
	if err != nil {
		return err
	}
	if r.IsAuction {
		if known {
			return duplicate("q4", "auction", r.Key)
		}
		return j.open(c, r, out)
	}
	switch {
	case !known:
		// The auction is not here yet; the bid waits for it until the
		// watermark passes the bid.
		if err := j.pending.Add(c, q4Bid{Price: r.Price, DateTime: r.DateTime}); err != nil {
			return err
		}
		return c.Timers().RegisterEventTime(time.UnixMilli(r.DateTime))
	case s.Closed:
		if !s.Seen {
			s.Seen = true
			return j.auction.Set(c, s)
		}
		return nil
	case r.DateTime < s.DateTime || r.DateTime > s.Expires:
		return nil
	case s.HasMax && r.Price <= s.Max:
		return nil
	}
	out.Emit(q4Change{Category: s.Category, Old: s.Max, New: r.Price, HasOld: s.HasMax})
	s.Max, s.HasMax = r.Price, true
	return j.auction.Set(c, s)
}

// open starts keeping auction r: it takes the highest of the bids that
// came before it in its life, drops the waiting bids, and sets a timer at
// its expires.
func (j *q4Join) open(c weir.KeyedContext[int64], r q4In, out weir.Out[q4Change]) error {
	s := q4Auction{DateTime: r.DateTime, Expires: r.Expires, Category: r.Category}
	waiting, err := j.pending.Get(c)
	if err != nil {
		return err
	}
	if len(waiting) > 0 {
		for _, b := range waiting {
			if b.DateTime >= s.DateTime && b.DateTime <= s.Expires && (!s.HasMax || b.Price > s.Max) {
				s.Max, s.HasMax = b.Price, true
			}
		}
		if s.HasMax {
			out.Emit(q4Change{Category: s.Category, New: s.Max})
		}
		if err := j.pending.Clear(c); err != nil {
			return err
		}
	}
	if err := j.auction.Set(c, s); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(s.Expires))
}

// OnTimer closes an auction whose expires the watermark passed, ends a
// tombstone whose linger is over (or renews it when bids still come), and
// drops the waiting bids the watermark passed.
func (j *q4Join) OnTimer(c weir.TimerContext[int64], _ weir.Out[q4Change]) error {
	t := c.Time().UnixMilli()
	s, known, err := j.auction.Get(c)
	if err != nil {
		return err
	}
	if known {
		// Bids wait only while the auction is unknown: nothing is pending.
		switch {
		case !s.Closed && t >= s.Expires, s.Closed && t >= s.Until && s.Seen:
			until := t + tombstoneLinger
			if err := j.auction.Set(c, q4Auction{Closed: true, Until: until}); err != nil {
				return err
			}
			return c.Timers().RegisterEventTime(time.UnixMilli(until))
		case s.Closed && t >= s.Until:
			return j.auction.Clear(c)
		}
		return nil
	}
	return dropPassed(c, j.pending, t, func(b *q4Bid) int64 { return b.DateTime })
}

// q4Average keeps, per category, the sum and count of its auctions' final
// prices and emits the average whenever it changes: +I for a category's
// first row, then -U of the old average and +U of the new. A category's
// state is two numbers, kept for good (there are five categories).
type q4Average struct {
	agg weir.ValueState[int64, q4Sum]
}

// q4Sum is a category's sum and count of final prices.
type q4Sum struct{ Sum, Count int64 }

// Open declares the state.
func (a *q4Average) Open(c weir.KeyedOpenContext[int64]) error {
	a.agg = weir.Value[q4Sum](c, "sum and count")
	return nil
}

// Process applies one auction's change of final price to its category.
func (a *q4Average) Process(c weir.KeyedContext[int64], ch q4Change, out weir.Out[job.Change[q4Avg]]) error {
	s, _, err := a.agg.Get(c)
	if err != nil {
		return err
	}
	before := s
	if ch.HasOld {
		s.Sum += ch.New - ch.Old
	} else {
		s.Sum += ch.New
		s.Count++
	}
	switch {
	case before.Count == 0:
		out.Emit(job.Change[q4Avg]{Op: job.Insert, Row: q4Avg{ch.Category, s.Sum / s.Count}})
	case before.Sum/before.Count != s.Sum/s.Count:
		out.Emit(job.Change[q4Avg]{Op: job.UpdateBefore, Row: q4Avg{ch.Category, before.Sum / before.Count}})
		out.Emit(job.Change[q4Avg]{Op: job.UpdateAfter, Row: q4Avg{ch.Category, s.Sum / s.Count}})
	}
	return a.agg.Set(c, s)
}
