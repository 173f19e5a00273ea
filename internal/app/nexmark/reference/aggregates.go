package reference

import (
	"cmp"
	"slices"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// avgBigint is Flink's AVG over BIGINT, itself a BIGINT: the sum divided by
// the count, truncated toward zero (Java long division, as Go's).
func avgBigint(sum, count int64) int64 { return sum / count }

// Q4 is the average selling price per category, an updating two-level
// aggregate over a regular join: every bid B joined with its auction A (B.auction =
// A.id) when A.dateTime ≤ B.dateTime ≤ A.expires (inclusive); per auction,
// final = MAX(B.price) (an auction with no such bid has no row); per
// category, AVG(final) as a BIGINT (truncated). Columns category and final
// (the SELECT list leaves the average unnamed; the sink calls it final; the
// sink's first column is called id). Updating; key category; rows
// ordered by category.
func Q4(events []nexmark.Event) []Row {
	bs := bids(events)
	type agg struct{ sum, count int64 }
	perCategory := map[int64]*agg{}
	for _, a := range auctions(events) {
		final, found := int64(0), false
		for _, b := range bs {
			if b.Auction == a.ID && b.DateTime >= a.DateTime && b.DateTime <= a.Expires {
				if !found || b.Price > final {
					final = b.Price
				}
				found = true
			}
		}
		if !found {
			continue
		}
		c := perCategory[a.Category]
		if c == nil {
			c = &agg{}
			perCategory[a.Category] = c
		}
		c.sum += final
		c.count++
	}
	cats := make([]int64, 0, len(perCategory))
	for c := range perCategory {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	var out []Row
	for _, c := range cats {
		out = append(out, Row{{"category", c}, {"final", avgBigint(perCategory[c].sum, perCategory[c].count)}})
	}
	return out
}

// priceRank returns which of the reference's price buckets price is in:
// 1 below 10 000, 2 from 10 000 to below 1 000 000, 3 from 1 000 000.
func priceRank(price int64) int {
	switch {
	case price < 10_000:
		return 1
	case price < 1_000_000:
		return 2
	default:
		return 3
	}
}

// dayStats accumulates the counts of q15 and q16.
type dayStats struct {
	bids     [4]int64          // [0] all, [r] rank r
	bidders  [4]map[int64]bool // distinct bidders, likewise
	auctions [4]map[int64]bool
	minute   string // MAX(DATE_FORMAT(dateTime, 'HH:mm')), for q16
}

func newDayStats() *dayStats {
	s := &dayStats{}
	for i := range 4 {
		s.bidders[i] = map[int64]bool{}
		s.auctions[i] = map[int64]bool{}
	}
	return s
}

func (s *dayStats) add(b nexmark.Bid) {
	for _, i := range []int{0, priceRank(b.Price)} {
		s.bids[i]++
		s.bidders[i][b.Bidder] = true
		s.auctions[i][b.Auction] = true
	}
	s.minute = max(s.minute, hourMinuteOf(b.DateTime))
}

func (s *dayStats) cols() Row {
	return Row{
		{"total_bids", s.bids[0]}, {"rank1_bids", s.bids[1]}, {"rank2_bids", s.bids[2]}, {"rank3_bids", s.bids[3]},
		{"total_bidders", int64(len(s.bidders[0]))}, {"rank1_bidders", int64(len(s.bidders[1]))},
		{"rank2_bidders", int64(len(s.bidders[2]))}, {"rank3_bidders", int64(len(s.bidders[3]))},
		{"total_auctions", int64(len(s.auctions[0]))}, {"rank1_auctions", int64(len(s.auctions[1]))},
		{"rank2_auctions", int64(len(s.auctions[2]))}, {"rank3_auctions", int64(len(s.auctions[3]))},
	}
}

// Q15 is bidding statistics per day, an unbounded group aggregate over bids
// grouped by day = DATE_FORMAT(dateTime, 'yyyy-MM-dd') (UTC). Columns day,
// total_bids, rank1_bids, rank2_bids, rank3_bids, total_bidders,
// rank1_bidders, rank2_bidders, rank3_bidders, total_auctions,
// rank1_auctions, rank2_auctions, rank3_auctions: COUNT(*) and COUNT(DISTINCT
// bidder / auction), each over all bids and FILTERed to price < 10 000
// (rank1), 10 000 ≤ price < 1 000 000 (rank2), price ≥ 1 000 000 (rank3).
// A filtered count with no bid is 0. Updating; key day; rows ordered by day.
func Q15(events []nexmark.Event) []Row {
	perDay := map[string]*dayStats{}
	for _, b := range bids(events) {
		d := dateOf(b.DateTime)
		if perDay[d] == nil {
			perDay[d] = newDayStats()
		}
		perDay[d].add(b)
	}
	days := make([]string, 0, len(perDay))
	for d := range perDay {
		days = append(days, d)
	}
	slices.Sort(days)
	var out []Row
	for _, d := range days {
		out = append(out, append(Row{{"day", d}}, perDay[d].cols()...))
	}
	return out
}

// Q16 is channel statistics per day: Q15 grouped by (channel, day), with
// one more column after day, minute = MAX(DATE_FORMAT(dateTime, 'HH:mm'))
// (UTC; the greatest string). Columns channel, day, minute, then Q15's
// counts. Updating; key (channel, day); rows ordered by channel, then day.
func Q16(events []nexmark.Event) []Row {
	type key struct{ channel, day string }
	groups := map[key]*dayStats{}
	for _, b := range bids(events) {
		k := key{b.Channel, dateOf(b.DateTime)}
		if groups[k] == nil {
			groups[k] = newDayStats()
		}
		groups[k].add(b)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.channel, b.channel), cmp.Compare(a.day, b.day))
	})
	var out []Row
	for _, k := range keys {
		s := groups[k]
		out = append(out, append(Row{{"channel", k.channel}, {"day", k.day}, {"minute", s.minute}}, s.cols()...))
	}
	return out
}

