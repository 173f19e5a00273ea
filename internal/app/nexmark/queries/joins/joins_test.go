package joins

import (
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ3(t *testing.T)  { jobtest.CheckGenerated(t, Q3, reference.Q3, job.Options{}) }
func TestQ4(t *testing.T)  { jobtest.CheckGenerated(t, Q4, reference.Q4, job.Options{}) }
func TestQ9(t *testing.T)  { jobtest.CheckGenerated(t, Q9, reference.Q9, job.Options{}) }
func TestQ20(t *testing.T) { jobtest.CheckGenerated(t, Q20, reference.Q20, job.Options{}) }

// Times in the hand-made inputs are milliseconds after this base.
const t0 = 1_436_918_400_000

func person(id int64, state string, at int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindPerson, Person: nexmark.Person{
		ID: id, Name: "p" + state, EmailAddress: "e@x.com", CreditCard: "1", City: "c" + state, State: state,
		DateTime: t0 + at, Extra: "x"}}
}

func auction(id, seller, category, at, expires int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindAuction, Auction: nexmark.Auction{
		ID: id, ItemName: "item", Description: "desc", InitialBid: 1, Reserve: 2, DateTime: t0 + at,
		Expires: t0 + expires, Seller: seller, Category: category, Extra: "ax"}}
}

func bid(auction, bidder, price, at int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{
		Auction: auction, Bidder: bidder, Price: price, Channel: "ch", URL: "u", DateTime: t0 + at, Extra: "bx"}}
}

// byHand is a query under a hand-made test: the query, its reference and
// a run of its operators on an Env that emits a watermark after every
// event.
type byHand struct {
	q   job.Query
	ref func([]nexmark.Event) []reference.Row
	run func(t *testing.T, events []nexmark.Event) []string
}

var (
	q3ByHand  = byHand{Q3, reference.Q3, func(t *testing.T, ev []nexmark.Event) []string { return runFine(t, ev, q3Stream, q3Encode) }}
	q20ByHand = byHand{Q20, reference.Q20, func(t *testing.T, ev []nexmark.Event) []string { return runFine(t, ev, q20Stream, q20Encode) }}
	q9ByHand  = byHand{Q9, reference.Q9, func(t *testing.T, ev []nexmark.Event) []string {
		return runFine(t, ev, q9Stream, changeEncoder(q9Encode))
	}}
	q4ByHand = byHand{Q4, reference.Q4, func(t *testing.T, ev []nexmark.Event) []string {
		return runFine(t, ev, q4Stream, changeEncoder(q4Encode))
	}}
)

// check checks the hand-made events against the expected rows worked out
// by hand three ways: the reference's rows, the query run as `weir nexmark
// run --input` runs it (the file source, which reads a small file in one
// poll, so watermarks hardly move before the end), and the query's
// operators on an Env whose source emits a watermark after every event,
// which is what exercises eviction at the watermark's exact boundaries.
func (h byHand) check(t *testing.T, events []nexmark.Event, want []reference.Row) {
	t.Helper()
	if err := reference.CheckNotLate(events); err != nil {
		t.Fatal(err)
	}
	t.Run("reference", func(t *testing.T) {
		var lines []string
		for _, r := range h.ref(events) {
			lines = append(lines, r.JSON())
		}
		jobtest.Check(t, lines, false, want)
	})
	t.Run("file", func(t *testing.T) { jobtest.CheckInput(t, h.q, events, want, job.Options{}) })
	t.Run("watermark per event", func(t *testing.T) { jobtest.Check(t, h.run(t, events), h.q.Updating, want) })
}

// runFine runs build's operators on events, read in order from one split
// with batches of one record, so that the source emits the reference
// watermark (dateTime − 4 s − 1 ms) after every event, and returns the
// result rows encoded by enc.
func runFine[R any](t *testing.T, events []nexmark.Event, build func(weir.Stream[nexmark.Event]) weir.Stream[R], enc job.Encoder[R]) []string {
	t.Helper()
	env := weir.New(weir.BatchSize(1))
	src := weir.From(env, weir.Slice(events...), weir.EventTime(func(e nexmark.Event) time.Time {
		return time.UnixMilli(e.DateTime())
	}, job.WatermarkDelay))
	col := weir.Collect(weir.Map(build(src), func(r R) string { return string(enc(nil, r)) }))
	if err := env.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return col.Values()
}

