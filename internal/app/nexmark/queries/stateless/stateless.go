// Package stateless holds the Nexmark queries that keep no state: each row
// depends on one bid alone (and, for q13, on a static side input loaded
// before the job starts). They are chains of Filter, Map, TryMap and
// FlatMap on the bid stream, with no exchange: q0 to q2, q10 (partitioned
// files), q13 (side input join), q14 (calc with a UDF), q21 (channel id)
// and q22 (URL directories).
package stateless

import (
	"fmt"
	"math"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q0 is the passthrough: every bid's auction, bidder, price, dateTime and
// extra.
var Q0 = job.Query{Name: "q0", Title: "passthrough", Build: buildQ0}

func buildQ0(c *job.Context) error {
	job.Emit(c, c.Bids(), bidRow)
	return nil
}

// bidRow is the row of q0.
func bidRow(dst []byte, b nexmark.Bid) []byte {
	r := job.BeginRow(dst)
	r.Int("auction", b.Auction)
	r.Int("bidder", b.Bidder)
	r.Int("price", b.Price)
	r.Int("dateTime", b.DateTime)
	r.Str("extra", b.Extra)
	return r.End()
}

// Q1 is the currency conversion: every bid with its price in euros, 0.908 ×
// price as an exact DECIMAL with three fraction digits. A bid whose
// converted price would overflow int64 thousandths (|price| above
// MaxInt64/908, possible only in an events file) is an error in the
// operator "to euros", which meets the job's error policy.
var Q1 = job.Query{Name: "q1", Title: "currency conversion", Build: buildQ1}

// euroBid is a bid whose price is in thousandths of a euro cent.
type euroBid struct {
	nexmark.Bid
	euros int64 // thousandths
}

// The prices whose conversion fits in int64 thousandths: price × 908 must
// not overflow. Generated prices are far below; only an events file can
// hold a larger one.
const (
	maxPrice0908 = math.MaxInt64 / 908
	minPrice0908 = math.MinInt64 / 908 // rounds toward zero, so × 908 fits
)

// toEuros returns 0.908 × price in thousandths, or an error naming the
// price when the product does not fit in an int64 (the reference's
// DECIMAL(23, 3) would hold it; an int64 holds 19 digits).
func toEuros(price int64) (int64, error) {
	if price > maxPrice0908 || price < minPrice0908 {
		return 0, fmt.Errorf("price %d: 0.908 × price overflows int64 thousandths (|price| must be at most %d)", price, int64(maxPrice0908))
	}
	return job.Times0908(price), nil
}

func buildQ1(c *job.Context) error {
	// A TryMap, so that a price too large to convert meets the job's error
	// policy (fail, dead-letter or skip) instead of wrapping silently.
	converted := weir.TryMap(c.Bids(), func(b nexmark.Bid) (euroBid, error) {
		euros, err := toEuros(b.Price)
		return euroBid{Bid: b, euros: euros}, err
	}).Name("to euros")
	job.Emit(c, converted, func(dst []byte, b euroBid) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", b.Auction)
		r.Int("bidder", b.Bidder)
		r.Decimal3("price", b.euros)
		r.Int("dateTime", b.DateTime)
		r.Str("extra", b.Extra)
		return r.End()
	})
	return nil
}

// Q2 is the selection: the auction and price of the bids on every 123rd
// auction.
var Q2 = job.Query{Name: "q2", Title: "selection", Build: buildQ2}

func buildQ2(c *job.Context) error {
	selected := c.Bids().Filter(func(b nexmark.Bid) bool { return b.Auction%123 == 0 }).Name("auction % 123 = 0")
	job.Emit(c, selected, func(dst []byte, b nexmark.Bid) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", b.Auction)
		r.Int("price", b.Price)
		return r.End()
	})
	return nil
}