// Q17 is auction statistics per day, an unbounded group aggregate over bids
// grouped by (auction, day = DATE_FORMAT(dateTime, 'yyyy-MM-dd') in UTC).
// Columns auction, day, total_bids, rank1_bids, rank2_bids, rank3_bids (the
// price buckets of Q15), min_price, max_price, avg_price (AVG over BIGINT:
// the sum / count truncated toward zero), sum_price. Updating; key
// (auction, day); rows ordered by auction, then day.
func Q17(events []nexmark.Event) []Row {
	type key struct {
		auction int64
		day     string
	}
	type agg struct{ total, r1, r2, r3, lo, hi, sum int64 }
	groups := map[key]*agg{}
	for _, b := range bids(events) {
		k := key{b.Auction, dateOf(b.DateTime)}
		g := groups[k]
		if g == nil {
			g = &agg{lo: b.Price, hi: b.Price}
			groups[k] = g
		}
		g.total++
		switch priceRank(b.Price) {
		case 1:
			g.r1++
		case 2:
			g.r2++
		default:
			g.r3++
		}
		g.lo, g.hi = min(g.lo, b.Price), max(g.hi, b.Price)
		g.sum += b.Price
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.auction, b.auction), cmp.Compare(a.day, b.day))
	})
	var out []Row
	for _, k := range keys {
		g := groups[k]
		out = append(out, Row{
			{"auction", k.auction}, {"day", k.day}, {"total_bids", g.total},
			{"rank1_bids", g.r1}, {"rank2_bids", g.r2}, {"rank3_bids", g.r3},
			{"min_price", g.lo}, {"max_price", g.hi}, {"avg_price", avgBigint(g.sum, g.total)},
			{"sum_price", g.sum},
		})
	}
	return out
}
