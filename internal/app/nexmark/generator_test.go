package nexmark

import (
	"bytes"
	"flag"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func newGenerator(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// encode returns events [from, to) of g as JSON lines.
func encode(g *Generator, from, to int64) []byte {
	var b []byte
	for _, e := range g.Range(from, to) {
		b = AppendJSON(b, &e)
		b = append(b, '\n')
	}
	return b
}

// TestGolden pins the first 20 events of seed 0 at the default tps: the
// whole stream follows from them being the same (same tables, same random
// generator, same encoding).
func TestGolden(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed, cfg.TPS = 0, 100_000
	got := encode(newGenerator(t, cfg), 0, 20)
	path := filepath.Join("testdata", "seed0-tps100000.jsonl")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the first 20 events of seed 0 changed; got\n%s\nwant (%s; -update rewrites it)\n%s", got, path, want)
	}
}

func TestSameConfigSameStream(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed = 42
	a := encode(newGenerator(t, cfg), 0, 20_000)
	b := encode(newGenerator(t, cfg), 0, 20_000)
	if !bytes.Equal(a, b) {
		t.Fatal("two generators of one Config wrote different streams")
	}
	cfg.Seed = 43
	c := encode(newGenerator(t, cfg), 0, 20_000)
	if bytes.Equal(a, c) {
		t.Fatal("seeds 42 and 43 gave the same stream")
	}
	// The structure does not depend on the seed, only the content.
	if n, m := bytes.Count(a, []byte(`{"bid":`)), bytes.Count(c, []byte(`{"bid":`)); n != m {
		t.Errorf("seed 42 has %d bids, seed 43 %d", n, m)
	}
}

// TestRangesInParallel cuts the stream into ranges generated on goroutines
// of their own, by generators of their own, and out of order: together they
// are the stream.
func TestRangesInParallel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed, cfg.Events = 7, 30_000
	var whole []byte
	for _, e := range newGenerator(t, cfg).All() {
		whole = AppendJSON(whole, &e)
		whole = append(whole, '\n')
	}
	cuts := []int64{0, 1, 49, 50, 4_321, 17_000, 29_999, 30_000}
	parts := make([][]byte, len(cuts)-1)
	var wg sync.WaitGroup
	for i := len(parts) - 1; i >= 0; i-- {
		wg.Go(func() {
			parts[i] = encode(newGenerator(t, cfg), cuts[i], cuts[i+1])
		})
	}
	wg.Wait()
	if got := bytes.Join(parts, nil); !bytes.Equal(got, whole) {
		t.Fatal("the ranges generated in parallel differ from the stream")
	}
	// And single events, backwards.
	g := newGenerator(t, cfg)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	for n := cfg.Events - 1; n >= 0; n -= 997 {
		e := g.Event(n)
		if got := append(AppendJSON(nil, &e), '\n'); !bytes.Equal(got, lines[n]) {
			t.Fatalf("Event(%d) = %s, want line %d of the stream %s", n, got, n, lines[n])
		}
	}
}

func TestAllStopsAtEventsOrNever(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Events = 123
	var n int64
	for i := range newGenerator(t, cfg).All() {
		if i != n {
			t.Fatalf("All yielded event %d after %d events", i, n)
		}
		n++
	}
	if n != 123 {
		t.Errorf("All yielded %d events, want Config.Events = 123", n)
	}
	cfg.Events = 0
	n = 0
	for range newGenerator(t, cfg).All() {
		if n++; n == 100_000 {
			break
		}
	}
	if n != 100_000 {
		t.Errorf("All with Events 0 ended after %d events, want no end", n)
	}
	if e := newGenerator(t, cfg).Event(-1); e != (Event{}) {
		t.Errorf("Event(-1) = %+v, want the zero Event", e)
	}
}

