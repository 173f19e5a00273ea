package nexmark

import (
	"iter"
	"math"
	"math/bits"
)

// Generator computes the events of one Config's stream. It holds no state
// that changes, so one Generator may be used from many goroutines at once,
// for instance to generate ranges of the stream in parallel.
type Generator struct {
	cfg   Config
	total int64 // events per group (the sum of the proportions)
	key   uint64
	// auctionHorizon is how many events it takes to open
	// NumInFlightAuctions auctions; an auction runs on average as long.
	auctionHorizon int64
	t              *tables
}

// NewGenerator returns the generator of cfg's stream, or cfg's Validate
// error.
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	total := cfg.total()
	return &Generator{
		cfg:   cfg,
		total: total,
		key:   seedKey(cfg.Seed),
		// AuctionGenerator.nextAuctionLengthMs: numEventsForAuctions.
		auctionHorizon: int64(cfg.NumInFlightAuctions) * total / int64(cfg.AuctionProportion),
		t:              sharedTables(),
	}, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// KindOf returns the kind of event n (n ≥ 0).
func (g *Generator) KindOf(n int64) Kind {
	switch off := n % g.total; {
	case off < int64(g.cfg.PersonProportion):
		return KindPerson
	case off < int64(g.cfg.PersonProportion+g.cfg.AuctionProportion):
		return KindAuction
	default:
		return KindBid
	}
}

// Timestamp returns the event time of event n (n ≥ 0) in Unix milliseconds:
// BaseTime + ⌊n·1000/TPS⌋, an inter-event delay of 1e6/TPS microseconds
// (GeneratorConfig.timestampForEvent, computed exactly in integers).
func (g *Generator) Timestamp(n int64) int64 {
	hi, lo := bits.Mul64(uint64(n), 1000)
	tps := uint64(g.cfg.TPS)
	if hi >= tps {
		return math.MaxInt64 // some 10^16 events at 1 tps; never in practice
	}
	q, _ := bits.Div64(hi, lo, tps)
	if q > math.MaxInt64-uint64(max(g.cfg.BaseTime, 0)) {
		return math.MaxInt64
	}
	return g.cfg.BaseTime + int64(q)
}

// Event returns event n of the stream (n ≥ 0; a negative n gives the zero
// Event). It depends on the Config and n alone: Event(n) is the same in any
// order, on any goroutine, in any process.
func (g *Generator) Event(n int64) Event {
	if n < 0 {
		return Event{}
	}
	r := eventRNG(g.key, n)
	ts := g.Timestamp(n)
	var e Event
	switch e.Kind = g.KindOf(n); e.Kind {
	case KindPerson:
		g.person(&e.Person, n, &r, ts)
	case KindAuction:
		g.auction(&e.Auction, n, &r, ts)
	default:
		g.bid(&e.Bid, n, &r, ts)
	}
	return e
}

// Range yields events from to to-1 with their numbers. It stops early when
// the loop breaks.
func (g *Generator) Range(from, to int64) iter.Seq2[int64, Event] {
	return func(yield func(int64, Event) bool) {
		for n := max(from, 0); n < to; n++ {
			if !yield(n, g.Event(n)) {
				return
			}
		}
	}
}

// All yields the Config's events, 0 to Events-1, or without end when
// Events is 0.
func (g *Generator) All() iter.Seq2[int64, Event] {
	if g.cfg.Events == 0 {
		return g.Range(0, math.MaxInt64)
	}
	return g.Range(0, g.cfg.Events)
}

// lastPerson returns the newest person id (from 0) at event n: n's own if n
// is a person (PersonGenerator.lastBase0PersonId).
func (g *Generator) lastPerson(n int64) int64 {
	group, off := n/g.total, n%g.total
	pp := int64(g.cfg.PersonProportion)
	return group*pp + min(off, pp-1)
}

// lastAuction returns the newest auction id (from 0) at event n: n's own if
// n is an auction, -1 before the first (AuctionGenerator.lastBase0AuctionId).
func (g *Generator) lastAuction(n int64) int64 {
	group, off := n/g.total, n%g.total
	pp, ap := int64(g.cfg.PersonProportion), int64(g.cfg.AuctionProportion)
	switch {
	case off < pp: // a person: the last auction of the group before
		return group*ap - 1
	case off < pp+ap:
		return group*ap + off - pp
	default: // a bid: the last auction of this group
		return group*ap + ap - 1
	}
}

// randomPerson picks one of the NumActivePeople newest people, or one of
// the personLead not generated yet (PersonGenerator.nextBase0PersonId).
func (g *Generator) randomPerson(n int64, r *rng) int64 {
	people := g.lastPerson(n) + 1
	active := min(people, int64(g.cfg.NumActivePeople))
	return people - active + r.intn(active+personLead)
}

