package nexmark

import (
	"errors"
	"fmt"
)

// Ids and categories start at these values, as in the reference
// (GeneratorConfig.FIRST_PERSON_ID, FIRST_AUCTION_ID, FIRST_CATEGORY_ID in
// both nexmark/nexmark and Beam), so that the queries find matches even on
// small streams.
const (
	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
)

// NumCategories is how many categories auctions fall in, FirstCategoryID
// to FirstCategoryID+NumCategories-1 (AuctionGenerator.NUM_CATEGORIES).
const NumCategories = 5

// DefaultBaseTime is the event time of event 0 in Unix milliseconds:
// 2015-07-15T00:00:00Z, Beam's NexmarkUtils.BASE_TIME. (The nexmark/nexmark
// fork takes the wall clock at startup, which cannot be repeated.)
const DefaultBaseTime = 1436918400000

// DefaultTPS is the default event-time density, in events per second of
// event time: the reference V2 suite's tps (conf/nexmark_v2.yaml,
// nexmark.workload.suite.tp-200m.tps). The V1 suite used 10,000,000, which
// squeezes 100 M events into 10 s of event time.
const DefaultTPS = 100_000

// Fixed parameters of the model, private constants in the reference too.
const (
	// hotBatch: the hot auction, seller and bidder are taken from the
	// newest batch of this many auctions or people (HOT_AUCTION_RATIO,
	// HOT_SELLER_RATIO, HOT_BIDDER_RATIO in the model generators).
	hotBatch = 100
	// personLead and auctionLead: a random person or auction may be up to
	// this many ids ahead of the newest one generated (PERSON_ID_LEAD,
	// AUCTION_ID_LEAD).
	personLead  = 10
	auctionLead = 10
)

// Config says which stream to generate. The model's parameters default to
// the reference's (NexmarkConfiguration in nexmark/nexmark); the same Config
// always gives the same stream.
type Config struct {
	// Events is how many events All yields: events 0 to Events-1. Zero
	// means no end.
	Events int64
	// Seed selects the stream. Every event depends on it.
	Seed int64
	// TPS is the event-time density in events per second of event time
	// (the reference's firstEventRate, "tps" in its suites): event n
	// happens at BaseTime + n·1000/TPS ms, whatever the speed at which it
	// is produced. The default is DefaultTPS.
	TPS int64
	// BaseTime is the event time of event 0, in Unix milliseconds.
	BaseTime int64

	// PersonProportion, AuctionProportion and BidProportion make up each
	// group of events (1, 3 and 46: 2 % people, 6 % auctions, 92 % bids).
	PersonProportion  int
	AuctionProportion int
	BidProportion     int

	// AvgPersonByteSize, AvgAuctionByteSize and AvgBidByteSize are the
	// average sizes the Extra fields pad events to (200, 500 and 100 bytes),
	// counted as the reference counts them: 8 bytes per number, the
	// length of each string.
	AvgPersonByteSize  int
	AvgAuctionByteSize int
	AvgBidByteSize     int

	// HotAuctionRatio, HotSellersRatio and HotBiddersRatio make a bid go to
	// the hot auction, an auction come from the hot seller and a bid from
	// the hot bidder with probability 1 - 1/ratio (2, 4 and 4: 50 %, 75 %
	// and 75 %).
	HotAuctionRatio int
	HotSellersRatio int
	HotBiddersRatio int

	// NumInFlightAuctions is how many of the newest auctions a bid that is
	// not for the hot auction picks from (100); it also sets how long an
	// auction runs: on average as long as it takes to open that many more.
	NumInFlightAuctions int
	// NumActivePeople is how many of the newest people a seller or bidder
	// that is not the hot one is picked from (1000).
	NumActivePeople int
}

// DefaultConfig returns the reference's configuration with no end, seed 0,
// DefaultTPS and DefaultBaseTime.
func DefaultConfig() Config {
	return Config{
		TPS:                 DefaultTPS,
		BaseTime:            DefaultBaseTime,
		PersonProportion:    1,
		AuctionProportion:   3,
		BidProportion:       46,
		AvgPersonByteSize:   200,
		AvgAuctionByteSize:  500,
		AvgBidByteSize:      100,
		HotAuctionRatio:     2,
		HotSellersRatio:     4,
		HotBiddersRatio:     4,
		NumInFlightAuctions: 100,
		NumActivePeople:     1000,
	}
}

// Limits that keep the arithmetic of the model far from overflow.
const (
	maxProportion = 1 << 20
	maxByteSize   = 1 << 20
	maxRatio      = 1 << 30
	maxPopulation = 1 << 30
)

// Validate reports every field that is out of range, naming it.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("nexmark: Config.%s = %v: %s", field, v, want))
	}
	if c.Events < 0 {
		bad("Events", c.Events, "must not be negative (0 means no end)")
	}
	if c.TPS <= 0 {
		bad("TPS", c.TPS, "must be positive")
	}
	for _, p := range []struct {
		field string
		v     int
		min   int
	}{
		{"PersonProportion", c.PersonProportion, 1},
		{"AuctionProportion", c.AuctionProportion, 1},
		{"BidProportion", c.BidProportion, 0},
	} {
		if p.v < p.min || p.v > maxProportion {
			bad(p.field, p.v, fmt.Sprintf("must be between %d and %d", p.min, maxProportion))
		}
	}
	for _, p := range []struct {
		field string
		v     int
		max   int
	}{
		{"AvgPersonByteSize", c.AvgPersonByteSize, maxByteSize},
		{"AvgAuctionByteSize", c.AvgAuctionByteSize, maxByteSize},
		{"AvgBidByteSize", c.AvgBidByteSize, maxByteSize},
	} {
		if p.v < 0 || p.v > p.max {
			bad(p.field, p.v, fmt.Sprintf("must be between 0 and %d", p.max))
		}
	}
	for _, p := range []struct {
		field string
		v     int
		max   int
	}{
		{"HotAuctionRatio", c.HotAuctionRatio, maxRatio},
		{"HotSellersRatio", c.HotSellersRatio, maxRatio},
		{"HotBiddersRatio", c.HotBiddersRatio, maxRatio},
		{"NumInFlightAuctions", c.NumInFlightAuctions, maxPopulation},
		{"NumActivePeople", c.NumActivePeople, maxPopulation},
	} {
		if p.v < 1 || p.v > p.max {
			bad(p.field, p.v, fmt.Sprintf("must be between 1 and %d", p.max))
		}
	}
	return errors.Join(errs...)
}

// total is the size of one group of events.
func (c *Config) total() int64 {
	return int64(c.PersonProportion) + int64(c.AuctionProportion) + int64(c.BidProportion)
}
