package reference

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
)

func TestQ3(t *testing.T) {
	in := []nexmark.Event{
		auctionAt(t0, 1, 100, 10, t0+1), // seller 100 arrives later: still joins (regular join)
		personAt(t0+1, 100, "Ann", "OR"),
		personAt(t0+2, 101, "Bob", "WA"), // wrong state
		personAt(t0+3, 102, "Cy", "CA"),
		auctionAt(t0+4, 2, 101, 10, t0+5), // Bob is in WA: no row
		auctionAt(t0+5, 3, 102, 11, t0+6), // category 11: no row
		auctionAt(t0+6, 4, 102, 10, t0+7), // Cy, CA
		auctionAt(t0+7, 5, 999, 10, t0+8), // no such person
	}
	wantRows(t, Q3(in),
		`{"name":"Ann","city":"CityAnn","state":"OR","id":1}`,
		`{"name":"Cy","city":"CityCy","state":"CA","id":4}`)
}

func TestQ13(t *testing.T) {
	in := []nexmark.Event{
		bidAt(t0, 10_007, 1, 5), // 10007 mod 10000 = 7
		bidAt(t0+1, 8, 2, 6),    // key 8 is missing: dropped
		bidAt(t0+2, 20_000, 3, 7),
	}
	side := map[int64]string{7: "seven", 0: "zero"}
	wantRows(t, Q13(in, side),
		`{"auction":10007,"bidder":1,"price":5,"dateTime":1436918400000,"value":"seven"}`,
		`{"auction":20000,"bidder":3,"price":7,"dateTime":1436918400002,"value":"zero"}`)
}

func TestQ20(t *testing.T) {
	in := []nexmark.Event{
		bidAt(t0, 1, 7, 5), // before its auction: still joins
		auctionAt(t0+1, 1, 100, 10, t0+9),
		auctionAt(t0+2, 2, 100, 12, t0+9),
		bidAt(t0+3, 2, 7, 6), // category 12: dropped
		bidAt(t0+4, 3, 7, 6), // no auction 3
	}
	wantRows(t, Q20(in),
		`{"auction":1,"bidder":7,"price":5,"channel":"Google","url":"https://www.nexmark.com/a/b/c/item.htm?query=1","bid_dateTime":1436918400000,"bid_extra":"x",`+
			`"itemName":"item","description":"","initialBid":0,"reserve":0,"auction_dateTime":1436918400001,"expires":1436918400009,"seller":100,"category":10,"auction_extra":""}`)
}
