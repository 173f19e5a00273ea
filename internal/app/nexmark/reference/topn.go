package reference

import (
	"cmp"
	"slices"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// Q9 is the winning bids: every auction A joined with its bids B (B.auction
// = A.id, A.dateTime ≤ B.dateTime ≤ A.expires, inclusive), and per auction
// the top row by ROW_NUMBER() ORDER BY price DESC, dateTime ASC. Rows tied
// on both price and dateTime are ranked arbitrarily by the reference; this
// function takes the earliest in stream order. An auction without such a
// bid has no row. Columns id, itemName, description, initialBid, reserve,
// dateTime, expires, seller, category, extra (of A), auction, bidder, price,
// bid_dateTime, bid_extra (of B). Updating (TopN 1); key id; rows in the
// auctions' stream order.
func Q9(events []nexmark.Event) []Row {
	bs := bids(events)
	var out []Row
	for _, a := range auctions(events) {
		var best *nexmark.Bid
		for i := range bs {
			b := &bs[i]
			if b.Auction != a.ID || b.DateTime < a.DateTime || b.DateTime > a.Expires {
				continue
			}
			if best == nil || b.Price > best.Price || (b.Price == best.Price && b.DateTime < best.DateTime) {
				best = b
			}
		}
		if best == nil {
			continue
		}
		out = append(out, Row{
			{"id", a.ID}, {"itemName", a.ItemName}, {"description", a.Description},
			{"initialBid", a.InitialBid}, {"reserve", a.Reserve}, {"dateTime", a.DateTime},
			{"expires", a.Expires}, {"seller", a.Seller}, {"category", a.Category}, {"extra", a.Extra},
			{"auction", best.Auction}, {"bidder", best.Bidder}, {"price", best.Price},
			{"bid_dateTime", best.DateTime}, {"bid_extra", best.Extra},
		})
	}
	return out
}

// bidCols returns a bid's columns in the bid view's order.
func bidCols(b nexmark.Bid) Row {
	return Row{
		{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", b.Price}, {"channel", b.Channel},
		{"url", b.URL}, {"dateTime", b.DateTime}, {"extra", b.Extra},
	}
}

// Q18 is the last bid per (bidder, auction): ROW_NUMBER() OVER (PARTITION
// BY bidder, auction ORDER BY dateTime DESC) = 1, a deduplication keeping
// the row with the greatest dateTime; among rows with equal dateTime the
// later in stream order wins (Flink's keep-last-row replaces on ≥). Columns
// auction, bidder, price, channel, url, dateTime, extra. Updating; key
// (bidder, auction); rows ordered by bidder, then auction.
func Q18(events []nexmark.Event) []Row {
	type key struct{ bidder, auction int64 }
	last := map[key]nexmark.Bid{}
	for _, b := range bids(events) {
		k := key{b.Bidder, b.Auction}
		if prev, ok := last[k]; !ok || b.DateTime >= prev.DateTime {
			last[k] = b
		}
	}
	keys := make([]key, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.bidder, b.bidder), cmp.Compare(a.auction, b.auction))
	})
	var out []Row
	for _, k := range keys {
		out = append(out, bidCols(last[k]))
	}
	return out
}

// Q19 is the top 10 bids per auction: ROW_NUMBER() OVER (PARTITION BY
// auction ORDER BY price DESC) ≤ 10. Bids of equal price rank in stream
// order (the earlier first), as Flink's append-only TopN keeps them. Columns
// auction, bidder, price, channel, url, dateTime, extra, rank_number (1 to
// 10). Updating; key (auction, rank_number); rows ordered by auction, then
// rank_number.
func Q19(events []nexmark.Event) []Row {
	perAuction := map[int64][]nexmark.Bid{}
	for _, b := range bids(events) {
		perAuction[b.Auction] = append(perAuction[b.Auction], b)
	}
	ids := make([]int64, 0, len(perAuction))
	for id := range perAuction {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []Row
	for _, id := range ids {
		bs := perAuction[id]
		// Stable: equal prices keep stream order.
		slices.SortStableFunc(bs, func(a, b nexmark.Bid) int { return cmp.Compare(b.Price, a.Price) })
		for i, b := range bs[:min(len(bs), 10)] {
			out = append(out, append(bidCols(b), Col{"rank_number", int64(i + 1)}))
		}
	}
	return out
}