// TestTimestamps: event n happens at BaseTime + ⌊n·1000/tps⌋ ms, an
// inter-event delay of 1e6/tps µs (GeneratorConfig.timestampForEvent).
func TestTimestamps(t *testing.T) {
	for _, tc := range []struct {
		tps  int64
		n    int64
		want int64 // ms after BaseTime
	}{
		{100_000, 0, 0},
		{100_000, 99, 0},
		{100_000, 100, 1},
		{100_000, 1_000_000, 10_000},
		{100_000, 200_000_000, 2_000_000}, // the V2 suite: 2000 s of event time
		{10_000_000, 100_000_000, 10_000}, // the V1 suite: 10 s
		{3, 1, 333},
		{3, 2, 666},
		{3, 3, 1000},
		{1, 1e15, 1e18},
		{1000, math.MaxInt64 / 10, math.MaxInt64 / 10}, // n·1000 overflows int64
	} {
		cfg := DefaultConfig()
		cfg.TPS = tc.tps
		g := newGenerator(t, cfg)
		if got := g.Timestamp(tc.n) - DefaultBaseTime; got != tc.want {
			t.Errorf("tps %d: event %d at BaseTime+%d ms, want +%d", tc.tps, tc.n, got, tc.want)
		}
	}
	cfg := DefaultConfig()
	cfg.TPS = 1
	if got := newGenerator(t, cfg).Timestamp(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("a timestamp past the range of int64 = %d, want it saturated", got)
	}
	cfg = DefaultConfig()
	cfg.BaseTime = 5
	e := newGenerator(t, cfg).Event(0)
	if e.DateTime() != 5 {
		t.Errorf("event 0 with BaseTime 5 happens at %d", e.DateTime())
	}
}

// The reference's constants, restated here so that the test does not read
// them from the code it tests.
const (
	refFirstID       = 1000 // GeneratorConfig.FIRST_PERSON_ID, FIRST_AUCTION_ID
	refHotBatch      = 100  // HOT_AUCTION_RATIO, HOT_SELLER_RATIO, HOT_BIDDER_RATIO
	refLead          = 10   // PERSON_ID_LEAD, AUCTION_ID_LEAD
	refInFlight      = 100  // numInFlightAuctions
	refActivePeople  = 1000 // numActivePeople
	refChannels      = 10_000
	refURLPrefix     = "https://www.nexmark.com/"
	distributionSize = 1_000_000
)

// Tolerances of TestDistribution, in shares (0.01 is one percentage point)
// or in bytes. With 920 k bids and 60 k auctions one standard error is
// about 0.05 pp for a share of bids and 0.2 pp for a share of auctions; each
// tolerance is at least five of them.
const (
	tolHotAuctions  = 0.005 // bids on the hot auction
	tolHotBidders   = 0.005 // bids by the hot bidder
	tolHotSellers   = 0.01  // auctions by the hot seller
	tolHotChannels  = 0.005 // bids on the hot channels, and on each one
	tolChannelIDs   = 0.01  // URLs with channel_id among the other channels
	tolCategories   = 0.01  // auctions in each category
	tolBidSize      = 1.0   // mean bid size, bytes, as the reference counts
	tolPersonSize   = 2.0   // mean person size
	tolAuctionSize  = 3.0   // mean auction size
	tolLog10Price   = 0.02  // mean log10 of the price in dollars (uniform on 0..6: 3)
	tolAuctionLenMs = 0.5   // mean auction length against its horizon
)

var (
	urlRE        = regexp.MustCompile(`^https://www\.nexmark\.com/[a-z_]{3,4}/[a-z_]{3,4}/[a-z_]{3,4}/item\.htm\?query=1(&channel_id=([0-9]+))?$`)
	emailRE      = regexp.MustCompile(`^([a-z]([a-z ]*[a-z])?)?@([a-z]([a-z ]*[a-z])?)?\.com$`)
	creditCardRE = regexp.MustCompile(`^[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}$`)
	wordsRE      = regexp.MustCompile(`^([a-z]([a-z ]*[a-z])?)?$`)
)

