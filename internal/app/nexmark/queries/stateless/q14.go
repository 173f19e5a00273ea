package stateless

import (
	"strings"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q14 is the calc with a user-defined function: the bids with 1 000 000 <
// 0.908 × price < 50 000 000 (exclusive, exact), with columns auction,
// bidder, price (0.908 × price as a DECIMAL), bidTimeType ("dayTime" for
// UTC hours 8 to 18, "nightTime" for hours up to 6 and from 20, "otherTime"
// for 7 and 19), dateTime, extra and c_counts, the UDF countChar(extra,
// 'c').
var Q14 = job.Query{Name: "q14", Title: "calc with a user-defined function", Build: buildQ14}

// The bounds of q14's filter on price itself: 0.908 × price > 1 000 000 ⇔
// price × 908 > 10⁹ ⇔ price > ⌊10⁹ / 908⌋, and 0.908 × price < 50 000 000
// ⇔ price × 908 ≤ 5·10¹⁰ − 1 ⇔ price ≤ ⌊(5·10¹⁰ − 1) / 908⌋. Comparing
// the price, not the product, cannot overflow whatever the price.
const (
	q14MinPrice = 1_000_000_000/908 + 1
	q14MaxPrice = (50_000_000_000 - 1) / 908
)

// q14Row is a selected bid with its converted price and time of day.
type q14Row struct {
	nexmark.Bid
	euros       int64 // thousandths
	bidTimeType string
	cCounts     int64
}

// countChar is q14's user-defined function count_char(s, c): how many
// times the character c occurs in s (nexmark's CountChar UDF, which
// compares each UTF-16 unit of s with c; for an ASCII c that is the number
// of bytes of s equal to c).
func countChar(s string, c rune) int64 { return int64(strings.Count(s, string(c))) }

// bidTimeType classifies the UTC hour of ms (Unix milliseconds): dayTime
// from 8 to 18, nightTime up to 6 and from 20, otherTime at 7 and 19.
func bidTimeType(ms int64) string {
	const day, hour = 86_400_000, 3_600_000
	ofDay := ms % day
	if ofDay < 0 {
		ofDay += day // before 1970
	}
	switch h := ofDay / hour; {
	case h >= 8 && h <= 18:
		return "dayTime"
	case h <= 6 || h >= 20:
		return "nightTime"
	default:
		return "otherTime"
	}
}

func buildQ14(c *job.Context) error {
	selected := c.Bids().Filter(func(b nexmark.Bid) bool {
		return b.Price >= q14MinPrice && b.Price <= q14MaxPrice
	}).Name("1M < 0.908 × price < 50M")
	rows := weir.Map(selected, func(b nexmark.Bid) q14Row {
		return q14Row{Bid: b, euros: job.Times0908(b.Price), bidTimeType: bidTimeType(b.DateTime),
			cCounts: countChar(b.Extra, 'c')}
	}).Name("calc")
	job.Emit(c, rows, func(dst []byte, b q14Row) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", b.Auction)
		r.Int("bidder", b.Bidder)
		r.Decimal3("price", b.euros)
		r.Str("bidTimeType", b.bidTimeType)
		r.Int("dateTime", b.DateTime)
		r.Str("extra", b.Extra)
		r.Int("c_counts", b.cCounts)
		return r.End()
	})
	return nil
}
