package reference

import "github.com/weirstream/weir/internal/app/nexmark"

// Q3 is the local item suggestion, a regular (unwindowed) inner join:
// auction A ⋈ person P on A.seller = P.id, keeping A.category = 10 and
// P.state in ('OR', 'ID', 'CA'). Columns name, city, state (of P), id (of
// A). A regular join matches across the whole input whatever the arrival
// order, so the result is every matching pair. Append-only (an inner join of
// append-only inputs); rows in the stream order of the auction, then of the
// person.
func Q3(events []nexmark.Event) []Row {
	ps := persons(events)
	var out []Row
	for _, a := range auctions(events) {
		if a.Category != 10 {
			continue
		}
		for _, p := range ps {
			if p.ID == a.Seller && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
				out = append(out, Row{{"name", p.Name}, {"city", p.City}, {"state", p.State}, {"id", a.ID}})
			}
		}
	}
	return out
}

// Q13 is the bounded side input join (a lookup join FOR SYSTEM_TIME AS OF
// proctime against a static table): each bid joined with the side input row
// whose key is MOD(auction, 10000); a bid without one is dropped (inner
// join). side maps key to value; a side input with duplicate keys, which
// would give several rows per bid, cannot be expressed. Columns auction,
// bidder, price, dateTime, value. Append-only, in stream order.
func Q13(events []nexmark.Event, side map[int64]string) []Row {
	var out []Row
	for _, b := range bids(events) {
		v, ok := side[b.Auction%10000]
		if !ok {
			continue
		}
		out = append(out, Row{
			{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", b.Price},
			{"dateTime", b.DateTime}, {"value", v},
		})
	}
	return out
}

// Q20 is the filtered join, a regular inner join: bid B ⋈ auction A on
// B.auction = A.id, keeping A.category = 10. Columns (the SELECT list names
// dateTime and extra twice; the sink's names are used): auction, bidder,
// price, channel, url, bid_dateTime, bid_extra, itemName, description,
// initialBid, reserve, auction_dateTime, expires, seller, category,
// auction_extra. Append-only; rows in the stream order of the bid, then of
// the auction.
func Q20(events []nexmark.Event) []Row {
	as := auctions(events)
	var out []Row
	for _, b := range bids(events) {
		for _, a := range as {
			if a.ID != b.Auction || a.Category != 10 {
				continue
			}
			out = append(out, Row{
				{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", b.Price},
				{"channel", b.Channel}, {"url", b.URL}, {"bid_dateTime", b.DateTime}, {"bid_extra", b.Extra},
				{"itemName", a.ItemName}, {"description", a.Description}, {"initialBid", a.InitialBid},
				{"reserve", a.Reserve}, {"auction_dateTime", a.DateTime}, {"expires", a.Expires},
				{"seller", a.Seller}, {"category", a.Category}, {"auction_extra", a.Extra},
			})
		}
	}
	return out
}