// isLetters reports whether s is lowercase letters only; a regexp would
// take most of TestDistribution's time.
func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// TestDistribution checks a million events of the default Config against
// the reference model, looking only at the events as a consumer sees them.
func TestDistribution(t *testing.T) {
	events := int64(distributionSize)
	if testing.Short() {
		events = 200_000
	}
	cfg := DefaultConfig()
	cfg.Events = events
	g := newGenerator(t, cfg)

	var (
		persons, auctions, bids                             int64
		lastPerson, lastAuction                             int64 = refFirstID - 1, refFirstID - 1
		hotAuctionBids, hotBidderBids, hotSellerAuctions    int64
		bidsAhead                                           int64 // on auctions not generated yet
		hotChannelBids                                      int64
		perHotChannel                                       = map[string]int64{}
		urlOf                                               = map[string]string{}
		otherChannelBids, otherWithID                       int64
		perCategory                                         = map[int64]int64{}
		bidSize, personSize, auctionSize, log10Price, lenMs float64
		horizonSum                                          float64
		prevTime                                            int64 = math.MinInt64
		group                                               [50]Kind
	)
	for n, e := range g.All() {
		// Event time: BaseTime + n·1000/tps, never going back.
		at := e.DateTime()
		if want := DefaultBaseTime + n*1000/DefaultTPS; at != want {
			t.Fatalf("event %d at %d, want %d (tps %d)", n, at, want, DefaultTPS)
		}
		if at < prevTime {
			t.Fatalf("event %d at %d, before event %d at %d", n, at, n-1, prevTime)
		}
		prevTime = at

		group[n%50] = e.Kind
		if n%50 == 49 {
			want := [50]Kind{KindPerson, KindAuction, KindAuction, KindAuction}
			for i := 4; i < 50; i++ {
				want[i] = KindBid
			}
			if group != want {
				t.Fatalf("events %d to %d are %v, want 1 person, 3 auctions, 46 bids", n-49, n, group)
			}
		}

		switch e.Kind {
		case KindPerson:
			p := &e.Person
			persons++
			if p.ID != lastPerson+1 {
				t.Fatalf("event %d: person %d after person %d", n, p.ID, lastPerson)
			}
			lastPerson = p.ID
			if !slices.Contains(usStates, p.State) || !slices.Contains(usCities, p.City) {
				t.Fatalf("event %d: person in %q, %q", n, p.City, p.State)
			}
			first, last, ok := strings.Cut(p.Name, " ")
			if !ok || !slices.Contains(firstNames, first) || !slices.Contains(lastNames, last) {
				t.Fatalf("event %d: person named %q", n, p.Name)
			}
			if !emailRE.MatchString(p.EmailAddress) || !creditCardRE.MatchString(p.CreditCard) || !isLetters(p.Extra) {
				t.Fatalf("event %d: person %+v", n, *p)
			}
			personSize += float64(8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra))

		case KindAuction:
			a := &e.Auction
			auctions++
			if a.ID != lastAuction+1 {
				t.Fatalf("event %d: auction %d after auction %d", n, a.ID, lastAuction)
			}
			lastAuction = a.ID
			if !personRefOK(a.Seller, lastPerson) {
				t.Fatalf("event %d: seller %d, want one of the %d newest people or %d ahead (the newest is %d)", n, a.Seller, refActivePeople, refLead, lastPerson)
			}
			if a.Seller == (lastPerson-refFirstID)/refHotBatch*refHotBatch+refFirstID {
				hotSellerAuctions++
			}
			perCategory[a.Category]++
			if !priceOK(a.InitialBid) {
				t.Fatalf("event %d: initial bid %d cents, want 100 to 100000000", n, a.InitialBid)
			}
			if a.Reserve <= a.InitialBid {
				t.Fatalf("event %d: reserve %d not above the initial bid %d", n, a.Reserve, a.InitialBid)
			}
			// Auctions run 1 ms to twice the time it takes to open
			// numInFlightAuctions more: 100·50/3 events.
			horizon := g.Timestamp(n+refInFlight*50/3) - at
			if l := a.Expires - a.DateTime; l < 1 || l > 2*horizon {
				t.Fatalf("event %d: auction runs %d ms, want 1 to %d", n, l, 2*horizon)
			}
			lenMs += float64(a.Expires - a.DateTime)
			horizonSum += float64(horizon)
			if !wordsRE.MatchString(a.ItemName) || !wordsRE.MatchString(a.Description) || !isLetters(a.Extra) ||
				len(a.ItemName) > 19 || len(a.Description) > 99 {
				t.Fatalf("event %d: auction %+v", n, *a)
			}
			auctionSize += float64(8 + len(a.ItemName) + len(a.Description) + 5*8 + len(a.Extra))

		case KindBid:
			b := &e.Bid
			bids++
			// An auction opened within the last numInFlightAuctions, or up
			// to AUCTION_ID_LEAD ahead of the newest.
			if low := max(lastAuction-refInFlight, refFirstID); b.Auction < low || b.Auction > lastAuction+refLead {
				t.Fatalf("event %d: bid on auction %d, want %d to %d (the newest is %d)", n, b.Auction, low, lastAuction+refLead, lastAuction)
			}
			if b.Auction > lastAuction {
				bidsAhead++
			}
			if b.Auction == (lastAuction-refFirstID)/refHotBatch*refHotBatch+refFirstID {
				hotAuctionBids++
			}
			if !personRefOK(b.Bidder, lastPerson) {
				t.Fatalf("event %d: bidder %d, want one of the %d newest people or %d ahead (the newest is %d)", n, b.Bidder, refActivePeople, refLead, lastPerson)
			}
			if b.Bidder == (lastPerson-refFirstID)/refHotBatch*refHotBatch+1+refFirstID {
				hotBidderBids++
			}
			if !priceOK(b.Price) {
				t.Fatalf("event %d: price %d cents, want 100 to 100000000", n, b.Price)
			}
			log10Price += math.Log10(float64(b.Price) / 100)
			if u, ok := urlOf[b.Channel]; !ok {
				urlOf[b.Channel] = b.URL
				checkChannel(t, n, b.Channel, b.URL)
			} else if u != b.URL {
				t.Fatalf("event %d: channel %s with URL %s and %s", n, b.Channel, u, b.URL)
			}
			if slices.Contains(hotChannels, b.Channel) {
				hotChannelBids++
				perHotChannel[b.Channel]++
			} else {
				otherChannelBids++
				if strings.Contains(b.URL, "&channel_id=") {
					otherWithID++
				}
			}
			if !isLetters(b.Extra) {
				t.Fatalf("event %d: bid extra %q", n, b.Extra)
			}
			bidSize += float64(4*8 + len(b.Extra))
		}
	}

	if persons != events/50 || auctions != 3*events/50 || bids != 46*events/50 {
		t.Errorf("%d events: %d persons, %d auctions, %d bids; want 1:3:46", events, persons, auctions, bids)
	}
	share := func(k, of int64) float64 { return float64(k) / float64(of) }
	within := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.4f, want %.4f ± %.4f", what, got, want, tol)
		} else {
			t.Logf("%s = %.4f (want %.4f ± %.4f)", what, got, want, tol)
		}
	}
	// A bid goes to the hot auction with probability 1 - 1/hotAuctionRatio,
	// and otherwise picks it by chance among the ~111 in flight or ahead.
	within("share of bids on the hot auction", share(hotAuctionBids, bids), 0.5+0.5/(refInFlight+1+refLead), tolHotAuctions)
	within("share of bids by the hot bidder", share(hotBidderBids, bids), 0.75+0.25/(refActivePeople+refLead), tolHotBidders)
	within("share of auctions by the hot seller", share(hotSellerAuctions, auctions), 0.75+0.25/(refActivePeople+refLead), tolHotSellers)
	t.Logf("share of bids on auctions not generated yet: %.4f", share(bidsAhead, bids))
	within("share of bids on the hot channels", share(hotChannelBids, bids), 0.5, tolHotChannels)
	for _, c := range hotChannels {
		within("share of bids on "+c, share(perHotChannel[c], bids), 0.125, tolHotChannels)
	}
	if other := len(urlOf) - len(hotChannels); other != refChannels {
		t.Errorf("bids came from %d other channels, want all %d", other, refChannels)
	}
	within("share of the other channels' bids with a channel_id", share(otherWithID, otherChannelBids), 0.9, tolChannelIDs)
	for c := int64(10); c < 15; c++ {
		within("share of auctions in category "+strconv.FormatInt(c, 10), share(perCategory[c], auctions), 0.2, tolCategories)
	}
	if len(perCategory) != 5 {
		t.Errorf("auctions in categories %v, want 10 to 14", perCategory)
	}
	within("mean bid size", bidSize/float64(bids), 100-0.5, tolBidSize)
	within("mean person size", personSize/float64(persons), 200-0.5, tolPersonSize)
	within("mean auction size", auctionSize/float64(auctions), 500-0.5, tolAuctionSize)
	within("mean log10 of the bid price in dollars", log10Price/float64(bids), 3, tolLog10Price)
	// Uniform on 1..2h has mean h + 1/2.
	within("mean auction length minus its horizon, ms", (lenMs-horizonSum)/float64(auctions), 0.5, tolAuctionLenMs)
}

