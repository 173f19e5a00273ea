package aggregates

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ15(t *testing.T) { jobtest.CheckGenerated(t, Q15, reference.Q15, job.Options{}) }
func TestQ16(t *testing.T) { jobtest.CheckGenerated(t, Q16, reference.Q16, job.Options{}) }
func TestQ17(t *testing.T) { jobtest.CheckGenerated(t, Q17, reference.Q17, job.Options{}) }
func TestQ18(t *testing.T) { jobtest.CheckGenerated(t, Q18, reference.Q18, job.Options{}) }
func TestQ19(t *testing.T) { jobtest.CheckGenerated(t, Q19, reference.Q19, job.Options{}) }

// lastSecond is 2015-07-15 23:59:59.000 UTC: a second before midnight, so
// the hand-made inputs cross a day boundary within the 4 s a bid may be out
// of order.
var lastSecond = time.Date(2015, 7, 15, 23, 59, 59, 0, time.UTC).UnixMilli()

// bid returns a bid event; the bidder also names the bid in the extra
// column, so rows of different bids differ.
func bid(auction, bidder, price int64, channel string, dateTime int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{Auction: auction, Bidder: bidder, Price: price,
		Channel: channel, URL: "https://www.nexmark.com/" + channel, DateTime: dateTime, Extra: "x"}}
}

// others are a person and an auction, which every query here ignores.
func others(dateTime int64) []nexmark.Event {
	return []nexmark.Event{
		{Kind: nexmark.KindPerson, Person: nexmark.Person{ID: 10, Name: "p", DateTime: dateTime}},
		{Kind: nexmark.KindAuction, Auction: nexmark.Auction{ID: 1, ItemName: "i", DateTime: dateTime, Expires: dateTime + 10_000}},
	}
}

// checkByHand checks q's rows on events against want, worked out by hand,
// and also checks that the reference function agrees with want, so that a
// disagreement is found on either side.
func checkByHand(t *testing.T, q job.Query, ref func([]nexmark.Event) []reference.Row, events []nexmark.Event, want []reference.Row) {
	t.Helper()
	refLines := func(rows []reference.Row) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.JSON())
		}
		slices.Sort(out)
		return out
	}
	if got, exp := refLines(ref(events)), refLines(want); !slices.Equal(got, exp) {
		t.Errorf("the reference disagrees with the hand-made rows:\nreference: %q\nby hand:   %q", got, exp)
	}
	jobtest.CheckInput(t, q, events, want, job.Options{})
}

// counts returns the twelve count columns of Q15 and Q16 after the first
// columns.
func counts(first []any, bids, bidders, auctions [4]int) reference.Row {
	names := []string{"total", "rank1", "rank2", "rank3"}
	pairs := slices.Clone(first)
	for i, n := range names {
		pairs = append(pairs, n+"_bids", bids[i])
	}
	for i, n := range names {
		pairs = append(pairs, n+"_bidders", bidders[i])
	}
	for i, n := range names {
		pairs = append(pairs, n+"_auctions", auctions[i])
	}
	return jobtest.R(pairs...)
}

func TestQ15ByHand(t *testing.T) {
	t0 := lastSecond - 1_000 // 23:59:58.000 on the 15th
	events := append(others(t0),
		bid(1, 10, 9_999, "c", t0),           // 15th, rank 1 (the highest price of rank 1)
		bid(1, 10, 10_000, "c", t0+1_000),    // 15th, rank 2 (the lowest of rank 2)
		bid(2, 11, 1_000_000, "c", t0+2_000), // 16th 00:00:00.000, rank 3 (the lowest of rank 3)
		// Out of order by 1 ms, across midnight: the 15th's row changes
		// again after the 16th's appeared.
		bid(2, 10, 999_999, "c", t0+1_999), // 15th 23:59:59.999, rank 2 (the highest of rank 2)
		bid(3, 11, 5, "c", t0+1_500),       // 15th, rank 1, out of order by 500 ms
	)
	// The 15th has bids 1, 2, 4, 5: rank 1 bids 1 and 5, rank 2 bids 2
	// and 4. Bidders: 10 and 11 in all; rank 1: 10 (bid 1) and 11 (bid 5);
	// rank 2: 10 twice, counted once. Auctions: 1, 2, 3; rank 1: 1 and 3;
	// rank 2: 1 and 2. The 16th has bid 3 alone, of rank 3.
	want := []reference.Row{
		counts([]any{"day", "2015-07-15"}, [4]int{4, 2, 2, 0}, [4]int{2, 2, 1, 0}, [4]int{3, 2, 2, 0}),
		counts([]any{"day", "2015-07-16"}, [4]int{1, 0, 0, 1}, [4]int{1, 0, 0, 1}, [4]int{1, 0, 0, 1}),
	}
	checkByHand(t, Q15, reference.Q15, events, want)
}

