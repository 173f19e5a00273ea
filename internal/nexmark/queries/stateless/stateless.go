// Package stateless holds the Nexmark queries that keep no state: each row
// depends on one event alone.
package stateless

import (
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/nexmark"
	"github.com/weirstream/weir/internal/nexmark/job"
)

// Q0 is the passthrough: every bid's auction, bidder, price, dateTime and
// extra.
var Q0 = job.Query{Name: "q0", Title: "passthrough", Build: buildQ0}

func buildQ0(c *job.Context) error {
	job.Emit(c, c.Bids(), bidRow)
	return nil
}

// bidRow is the row of q0 (and the first columns of q10).
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
// price as an exact DECIMAL with three fraction digits.
var Q1 = job.Query{Name: "q1", Title: "currency conversion", Build: buildQ1}

// euroBid is a bid whose price is in thousandths of a euro cent.
type euroBid struct {
	nexmark.Bid
	euros int64 // thousandths
}

func buildQ1(c *job.Context) error {
	converted := weir.Map(c.Bids(), func(b nexmark.Bid) euroBid {
		return euroBid{Bid: b, euros: job.Times0908(b.Price)}
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
