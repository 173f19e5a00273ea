package joins

import (
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q9 is the winning bids: every auction with its best bid placed between
// its dateTime and its expires (inclusive), the highest price winning and,
// among equal prices, the earliest dateTime. An updating result keyed by
// the auction's id: a better bid retracts the row of the one it beats.
// Bids tied on both price and dateTime keep the one that arrived first.
var Q9 = job.Query{Name: "q9", Title: "winning bids", Updating: true, Build: buildQ9}

// q9In is one side of q9's join, keyed by the auction's id: an auction
// (Auction set) or a bid.
type q9In struct {
	Key     int64 // the auction's id
	Auction *nexmark.Auction
	Bid     nexmark.Bid
}

// q9State is what q9 keeps of an auction: the auction and its best bid so
// far until it closes, then a tombstone (Auction nil) that drops the bids
// still coming for it (see tombstoneLinger). Both pointers are never
// changed once stored; a better bid is a new one.
type q9State struct {
	Auction *nexmark.Auction
	Best    *nexmark.Bid
	Until   int64 // a tombstone's end of linger, in Unix ms
	Seen    bool  // a bid came for the tombstone since it was last renewed
}

// q9Row is one result row: an auction and its winning bid.
type q9Row struct {
	auction *nexmark.Auction
	bid     *nexmark.Bid
}

// buildQ9 is Q9.Build: q9Stream's operators on the job's events, their
// result to job.EmitChanges.
func buildQ9(c *job.Context) error {
	job.EmitChanges(c, q9Stream(c.Events()), q9Encode)
	return nil
}

// q9Stream adds q9's operators after events and returns its changelog.
func q9Stream(events weir.Stream[nexmark.Event]) weir.Stream[job.Change[q9Row]] {
	in := weir.FlatMap(events, func(e nexmark.Event, out weir.Out[q9In]) error {
		switch e.Kind {
		case nexmark.KindBid:
			out.Emit(q9In{Key: e.Bid.Auction, Bid: e.Bid})
		case nexmark.KindAuction:
			a := e.Auction
			out.Emit(q9In{Key: a.ID, Auction: &a})
		}
		return nil
	}).Name("q9 bids and auctions")
	keyed := weir.KeyBy(in, func(r q9In) int64 { return r.Key })
	return weir.Process(keyed, &q9Join{}).Name("q9 winning bids").ID("q9-join")
}

// q9Encode writes a q9 row: the auction's columns, then the bid's.
func q9Encode(dst []byte, r q9Row) []byte {
	a, b := r.auction, r.bid
	w := job.BeginRow(dst)
	w.Int("id", a.ID)
	w.Str("itemName", a.ItemName)
	w.Str("description", a.Description)
	w.Int("initialBid", a.InitialBid)
	w.Int("reserve", a.Reserve)
	w.Int("dateTime", a.DateTime)
	w.Int("expires", a.Expires)
	w.Int("seller", a.Seller)
	w.Int("category", a.Category)
	w.Str("extra", a.Extra)
	w.Int("auction", b.Auction)
	w.Int("bidder", b.Bidder)
	w.Int("price", b.Price)
	w.Int("bid_dateTime", b.DateTime)
	w.Str("bid_extra", b.Extra)
	return w.End()
}

// beats says whether bid b ranks before the best bid so far: a higher
// price, or the same price earlier.
func beats(b, best *nexmark.Bid) bool {
	return b.Price > best.Price || (b.Price == best.Price && b.DateTime < best.DateTime)
}

// q9Join keeps, per auction, the auction and its best bid while it is
// open, emitting +I for its first winning bid and -U/+U when a better one
// comes. The auction's state goes when the watermark passes its expires,
// and bids that came before their auction wait until it arrives or the
// watermark passes their dateTime (see the package comment for why that
// is safe).
type q9Join struct {
	state   weir.ValueState[int64, q9State]
	pending weir.ListState[int64, nexmark.Bid] // bids of an auction not known yet
}

// Open declares the state.
func (j *q9Join) Open(c weir.KeyedOpenContext[int64]) error {
	j.state = weir.Value[q9State](c, "auction")
	j.pending = weir.List[nexmark.Bid](c, "pending bids")
	return nil
}

// Process takes a bid or an auction.
func (j *q9Join) Process(c weir.KeyedContext[int64], r q9In, out weir.Out[job.Change[q9Row]]) error {
	s, known, err := j.state.Get(c)
	if err != nil {
		return err
	}
	if r.Auction != nil {
		if known {
			return duplicate("q9", "auction", r.Key)
		}
		return j.open(c, r.Auction, out)
	}
	b := &r.Bid
	switch {
	case !known:
		// The auction is not here yet; the bid waits for it until the
		// watermark passes the bid.
		if err := j.pending.Add(c, *b); err != nil {
			return err
		}
		return c.Timers().RegisterEventTime(time.UnixMilli(b.DateTime))
	case s.Auction == nil:
		// The auction has closed.
		if !s.Seen {
			s.Seen = true
			return j.state.Set(c, s)
		}
		return nil
	case b.DateTime < s.Auction.DateTime || b.DateTime > s.Auction.Expires:
		return nil
	case s.Best != nil && !beats(b, s.Best):
		return nil
	}
	best := new(nexmark.Bid)
	*best = *b
	if s.Best == nil {
		out.Emit(job.Change[q9Row]{Op: job.Insert, Row: q9Row{s.Auction, best}})
	} else {
		out.Emit(job.Change[q9Row]{Op: job.UpdateBefore, Row: q9Row{s.Auction, s.Best}})
		out.Emit(job.Change[q9Row]{Op: job.UpdateAfter, Row: q9Row{s.Auction, best}})
	}
	s.Best = best
	return j.state.Set(c, s)
}

// open starts keeping auction a: it takes the best of the bids that came
// before it, drops the others, and sets a timer at its expires.
func (j *q9Join) open(c weir.KeyedContext[int64], a *nexmark.Auction, out weir.Out[job.Change[q9Row]]) error {
	s := q9State{Auction: a}
	waiting, err := j.pending.Get(c)
	if err != nil {
		return err
	}
	if len(waiting) > 0 {
		var best *nexmark.Bid
		for i := range waiting {
			b := &waiting[i]
			if b.DateTime >= a.DateTime && b.DateTime <= a.Expires && (best == nil || beats(b, best)) {
				best = b
			}
		}
		if best != nil {
			s.Best = new(nexmark.Bid)
			*s.Best = *best
			out.Emit(job.Change[q9Row]{Op: job.Insert, Row: q9Row{a, s.Best}})
		}
		if err := j.pending.Clear(c); err != nil {
			return err
		}
	}
	if err := j.state.Set(c, s); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(a.Expires))
}

// OnTimer closes an auction whose expires the watermark passed, ends a
// tombstone whose linger is over (or renews it when bids still come), and
// drops the waiting bids the watermark passed.
func (j *q9Join) OnTimer(c weir.TimerContext[int64], _ weir.Out[job.Change[q9Row]]) error {
	t := c.Time().UnixMilli()
	s, known, err := j.state.Get(c)
	if err != nil {
		return err
	}
	if known {
		// Bids wait only while the auction is unknown: nothing is pending.
		switch {
		case s.Auction != nil && t >= s.Auction.Expires:
			return j.bury(c, t)
		case s.Auction == nil && t >= s.Until && s.Seen:
			return j.bury(c, t)
		case s.Auction == nil && t >= s.Until:
			return j.state.Clear(c)
		}
		return nil
	}
	return dropPassed(c, j.pending, t, func(b *nexmark.Bid) int64 { return b.DateTime })
}

// bury replaces the current key's state with a tombstone that lingers
// until t + tombstoneLinger.
func (j *q9Join) bury(c weir.TimerContext[int64], t int64) error {
	until := t + tombstoneLinger
	if err := j.state.Set(c, q9State{Until: until}); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(until))
}