func TestQ16ByHand(t *testing.T) {
	t0 := lastSecond - 59_000 // 23:59:00.000 on the 15th
	events := append(others(t0),
		bid(1, 10, 100, "Google", t0-2_000),       // (Google, 15th) 23:58, rank 1
		bid(1, 10, 20_000, "Google", t0),          // 23:59, rank 2
		bid(2, 11, 2_000_000, "Google", t0-1_000), // 23:58 out of order: the minute stays 23:59; rank 3
		bid(1, 10, 100, "Baidu", t0+59_999),       // (Baidu, 15th) 23:59:59.999
		bid(1, 10, 100, "Baidu", t0+60_000),       // (Baidu, 16th) 00:00:00.000
		bid(2, 12, 50, "Google", t0+59_998),       // (Google, 15th) 23:59:59.998, 2 ms out of order; rank 1
	)
	// (Google, 15th): bids 1, 2, 3, 6; rank 1: 1 and 6 (bidders 10, 12;
	// auctions 1, 2), rank 2: bid 2, rank 3: bid 3 (bidder 11, auction 2).
	// Each Baidu group has one bid of rank 1.
	want := []reference.Row{
		counts([]any{"channel", "Baidu", "day", "2015-07-15", "minute", "23:59"},
			[4]int{1, 1, 0, 0}, [4]int{1, 1, 0, 0}, [4]int{1, 1, 0, 0}),
		counts([]any{"channel", "Baidu", "day", "2015-07-16", "minute", "00:00"},
			[4]int{1, 1, 0, 0}, [4]int{1, 1, 0, 0}, [4]int{1, 1, 0, 0}),
		counts([]any{"channel", "Google", "day", "2015-07-15", "minute", "23:59"},
			[4]int{4, 2, 1, 1}, [4]int{3, 2, 1, 1}, [4]int{2, 2, 1, 1}),
	}
	checkByHand(t, Q16, reference.Q16, events, want)
}

func TestQ17ByHand(t *testing.T) {
	t0 := lastSecond - 1_000 // 23:59:58.000 on the 15th
	events := append(others(t0),
		bid(5, 1, 9_999, "c", t0),
		bid(5, 2, 1_000_000, "c", t0+2_000), // (5, 16th)
		bid(5, 3, 10_000, "c", t0+1_999),    // (5, 15th), out of order across midnight
		bid(5, 4, 999_999, "c", t0+500),
		bid(5, 5, 1_000_000, "c", t0+1_000),
		bid(6, 6, 1, "c", t0+1_001),
		bid(6, 7, 2, "c", t0+1_002),
		bid(5, 8, 8, "c", t0+2_001), // (5, 16th)
	)
	// (5, 15th): 9 999, 10 000, 999 999, 1 000 000: one of rank 1, two of
	// rank 2, one of rank 3; sum 2 019 998, average 504 999.5 truncated.
	// (5, 16th): 1 000 000 and 8; average 500 004. (6, 15th): 1 and 2,
	// average 1.5 truncated to 1.
	want := []reference.Row{
		jobtest.R("auction", 5, "day", "2015-07-15", "total_bids", 4, "rank1_bids", 1, "rank2_bids", 2, "rank3_bids", 1,
			"min_price", 9_999, "max_price", 1_000_000, "avg_price", 504_999, "sum_price", 2_019_998),
		jobtest.R("auction", 5, "day", "2015-07-16", "total_bids", 2, "rank1_bids", 1, "rank2_bids", 0, "rank3_bids", 1,
			"min_price", 8, "max_price", 1_000_000, "avg_price", 500_004, "sum_price", 1_000_008),
		jobtest.R("auction", 6, "day", "2015-07-15", "total_bids", 2, "rank1_bids", 2, "rank2_bids", 0, "rank3_bids", 0,
			"min_price", 1, "max_price", 2, "avg_price", 1, "sum_price", 3),
	}
	checkByHand(t, Q17, reference.Q17, events, want)
}