// randomAuction picks one of the auctions opened within the last
// NumInFlightAuctions, or one of the auctionLead not opened yet
// (AuctionGenerator.nextBase0AuctionId).
func (g *Generator) randomAuction(n int64, r *rng) int64 {
	last := g.lastAuction(n)
	first := max(last-int64(g.cfg.NumInFlightAuctions), 0)
	return first + r.intn(last-first+1+auctionLead)
}

func (g *Generator) person(p *Person, n int64, r *rng, ts int64) {
	t := g.t
	// The e-mail address and the card number share one allocation.
	var buf [64]byte
	b := appendRandomString(buf[:0], r, maxEmailUserLen, ' ')
	b = append(b, '@')
	b = appendRandomString(b, r, maxEmailHostLen, ' ')
	b = append(b, ".com"...)
	emailLen := len(b)
	// Four groups of four digits (PersonGenerator.nextCreditCard).
	for i := range 4 {
		if i > 0 {
			b = append(b, ' ')
		}
		d := r.intn(10000)
		b = append(b, byte('0'+d/1000), byte('0'+d/100%10), byte('0'+d/10%10), byte('0'+d%10))
	}
	s := string(b)
	*p = Person{
		ID:           g.lastPerson(n) + FirstPersonID,
		Name:         t.names[r.intn(int64(len(t.names)))],
		EmailAddress: s[:emailLen],
		CreditCard:   s[emailLen:],
		City:         usCities[r.intn(int64(len(usCities)))],
		State:        usStates[r.intn(int64(len(usStates)))],
		DateTime:     ts,
	}
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = t.extra(r, size, g.cfg.AvgPersonByteSize)
}

func (g *Generator) auction(a *Auction, n int64, r *rng, ts int64) {
	var seller int64
	if r.intn(int64(g.cfg.HotSellersRatio)) > 0 {
		// The first person of the newest batch of hotBatch.
		seller = g.lastPerson(n) / hotBatch * hotBatch
	} else {
		seller = g.randomPerson(n, r)
	}
	initialBid := price(r)
	// AuctionGenerator.nextAuctionLengthMs: uniform in [1, 2·horizon], the
	// horizon being the time until NumInFlightAuctions more auctions have
	// opened.
	horizon := g.Timestamp(n+g.auctionHorizon) - ts
	length := 1 + r.intn(max(2*horizon, 1))
	// The name and the description share one allocation.
	var buf [maxItemNameLen + maxDescLen]byte
	b := appendRandomString(buf[:0], r, maxItemNameLen, ' ')
	nameLen := len(b)
	b = appendRandomString(b, r, maxDescLen, ' ')
	s := string(b)
	*a = Auction{
		ID:          g.lastAuction(n) + FirstAuctionID,
		ItemName:    s[:nameLen],
		Description: s[nameLen:],
		InitialBid:  initialBid,
		Reserve:     initialBid + price(r),
		DateTime:    ts,
		Expires:     ts + length,
		Seller:      seller + FirstPersonID,
		Category:    FirstCategoryID + r.intn(NumCategories),
	}
	size := 8 + len(a.ItemName) + len(a.Description) + 8 + 8 + 8 + 8 + 8
	a.Extra = g.t.extra(r, size, g.cfg.AvgAuctionByteSize)
}

func (g *Generator) bid(b *Bid, n int64, r *rng, ts int64) {
	t := g.t
	var auction int64
	if r.intn(int64(g.cfg.HotAuctionRatio)) > 0 {
		// The first auction of the newest batch of hotBatch.
		auction = g.lastAuction(n) / hotBatch * hotBatch
	} else {
		auction = g.randomAuction(n, r)
	}
	var bidder int64
	if r.intn(int64(g.cfg.HotBiddersRatio)) > 0 {
		// The second person of the newest batch, so that the hot bidder is
		// not the hot seller.
		bidder = g.lastPerson(n)/hotBatch*hotBatch + 1
	} else {
		bidder = g.randomPerson(n, r)
	}
	*b = Bid{
		Auction:  auction + FirstAuctionID,
		Bidder:   bidder + FirstPersonID,
		Price:    price(r),
		DateTime: ts,
	}
	if r.intn(2) > 0 { // HOT_CHANNELS_RATIO
		i := r.intn(int64(len(hotChannels)))
		b.Channel, b.URL = hotChannels[i], t.hotURLs[i]
	} else {
		i := r.intn(numChannels)
		b.Channel, b.URL = t.channels[i], t.channelURLs[i]
	}
	b.Extra = t.extra(r, 8+8+8+8, g.cfg.AvgBidByteSize)
}
