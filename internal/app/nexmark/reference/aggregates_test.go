package reference

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
)

const day = 24 * 3600 * 1000

func TestQ4(t *testing.T) {
	in := []nexmark.Event{
		auctionAt(t0, 1, 100, 10, t0+10_000),
		auctionAt(t0, 2, 100, 10, t0+10_000),
		auctionAt(t0, 3, 100, 11, t0+10_000),
		auctionAt(t0, 4, 100, 12, t0+10_000), // no bid in its life: no row for category 12
		bidAt(t0, 1, 7, 10),                  // at A.dateTime: in
		bidAt(t0+10_000, 1, 7, 21),           // at A.expires: in; auction 1 final 21
		bidAt(t0+10_001, 2, 7, 99),           // after expiry: out
		bidAt(t0+5, 2, 7, 4),                 // auction 2 final 4
		bidAt(t0+5, 3, 7, -3),                // auction 3 final -3
		bidAt(t0+10_001, 4, 7, 50),           // after expiry
	}
	// Category 10: avg(21, 4) = 12.5 → 12; category 11: -3.
	wantRows(t, Q4(in), `{"category":10,"final":12}`, `{"category":11,"final":-3}`)
}

func TestQ15Q16(t *testing.T) {
	b := func(ms, auction, bidder, price int64, channel string) nexmark.Event {
		e := bidAt(ms, auction, bidder, price)
		e.Bid.Channel = channel
		return e
	}
	in := []nexmark.Event{
		b(t0+60_000, 1, 7, 9_999, "A"),   // 00:01, rank1
		b(t0+120_000, 1, 8, 10_000, "A"), // 00:02, rank2
		b(t0+30_000, 2, 7, 999_999, "B"), // 00:00, rank2
		b(t0+day, 3, 9, 1_000_000, "A"),  // next day, rank3
	}
	// 2015-07-15: bids 3 (r1 1, r2 2, r3 0); bidders {7,8} (r1 {7}, r2 {8,7});
	// auctions {1,2} (r1 {1}, r2 {1,2}). 2015-07-16: one rank3 bid.
	wantRows(t, Q15(in),
		`{"day":"2015-07-15","total_bids":3,"rank1_bids":1,"rank2_bids":2,"rank3_bids":0,"total_bidders":2,"rank1_bidders":1,"rank2_bidders":2,"rank3_bidders":0,"total_auctions":2,"rank1_auctions":1,"rank2_auctions":2,"rank3_auctions":0}`,
		`{"day":"2015-07-16","total_bids":1,"rank1_bids":0,"rank2_bids":0,"rank3_bids":1,"total_bidders":1,"rank1_bidders":0,"rank2_bidders":0,"rank3_bidders":1,"total_auctions":1,"rank1_auctions":0,"rank2_auctions":0,"rank3_auctions":1}`)
	// Per channel: A on the 15th has the bids at 00:01 and 00:02 (max minute 00:02).
	wantRows(t, Q16(in),
		`{"channel":"A","day":"2015-07-15","minute":"00:02","total_bids":2,"rank1_bids":1,"rank2_bids":1,"rank3_bids":0,"total_bidders":2,"rank1_bidders":1,"rank2_bidders":1,"rank3_bidders":0,"total_auctions":1,"rank1_auctions":1,"rank2_auctions":1,"rank3_auctions":0}`,
		`{"channel":"A","day":"2015-07-16","minute":"00:00","total_bids":1,"rank1_bids":0,"rank2_bids":0,"rank3_bids":1,"total_bidders":1,"rank1_bidders":0,"rank2_bidders":0,"rank3_bidders":1,"total_auctions":1,"rank1_auctions":0,"rank2_auctions":0,"rank3_auctions":1}`,
		`{"channel":"B","day":"2015-07-15","minute":"00:00","total_bids":1,"rank1_bids":0,"rank2_bids":1,"rank3_bids":0,"total_bidders":1,"rank1_bidders":0,"rank2_bidders":1,"rank3_bidders":0,"total_auctions":1,"rank1_auctions":0,"rank2_auctions":1,"rank3_auctions":0}`)
}

func TestQ17(t *testing.T) {
	in := []nexmark.Event{
		bidAt(t0, 1, 7, 5),
		bidAt(t0+1, 1, 7, 10_000),
		bidAt(t0+2, 1, 7, 2_000_000),
		bidAt(t0+day-1, 1, 7, 6), // still 2015-07-15 (23:59:59.999)
		bidAt(t0+day, 1, 7, 7),   // 2015-07-16
	}
	// 15th: 5 + 10000 + 2000000 + 6 = 2010011 over 4 → avg 502502 (502502.75 truncated).
	wantRows(t, Q17(in),
		`{"auction":1,"day":"2015-07-15","total_bids":4,"rank1_bids":2,"rank2_bids":1,"rank3_bids":1,"min_price":5,"max_price":2000000,"avg_price":502502,"sum_price":2010011}`,
		`{"auction":1,"day":"2015-07-16","total_bids":1,"rank1_bids":1,"rank2_bids":0,"rank3_bids":0,"min_price":7,"max_price":7,"avg_price":7,"sum_price":7}`)
}