// bidRow returns the expected row of a bid made by bid, then extra pairs.
func bidRow(e nexmark.Event, extra ...any) reference.Row {
	b := e.Bid
	return jobtest.R(append([]any{"auction", b.Auction, "bidder", b.Bidder, "price", b.Price, "channel", b.Channel,
		"url", b.URL, "dateTime", b.DateTime, "extra", b.Extra}, extra...)...)
}

func TestQ18ByHand(t *testing.T) {
	t0 := lastSecond
	b1 := bid(1, 10, 1, "c", t0)
	b2 := bid(1, 10, 2, "c", t0+2_000)
	b3 := bid(1, 10, 3, "c", t0+1_000)                       // older than b2: ignored
	b4 := bid(1, 10, 4, "c", t0+2_000)                       // as old as b2, later: replaces it
	b5 := bid(1, 11, 5, "c", t0+1_500)                       // another bidder, the same auction
	b6 := bid(2, 10, 6, "c", t0)                             // the same bidder, another auction
	events := append(others(t0), b1, b2, b3, b4, b5, b6, b6) // b6 twice: the second changes nothing
	want := []reference.Row{bidRow(b4), bidRow(b5), bidRow(b6)}
	checkByHand(t, Q18, reference.Q18, events, want)
}

func TestQ19ByHand(t *testing.T) {
	t0 := lastSecond
	// Auction 1's bids; bidder i makes bid i.
	prices := []int64{100, 200, 100, 300, 50, 200, 400, 10, 100, 20, // the first ten
		10,  // b11 ties the tenth (b8): it ranks 11th and is left out
		150, // b12 enters at rank 5, after the 200s and before the 100s; b8 drops out
		20,  // b13 ties the tenth (b10, now at rank 10): left out
		25,  // b14 replaces b10 at rank 10
	}
	var events, b []nexmark.Event
	events = others(t0)
	b = append(b, nexmark.Event{}) // b[i] is bid i
	for i, p := range prices {
		e := bid(1, int64(i+1), p, "c", t0+int64(i))
		events = append(events, e)
		b = append(b, e)
	}
	// Auction 2: equal prices and equal dateTimes rank in arrival order.
	first := bid(2, 15, 5, "c", t0+1_000)
	second := bid(2, 16, 5, "c", t0+1_000)
	events = append(events, first, second)
	want := []reference.Row{
		bidRow(b[7], "rank_number", 1), bidRow(b[4], "rank_number", 2), bidRow(b[2], "rank_number", 3),
		bidRow(b[6], "rank_number", 4), bidRow(b[12], "rank_number", 5), bidRow(b[1], "rank_number", 6),
		bidRow(b[3], "rank_number", 7), bidRow(b[9], "rank_number", 8), bidRow(b[5], "rank_number", 9),
		bidRow(b[14], "rank_number", 10),
		bidRow(first, "rank_number", 1), bidRow(second, "rank_number", 2),
	}
	checkByHand(t, Q19, reference.Q19, events, want)
}

// TestQ19EqualPricesOutOfOrder shows where Q19 differs from the reference
// on purpose: equal prices arriving out of dateTime order rank by dateTime
// (see Q19), where the reference ranks them in stream order.
func TestQ19EqualPricesOutOfOrder(t *testing.T) {
	t0 := lastSecond
	late := bid(2, 15, 5, "c", t0+3_000)
	early := bid(2, 16, 5, "c", t0+1_000) // 2 s out of order
	events := []nexmark.Event{late, early}
	jobtest.CheckInput(t, Q19, events, []reference.Row{
		bidRow(early, "rank_number", 1), bidRow(late, "rank_number", 2),
	}, job.Options{})
	ref := reference.Q19(events)
	if len(ref) != 2 || ref[0].JSON() != bidRow(late, "rank_number", 1).JSON() {
		t.Errorf("the reference no longer ranks equal prices in stream order: %v", ref)
	}
}

