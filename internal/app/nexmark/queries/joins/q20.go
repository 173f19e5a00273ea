package joins

import (
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q20 is the filtered join: every bid with its auction, when the auction
// is of category 10. A regular join, append-only.
var Q20 = job.Query{Name: "q20", Title: "filtered join", Build: buildQ20}

// q20In is one side of q20's join, keyed by the auction's id: a bid, or an
// auction (Auction is nil for one of another category than 10, which is
// all the join needs to know of it).
type q20In struct {
	Key       int64 // the auction's id
	IsAuction bool
	Auction   *nexmark.Auction
	Bid       nexmark.Bid
}

// q20Row is one result row.
type q20Row struct {
	bid     nexmark.Bid
	auction *nexmark.Auction
}

// buildQ20 is Q20.Build: q20Stream's operators on the job's events, their
// result to job.Emit.
func buildQ20(c *job.Context) error {
	job.Emit(c, q20Stream(c.Events()), q20Encode)
	return nil
}

// q20Stream adds q20's operators after events and returns its result.
func q20Stream(events weir.Stream[nexmark.Event]) weir.Stream[q20Row] {
	in := weir.FlatMap(events, func(e nexmark.Event, out weir.Out[q20In]) error {
		switch e.Kind {
		case nexmark.KindBid:
			out.Emit(q20In{Key: e.Bid.Auction, Bid: e.Bid})
		case nexmark.KindAuction:
			r := q20In{Key: e.Auction.ID, IsAuction: true}
			if e.Auction.Category == 10 {
				a := e.Auction
				r.Auction = &a
			}
			out.Emit(r)
		}
		return nil
	}).Name("q20 bids and auctions")
	keyed := weir.KeyBy(in, func(r q20In) int64 { return r.Key })
	return weir.Process(keyed, &q20Join{}).Name("q20 join").ID("q20-join")
}

// q20Encode writes a q20 row, with the columns the reference's sink names.
func q20Encode(dst []byte, r q20Row) []byte {
	b, a := &r.bid, r.auction
	w := job.BeginRow(dst)
	w.Int("auction", b.Auction)
	w.Int("bidder", b.Bidder)
	w.Int("price", b.Price)
	w.Str("channel", b.Channel)
	w.Str("url", b.URL)
	w.Int("bid_dateTime", b.DateTime)
	w.Str("bid_extra", b.Extra)
	w.Str("itemName", a.ItemName)
	w.Str("description", a.Description)
	w.Int("initialBid", a.InitialBid)
	w.Int("reserve", a.Reserve)
	w.Int("auction_dateTime", a.DateTime)
	w.Int("expires", a.Expires)
	w.Int("seller", a.Seller)
	w.Int("category", a.Category)
	w.Str("auction_extra", a.Extra)
	return w.End()
}

// q20Join joins bids with their auction, keyed by the auction's id. A
// category-10 auction is kept for good (a regular join: its bids may come
// at any time); one of another category is kept as a marker (a nil
// auction), so that its bids are dropped instead of waiting. A bid whose
// auction is known is joined (or dropped) at once; one whose auction is
// not known yet waits until it arrives.
type q20Join struct {
	auction weir.ValueState[int64, *nexmark.Auction] // nil: not of category 10
	pending weir.ListState[int64, nexmark.Bid]
}

// Open declares the state.
func (j *q20Join) Open(c weir.KeyedOpenContext[int64]) error {
	j.auction = weir.Value[*nexmark.Auction](c, "auction")
	j.pending = weir.List[nexmark.Bid](c, "pending bids")
	return nil
}

// Process joins a bid or an auction.
func (j *q20Join) Process(c weir.KeyedContext[int64], r q20In, out weir.Out[q20Row]) error {
	a, known, err := j.auction.Get(c)
	if err != nil {
		return err
	}
	if !r.IsAuction {
		switch {
		case !known:
			return j.pending.Add(c, r.Bid)
		case a != nil:
			out.Emit(q20Row{bid: r.Bid, auction: a})
		}
		return nil
	}
	if known {
		return duplicate("q20", "auction", r.Key)
	}
	waiting, err := j.pending.Get(c)
	if err != nil {
		return err
	}
	if len(waiting) > 0 {
		if r.Auction != nil {
			for i := range waiting {
				out.Emit(q20Row{bid: waiting[i], auction: r.Auction})
			}
		}
		if err := j.pending.Clear(c); err != nil {
			return err
		}
	}
	return j.auction.Set(c, r.Auction)
}
