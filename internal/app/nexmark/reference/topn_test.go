package reference

import (
	"fmt"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
)

func TestQ9(t *testing.T) {
	in := []nexmark.Event{
		auctionAt(t0, 1, 100, 10, t0+100),
		bidAt(t0+50, 1, 7, 30), // ties with the next on price, earlier: wins
		bidAt(t0+60, 1, 8, 30),
		bidAt(t0+101, 1, 9, 99), // after expiry
		bidAt(t0+70, 1, 9, 20),
		auctionAt(t0+200, 2, 100, 10, t0+300), // no bids: no row
	}
	wantRows(t, Q9(in),
		`{"id":1,"itemName":"item","description":"","initialBid":0,"reserve":0,"dateTime":1436918400000,"expires":1436918400100,"seller":100,"category":10,"extra":"",`+
			`"auction":1,"bidder":7,"price":30,"bid_dateTime":1436918400050,"bid_extra":"x"}`)
}

func TestQ18(t *testing.T) {
	b := func(ms, auction, bidder, price int64) nexmark.Event { return bidAt(t0+ms, auction, bidder, price) }
	in := []nexmark.Event{
		b(0, 1, 7, 1),
		b(5, 1, 7, 2), // latest of (7, 1) so far
		b(3, 1, 7, 3), // older: ignored
		b(5, 2, 7, 4),
		b(5, 2, 7, 5), // same time as the previous: the later wins
		b(1, 1, 8, 6),
	}
	u := `"channel":"Google","url":"https://www.nexmark.com/a/b/c/item.htm?query=1"`
	wantRows(t, Q18(in),
		`{"auction":1,"bidder":7,"price":2,`+u+`,"dateTime":1436918400005,"extra":"x"}`,
		`{"auction":2,"bidder":7,"price":5,`+u+`,"dateTime":1436918400005,"extra":"x"}`,
		`{"auction":1,"bidder":8,"price":6,`+u+`,"dateTime":1436918400001,"extra":"x"}`)
}

func TestQ19(t *testing.T) {
	// Auction 1: 12 bids with prices 1..12 (in time order), then another of
	// price 3 that ties with the earlier one; the top 10 are 12 down to 3,
	// the earlier bid of price 3 at rank 10. Auction 2: one bid.
	var in []nexmark.Event
	for p := int64(1); p <= 12; p++ {
		in = append(in, bidAt(t0+p, 1, 100+p, p))
	}
	in = append(in, bidAt(t0+13, 1, 999, 3), bidAt(t0+14, 2, 5, 1))
	u := `"channel":"Google","url":"https://www.nexmark.com/a/b/c/item.htm?query=1"`
	var want []string
	for rank := int64(1); rank <= 10; rank++ {
		p := 13 - rank
		want = append(want, fmt.Sprintf(`{"auction":1,"bidder":%d,"price":%d,%s,"dateTime":%d,"extra":"x","rank_number":%d}`, 100+p, p, u, t0+p, rank))
	}
	want = append(want, fmt.Sprintf(`{"auction":2,"bidder":5,"price":1,%s,"dateTime":%d,"extra":"x","rank_number":1}`, u, t0+14))
	wantRows(t, Q19(in), want...)
}