// changelog runs q on events (through an events file, as CheckInput does)
// and returns its rows in the order they were emitted.
func changelog(t *testing.T, q job.Query, events []nexmark.Event) []string {
	t.Helper()
	var data []byte
	for i := range events {
		data = nexmark.AppendJSON(data, &events[i])
		data = append(data, '\n')
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	lines, _, err := job.RunCollect(t.Context(), q, job.Options{Input: path, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestChangelogs checks the exact changelog of a few inputs: +I for a new
// row, then -U old and +U new for each row a record changes, and nothing
// for a record that changes no row.
func TestChangelogs(t *testing.T) {
	t0 := lastSecond
	check := func(t *testing.T, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("changelog:\n got %q\nwant %q", got, want)
		}
	}
	t.Run("q19", func(t *testing.T) {
		x, y, z := bid(3, 1, 10, "c", t0), bid(3, 2, 30, "c", t0+1), bid(3, 3, 20, "c", t0+2)
		row := func(op string, e nexmark.Event, rank int) string {
			return `{"op":"` + op + `",` + bidRow(e, "rank_number", rank).JSON()[1:]
		}
		check(t, changelog(t, Q19, []nexmark.Event{x, y, z}), []string{
			row("+I", x, 1),
			// y enters at rank 1: x moves from rank 1 to a new rank 2.
			row("-U", x, 1), row("+U", y, 1), row("+I", x, 2),
			// z enters at rank 2: x moves from rank 2 to a new rank 3.
			row("-U", x, 2), row("+U", z, 2), row("+I", x, 3),
		})
	})
	t.Run("q18", func(t *testing.T) {
		a, older, same := bid(4, 1, 10, "c", t0+1_000), bid(4, 1, 11, "c", t0), bid(4, 1, 12, "c", t0+1_000)
		row := func(op string, e nexmark.Event) string { return `{"op":"` + op + `",` + bidRow(e).JSON()[1:] }
		check(t, changelog(t, Q18, []nexmark.Event{a, older, same, same}), []string{
			row("+I", a),
			// older changes nothing; same replaces a (equal dateTime, later);
			// the second same changes nothing.
			row("-U", a), row("+U", same),
		})
	})
	t.Run("q17", func(t *testing.T) {
		got := changelog(t, Q17, []nexmark.Event{bid(7, 1, 3, "c", t0), bid(7, 2, 5, "c", t0)})
		check(t, got, []string{
			`{"op":"+I","auction":7,"day":"2015-07-15","total_bids":1,"rank1_bids":1,"rank2_bids":0,"rank3_bids":0,"min_price":3,"max_price":3,"avg_price":3,"sum_price":3}`,
			`{"op":"-U","auction":7,"day":"2015-07-15","total_bids":1,"rank1_bids":1,"rank2_bids":0,"rank3_bids":0,"min_price":3,"max_price":3,"avg_price":3,"sum_price":3}`,
			`{"op":"+U","auction":7,"day":"2015-07-15","total_bids":2,"rank1_bids":2,"rank2_bids":0,"rank3_bids":0,"min_price":3,"max_price":5,"avg_price":4,"sum_price":8}`,
		})
	})
}

func TestDayAndMinute(t *testing.T) {
	for _, c := range []struct {
		ms     int64
		day    string
		minute string
	}{
		{0, "1970-01-01", "00:00"},
		{-1, "1969-12-31", "23:59"},
		{msPerDay - 1, "1970-01-01", "23:59"},
		{msPerDay, "1970-01-02", "00:00"},
		{-msPerDay, "1969-12-31", "00:00"},
		{lastSecond, "2015-07-15", "23:59"},
		{lastSecond + 1_000, "2015-07-16", "00:00"},
		{lastSecond - 11*3600_000 - 59*60_000, "2015-07-15", "12:00"},
	} {
		ref := time.UnixMilli(c.ms).UTC()
		if got := dayString(dayOf(c.ms)); got != c.day || got != ref.Format("2006-01-02") {
			t.Errorf("day of %d = %s, want %s", c.ms, got, c.day)
		}
		if got := minuteString(minuteOf(c.ms)); got != c.minute || got != ref.Format("15:04") {
			t.Errorf("minute of %d = %s, want %s", c.ms, got, c.minute)
		}
	}
}