// changeEncoder encodes a changelog row as job.EmitChanges does: the row
// with its op.
func changeEncoder[R any](enc job.Encoder[R]) job.Encoder[job.Change[R]] {
	return func(dst []byte, ch job.Change[R]) []byte {
		row := enc(nil, ch.Row)
		dst = append(dst, `{"op":"`...)
		dst = append(dst, ch.Op.String()...)
		dst = append(dst, `",`...)
		return append(dst, row[1:]...)
	}
}

// TestQ3ByHand covers both arrival orders, the state and category filters
// and a late auction of a long-known seller.
func TestQ3ByHand(t *testing.T) {
	events := []nexmark.Event{
		// Seller first: person 1 lives in OR, so its category-10 auction
		// 10 joins at once.
		person(1, "OR", 0),
		auction(10, 1, 10, 100, 9_000),
		// Auction first: auction 11 of person 2 arrives 1.7 s ahead of its
		// seller in event time and before it in the stream; it waits and
		// joins when person 2 (CA) arrives, although the person is older.
		auction(11, 2, 10, 3_000, 9_000),
		person(2, "CA", 1_300),
		// Person 3 lives in WA: its waiting auction 12 is dropped.
		auction(12, 3, 10, 3_100, 9_000),
		person(3, "WA", 3_200),
		// Person 4 lives in ID but auction 13 is of category 11: no row.
		person(4, "ID", 3_300),
		auction(13, 4, 11, 3_400, 9_000),
		// Person 5 lives in AZ: its auction 14, arriving after it, is
		// dropped.
		person(5, "AZ", 3_500),
		auction(14, 5, 10, 3_600, 9_000),
		// Person 6 (ID) has an auction before it and one after: two rows.
		auction(16, 6, 10, 3_700, 9_000),
		person(6, "ID", 3_800),
		auction(17, 6, 10, 3_900, 9_000),
		// The seller of auction 18 never comes: no row.
		auction(18, 7, 10, 4_000, 9_000),
		// A regular join forgets nothing: person 1's auction 19, a minute
		// later, still joins.
		auction(19, 1, 10, 60_000, 90_000),
	}
	want := []reference.Row{
		jobtest.R("name", "pOR", "city", "cOR", "state", "OR", "id", 10),
		jobtest.R("name", "pCA", "city", "cCA", "state", "CA", "id", 11),
		jobtest.R("name", "pID", "city", "cID", "state", "ID", "id", 16),
		jobtest.R("name", "pID", "city", "cID", "state", "ID", "id", 17),
		jobtest.R("name", "pOR", "city", "cOR", "state", "OR", "id", 19),
	}
	q3ByHand.check(t, events, want)
}

// q20Want is the expected q20 row of bid b joined with auction a.
func q20Want(b, a nexmark.Event) reference.Row {
	return jobtest.R("auction", b.Bid.Auction, "bidder", b.Bid.Bidder, "price", b.Bid.Price,
		"channel", b.Bid.Channel, "url", b.Bid.URL, "bid_dateTime", b.Bid.DateTime, "bid_extra", b.Bid.Extra,
		"itemName", a.Auction.ItemName, "description", a.Auction.Description,
		"initialBid", a.Auction.InitialBid, "reserve", a.Auction.Reserve,
		"auction_dateTime", a.Auction.DateTime, "expires", a.Auction.Expires,
		"seller", a.Auction.Seller, "category", a.Auction.Category, "auction_extra", a.Auction.Extra)
}

// TestQ20ByHand covers both arrival orders, the category filter, bids
// outside the auction's life (a regular join has no time condition) and a
// bid whose auction never comes.
func TestQ20ByHand(t *testing.T) {
	a100 := auction(100, 1, 10, 1_000, 2_000)
	b1 := bid(100, 1, 5, 1_100) // after its auction: joins at once
	// Two bids before auction 101 in the stream: one 0.5 s after it in
	// event time, one before it opened. Both wait and join when it comes.
	b2 := bid(101, 2, 6, 2_000)
	b3 := bid(101, 3, 7, 1_400)
	a101 := auction(101, 1, 10, 1_500, 3_000)
	// Auction 102 is of category 11: the bid before it (dropped when it
	// comes) and the one after it (dropped at once) give no row.
	b4 := bid(102, 4, 8, 2_100)
	a102 := auction(102, 1, 11, 2_000, 3_000)
	b5 := bid(102, 5, 9, 2_200)
	b6 := bid(103, 6, 10, 2_300)  // auction 103 never comes
	b7 := bid(100, 7, 11, 60_000) // long after auction 100 expired
	events := []nexmark.Event{a100, b1, b2, b3, a101, b4, a102, b5, b6, b7}
	want := []reference.Row{q20Want(b1, a100), q20Want(b2, a101), q20Want(b3, a101), q20Want(b7, a100)}
	q20ByHand.check(t, events, want)
}