// personRefOK: a seller or bidder is one of the numActivePeople newest
// people or up to PERSON_ID_LEAD ahead of the newest.
func personRefOK(id, lastPerson int64) bool {
	people := lastPerson - refFirstID + 1
	low := refFirstID + people - min(people, refActivePeople)
	return id >= low && id <= lastPerson+refLead
}

// priceOK: prices are 10^(6u) dollars for a uniform u, in cents.
func priceOK(cents int64) bool { return cents >= 100 && cents <= 100_000_000 }

// checkChannel: a hot channel has a URL without channel_id; channel-<i> has
// one with channel_id = |i with its 32 bits reversed| nine times in ten.
func checkChannel(t *testing.T, n int64, channel, url string) {
	t.Helper()
	m := urlRE.FindStringSubmatch(url)
	if m == nil {
		t.Fatalf("event %d: channel %s has URL %q", n, channel, url)
	}
	if slices.Contains(hotChannels, channel) {
		if m[1] != "" {
			t.Fatalf("event %d: hot channel %s has URL %q", n, channel, url)
		}
		return
	}
	num, ok := strings.CutPrefix(channel, "channel-")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 || i >= refChannels {
		t.Fatalf("event %d: channel %q", n, channel)
	}
	if m[1] != "" {
		rev := int64(int32(bits.Reverse32(uint32(i))))
		if want := strconv.FormatInt(max(rev, -rev), 10); m[2] != want {
			t.Fatalf("event %d: channel %s has channel_id %s, want %s", n, channel, m[2], want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Events = -1 }, "Config.Events = -1: must not be negative"},
		{func(c *Config) { c.TPS = 0 }, "Config.TPS = 0: must be positive"},
		{func(c *Config) { c.PersonProportion = 0 }, "Config.PersonProportion = 0"},
		{func(c *Config) { c.AuctionProportion = 0 }, "Config.AuctionProportion = 0"},
		{func(c *Config) { c.BidProportion = -1 }, "Config.BidProportion = -1"},
		{func(c *Config) { c.AvgBidByteSize = -1 }, "Config.AvgBidByteSize = -1"},
		{func(c *Config) { c.AvgPersonByteSize = 1 << 21 }, "Config.AvgPersonByteSize = 2097152"},
		{func(c *Config) { c.HotAuctionRatio = 0 }, "Config.HotAuctionRatio = 0: must be between 1"},
		{func(c *Config) { c.HotSellersRatio = 0 }, "Config.HotSellersRatio = 0"},
		{func(c *Config) { c.HotBiddersRatio = 0 }, "Config.HotBiddersRatio = 0"},
		{func(c *Config) { c.NumInFlightAuctions = 0 }, "Config.NumInFlightAuctions = 0"},
		{func(c *Config) { c.NumActivePeople = 0 }, "Config.NumActivePeople = 0"},
	} {
		cfg := DefaultConfig()
		tc.change(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error with %q", err, tc.want)
		}
		if _, err := NewGenerator(cfg); err == nil {
			t.Errorf("NewGenerator accepted a Config whose Validate fails with %q", tc.want)
		}
	}
	// Every problem is reported at once.
	if err := (Config{}).Validate(); err == nil || strings.Count(err.Error(), "\n") != 7 {
		t.Errorf("the zero Config: Validate() = %v, want one line for each of the 8 fields out of range", err)
	}
}