// q9Want is the expected q9 row of auction a won by bid b.
func q9Want(a, b nexmark.Event) reference.Row {
	return jobtest.R("id", a.Auction.ID, "itemName", a.Auction.ItemName, "description", a.Auction.Description,
		"initialBid", a.Auction.InitialBid, "reserve", a.Auction.Reserve, "dateTime", a.Auction.DateTime,
		"expires", a.Auction.Expires, "seller", a.Auction.Seller, "category", a.Auction.Category,
		"extra", a.Auction.Extra, "auction", b.Bid.Auction, "bidder", b.Bid.Bidder, "price", b.Bid.Price,
		"bid_dateTime", b.Bid.DateTime, "bid_extra", b.Bid.Extra)
}

// TestQ9ByHand covers the inclusive bounds of an auction's life, ties,
// bids arriving before their auction, and the watermark boundaries at
// which state is evicted. The checker applies the changelog, so every
// retraction must retract a row emitted before.
func TestQ9ByHand(t *testing.T) {
	a1 := auction(1, 9, 10, 1_000, 5_000)
	early := bid(1, 1, 10, 900) // before auction 1 opened (and before it arrived): never counts
	b2 := bid(1, 2, 20, 1_000)  // at its dateTime (inclusive): +I
	b3 := bid(1, 3, 30, 2_000)  // higher: -U b2, +U b3
	b4 := bid(1, 4, 30, 1_500)  // same price, earlier, arriving later: -U b3, +U b4
	b5 := bid(1, 5, 30, 1_500)  // tied on price and time with b4: b4 came first and stays
	b6 := bid(1, 6, 100, 5_000) // at its expires (inclusive): -U b4, +U b6
	late := bid(1, 7, 1_000, 5_001)
	// Auction 2's bids come before it in the stream (up to 0.6 s ahead in
	// event time); they wait, and the best of those in its life wins: not
	// the 999 bid placed before it opened.
	b21 := bid(2, 1, 50, 3_500)
	b22 := bid(2, 2, 60, 3_600)
	b23 := bid(2, 3, 999, 2_999)
	a2 := auction(2, 9, 11, 3_000, 4_000)
	a3 := auction(3, 9, 12, 3_000, 4_000) // no bids: no row
	// Eviction boundaries. Bid 41 waits for auction 4; the stream then
	// reaches 8 999 ms (watermark 4 998), so the bid, at 5 000, still waits
	// when auction 4 (opening at 5 000) arrives, and wins it.
	b41 := bid(4, 1, 41, 5_000)
	tick1 := person(100, "WA", 8_999)
	a4 := auction(4, 9, 13, 5_000, 6_000)
	// Auction 5 expires at 12 000. The stream reaches 15 999 ms
	// (watermark 11 998): auction 5 is still open for a bid at 12 000.
	a5 := auction(5, 9, 14, 10_000, 12_000)
	tick2 := person(101, "WA", 15_999)
	b51 := bid(5, 1, 51, 12_000)
	// Then the watermark passes auction 5's expires (at 16 001 ms the
	// watermark is 12 000): it closes, leaving a tombstone until 13 000.
	// The tombstone drops a bid at 12 002 (beyond its life anyway) and,
	// having seen one, is renewed at 13 000 until 14 000; at 20 000 ms
	// (watermark 15 999) both timers fire and it goes. A bid for auction 5
	// then waits as one of an unknown auction and is dropped in turn.
	tick3 := person(102, "WA", 16_001)
	b52 := bid(5, 2, 52, 12_002)
	tick4 := person(103, "WA", 20_000)
	b53 := bid(5, 3, 53, 16_500)
	tick5 := person(104, "WA", 30_000)
	// Auction 6 ends on a tie of price and time: the bid that came first
	// wins (the reference takes the first in stream order).
	a6 := auction(6, 9, 15, 30_000, 31_000)
	b61 := bid(6, 1, 70, 30_500)
	b62 := bid(6, 2, 70, 30_500)
	events := []nexmark.Event{
		early, a1, b2, b3, b4, b5, b6, late,
		b21, b22, b23, a2, a3,
		b41, tick1, a4,
		a5, tick2, b51, tick3, b52, tick4, b53, tick5,
		a6, b61, b62,
	}
	want := []reference.Row{q9Want(a1, b6), q9Want(a2, b22), q9Want(a4, b41), q9Want(a5, b51), q9Want(a6, b61)}
	q9ByHand.check(t, events, want)
}

// TestQ4ByHand covers the maximum per auction within its life, bids before
// their auction, auctions without bids and the truncated BIGINT average
// (toward zero, also for a negative one).
func TestQ4ByHand(t *testing.T) {
	events := []nexmark.Event{
		// Category 10: auction 1's final is 300 (the 200 after it changes
		// nothing); auction 2's is 51 (the 1 000 comes after it expired).
		// The average is 351 / 2 = 175.5, truncated to 175; before auction
		// 2 closes it was 300, then (300 + 51) / 2 = 175.
		auction(1, 9, 10, 1_000, 5_000),
		bid(1, 1, 100, 1_500),
		bid(1, 1, 300, 2_000),
		bid(1, 1, 200, 2_500),
		auction(2, 9, 10, 1_000, 3_000),
		bid(2, 1, 51, 1_200),
		bid(2, 1, 1_000, 3_001),
		// Category 11: auction 3's bids come before it; the one before it
		// opened (2 999) does not count, so its final is 7.
		bid(3, 1, 5, 3_500),
		bid(3, 1, 7, 3_600),
		bid(3, 1, 900, 2_999),
		auction(3, 9, 11, 3_000, 4_000),
		// Category 12: auction 4 has no bid in its life: no row.
		auction(4, 9, 12, 4_000, 4_500),
		bid(4, 1, 8, 4_501),
		// Category 13: finals -3 and 0 average to -1.5, truncated toward
		// zero to -1.
		auction(5, 9, 13, 5_000, 6_000),
		auction(6, 9, 13, 5_000, 6_000),
		bid(5, 1, -3, 5_500),
		bid(6, 1, 0, 5_600),
		// Category 14, at the watermark's boundaries: auction 7 expires at
		// 12 000; at 15 999 ms (watermark 11 998) it is still open for a
		// bid at 12 000 (final 77). At 16 001 ms (watermark 12 000) it has
		// closed, and a bid at 12 002 is dropped.
		auction(7, 9, 14, 10_000, 12_000),
		person(1, "WA", 15_999),
		bid(7, 1, 77, 12_000),
		person(2, "WA", 16_001),
		bid(7, 1, 1_000, 12_002),
		// Category 15: bid 88 waits for auction 8; at 23 999 ms (watermark
		// 19 998) it still waits when auction 8, opening at its dateTime
		// 20 000, arrives: final 88.
		bid(8, 1, 88, 20_000),
		person(3, "WA", 23_999),
		auction(8, 9, 15, 20_000, 21_000),
	}
	want := []reference.Row{
		jobtest.R("category", 10, "final", 175),
		jobtest.R("category", 11, "final", 7),
		jobtest.R("category", 13, "final", -1),
		jobtest.R("category", 14, "final", 77),
		jobtest.R("category", 15, "final", 88),
	}
	q4ByHand.check(t, events, want)
}

// TestDuplicateIDs checks that a second auction (q3: person) with the id
// of one the join still keeps fails the job, naming the id, instead of
// giving wrong rows.
func TestDuplicateIDs(t *testing.T) {
	auctions := []nexmark.Event{auction(1, 9, 10, 1_000, 5_000), auction(1, 9, 10, 1_100, 5_000)}
	people := []nexmark.Event{person(7, "OR", 1_000), person(7, "CA", 1_100)}
	for _, tc := range []struct {
		q      job.Query
		events []nexmark.Event
		want   string
	}{
		{Q3, people, "q3: a second person with id 7"},
		{Q4, auctions, "q4: a second auction with id 1"},
		{Q9, auctions, "q9: a second auction with id 1"},
		{Q20, auctions, "q20: a second auction with id 1"},
	} {
		t.Run(tc.q.Name, func(t *testing.T) {
			o := job.Options{Input: jobtest.WriteEvents(t, tc.events)}
			_, _, err := job.RunCollect(t.Context(), tc.q, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