// TestOtherProportionsAndSizes: the model's parameters are honoured, not
// only the defaults.
func TestOtherProportionsAndSizes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PersonProportion, cfg.AuctionProportion, cfg.BidProportion = 2, 2, 0
	cfg.AvgPersonByteSize, cfg.AvgAuctionByteSize = 10, 2_000_000>>1
	cfg.HotSellersRatio = 1 // never the hot seller but by chance
	g := newGenerator(t, cfg)
	var kinds [3]int
	for n, e := range g.Range(0, 40) {
		kinds[e.Kind]++
		switch e.Kind {
		case KindPerson:
			if e.Person.ID != FirstPersonID+n/4*2+n%4 || e.Person.Extra != "" {
				t.Fatalf("event %d: person %d with %d bytes of extra", n, e.Person.ID, len(e.Person.Extra))
			}
		case KindAuction:
			if e.Auction.ID != FirstAuctionID+n/4*2+n%4-2 {
				t.Fatalf("event %d: auction %d", n, e.Auction.ID)
			}
			// Larger than half the shared text: drawn letter by letter.
			if l := len(e.Auction.Extra); l < 700_000 || l > 1_300_000 {
				t.Fatalf("event %d: auction with %d bytes of extra", n, l)
			}
		}
	}
	if kinds != [3]int{20, 20, 0} {
		t.Errorf("proportions 2:2:0 gave %v persons, auctions, bids", kinds)
	}
}
