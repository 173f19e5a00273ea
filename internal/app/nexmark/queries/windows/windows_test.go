package windows

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weirstream/weir"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ5(t *testing.T)  { jobtest.CheckGenerated(t, Q5, reference.Q5, job.Options{}) }
func TestQ7(t *testing.T)  { jobtest.CheckGenerated(t, Q7, reference.Q7, job.Options{}) }
func TestQ8(t *testing.T)  { jobtest.CheckGenerated(t, Q8, reference.Q8, job.Options{}) }
func TestQ11(t *testing.T) { jobtest.CheckGenerated(t, Q11, reference.Q11, job.Options{}) }

// TestQ12 checks q12 on generated events at parallelism 1 and 2: its
// windows follow the wall clock, so only each bidder's total over its rows
// can be compared with the reference.
func TestQ12(t *testing.T) {
	events, cfg := jobtest.Events(t, jobtest.Size(), 1000)
	want := reference.Q12(events)
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("p%d", p), func(t *testing.T) {
			lines, _, err := job.RunCollect(t.Context(), Q12, job.Options{Generator: cfg, Parallelism: p})
			if err != nil {
				t.Fatal(err)
			}
			jobtest.Check(t, q12Totals(t, lines), false, want)
		})
	}
}

// q12Totals checks that each of q12's rows is a count in a 10 s window
// aligned to the epoch, and returns the per-bidder sums of the counts as
// rows (bidder, bid_count), the reference's form.
func q12Totals(t *testing.T, lines []string) []string {
	t.Helper()
	var order []int64
	sums := map[int64]int64{}
	for _, l := range lines {
		var r struct {
			Bidder    *int64 `json:"bidder"`
			BidCount  *int64 `json:"bid_count"`
			Starttime *int64 `json:"starttime"`
			Endtime   *int64 `json:"endtime"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("row %s: %v", l, err)
		}
		switch {
		case r.Bidder == nil || r.BidCount == nil || r.Starttime == nil || r.Endtime == nil:
			t.Fatalf("row %s: a column is missing", l)
		case *r.Endtime-*r.Starttime != q12Size || *r.Starttime%q12Size != 0:
			t.Fatalf("row %s: not an aligned 10 s window", l)
		case *r.BidCount <= 0:
			t.Fatalf("row %s: an empty window", l)
		}
		if _, ok := sums[*r.Bidder]; !ok {
			order = append(order, *r.Bidder)
		}
		sums[*r.Bidder] += *r.BidCount
	}
	out := make([]string, 0, len(order))
	for _, b := range order {
		out = append(out, jobtest.R("bidder", b, "bid_count", sums[b]).JSON())
	}
	return out
}

// base is the start of a 10 s window (and of a 2 s pane) that the
// hand-made inputs start at.
const base = 1_000_000

// bid returns a bid event at Unix ms at; its extra names it.
func bid(auction, bidder, price, at int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{Auction: auction, Bidder: bidder, Price: price,
		Channel: "Google", URL: "https://www.nexmark.com/a/b/c/item.htm", DateTime: at,
		Extra: fmt.Sprintf("b%d@%d", auction, at)}}
}

// person returns a person event at Unix ms at.
func person(id int64, name string, at int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindPerson, Person: nexmark.Person{ID: id, Name: name,
		EmailAddress: "x@y.z", CreditCard: "1234", City: "Boise", State: "ID", DateTime: at}}
}

// auction returns an auction event at Unix ms at.
func auction(id, seller, at int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindAuction, Auction: nexmark.Auction{ID: id, ItemName: "item",
		InitialBid: 1, Reserve: 2, DateTime: at, Expires: at + 20_000, Seller: seller, Category: 10}}
}

// checkByHand checks the hand-made expectation want against the reference
// on events (so that a disagreement shows which is wrong) and then runs q
// on them.
func checkByHand(t *testing.T, q job.Query, ref func([]nexmark.Event) []reference.Row, events []nexmark.Event, want []reference.Row) {
	t.Helper()
	if err := reference.CheckNotLate(events); err != nil {
		t.Fatal(err)
	}
	t.Run("reference", func(t *testing.T) {
		var lines []string
		for _, r := range ref(events) {
			lines = append(lines, r.JSON())
		}
		jobtest.Check(t, lines, false, want)
	})
	t.Run("query", func(t *testing.T) { jobtest.CheckInput(t, q, events, want, job.Options{}) })
}

// q5: HOP 10 s / 2 s; the window starting at s holds [s, s+10 s).
func TestQ5ByHand(t *testing.T) {
	events := []nexmark.Event{
		bid(1, 9, 1, base),
		bid(1, 9, 1, base+1_000),
		bid(2, 9, 1, base+1_500),
		bid(2, 9, 1, base+3_000),
		bid(2, 9, 1, base+2_000),   // out of order, within the 4 s bound
		person(5, "p", base+2_500), // not a bid
		bid(3, 9, 1, base+9_999),   // the last millisecond of [base, base+10 s)
		bid(3, 9, 1, base+10_000),
	}
	// Auction 1 has 2 bids (base, base+1 s), auction 2 has 3 (base+1.5 s,
	// base+2 s, base+3 s), auction 3 has 2 (base+9.999 s, base+10 s).
	want := []reference.Row{
		// [base−8 s, base+2 s): a1 2, a2 1.
		jobtest.R("auction", 1, "num", 2),
		// [base−6 s, base+4 s) … [base, base+10 s): a1 2, a2 3 (a3 1 in
		// the last): auction 2 alone, four times.
		jobtest.R("auction", 2, "num", 3),
		jobtest.R("auction", 2, "num", 3),
		jobtest.R("auction", 2, "num", 3),
		jobtest.R("auction", 2, "num", 3),
		// [base+2 s, base+12 s): a2 2 (base+2 s, base+3 s), a3 2: a tie,
		// both.
		jobtest.R("auction", 2, "num", 2),
		jobtest.R("auction", 3, "num", 2),
		// [base+4 s, base+14 s) … [base+8 s, base+18 s): a3 2.
		jobtest.R("auction", 3, "num", 2),
		jobtest.R("auction", 3, "num", 2),
		jobtest.R("auction", 3, "num", 2),
		// [base+10 s, base+20 s): a3 1 (base+10 s only).
		jobtest.R("auction", 3, "num", 1),
	}
	checkByHand(t, Q5, reference.Q5, events, want)
}

// q7: TUMBLE 10 s windows W1 = [base, base+10 s), W2, W3 after it; a bid
// joins W when its price is W's maximum and W.start ≤ dateTime ≤ W.end.
func TestQ7ByHand(t *testing.T) {
	row := func(e nexmark.Event) reference.Row {
		b := e.Bid
		return jobtest.R("auction", b.Auction, "price", b.Price, "bidder", b.Bidder, "dateTime", b.DateTime, "extra", b.Extra)
	}
	b1 := bid(1, 11, 50, base)           // W1's start: the end of the empty W0, which has no row
	b2 := bid(2, 12, 70, base+4_000)     // W1's maximum …
	b3 := bid(3, 13, 70, base+9_999)     // … tied
	b4 := bid(4, 14, 70, base+10_000)    // W1.end: in W2, and joins W1 (70 is W1's maximum)
	b5 := bid(5, 15, 90, base+15_000)    // W2's maximum …
	b6 := bid(6, 16, 90, base+13_000)    // … tied, out of order
	b7 := bid(7, 17, 90, base+20_000)    // W2.end: in W3, and joins W2 (90)
	b8 := bid(8, 18, 10, base+20_000)    // W2.end, below W2's maximum: joins nothing
	b9 := bid(9, 19, 95, base+20_000)    // W2.end, above W2's maximum: joins nothing
	b10 := bid(10, 20, 100, base+25_000) // W3's maximum
	b11 := bid(11, 21, 100, base+30_001) // W4's maximum: after W3.end, so not in W3
	events := []nexmark.Event{b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11}
	want := []reference.Row{
		row(b2), row(b3), row(b4), // W1, maximum 70
		row(b5), row(b6), row(b7), // W2, maximum 90
		row(b10), // W3, maximum 100
		row(b11), // W4 = [base+30 s, base+40 s), maximum 100
	}
	checkByHand(t, Q7, reference.Q7, events, want)
}

// q8: TUMBLE 10 s windows W1 = [base, base+10 s) and W2 after it.
func TestQ8ByHand(t *testing.T) {
	events := []nexmark.Event{
		person(1, "alice", base+1_000),
		person(2, "bob", base+3_000),
		auction(100, 3, base+4_000), // seller 3 before person 3, same window
		auction(101, 1, base+5_000), // alice sells in W1: a row
		person(3, "carol", base+6_000),
		auction(102, 3, base+7_000),     // carol again: no second row
		person(1, "alice", base+8_000),  // the same (id, name, window): no second row
		person(1, "alicia", base+8_500), // another name for id 1: its own row
		auction(103, 6, base+9_000),     // seller 6 never registered: no row
		person(4, "dave", base+9_999),   // W1's last millisecond …
		auction(104, 4, base+10_000),    // … dave sells in W2: no row
		auction(105, 2, base+11_000),    // bob sells in W2, registered in W1: no row
		person(5, "erin", base+12_000),
		auction(106, 5, base+11_500), // out of order, within the bound: a row in W2
		bid(1, 1, 1, base+12_500),    // bids play no part
	}
	want := []reference.Row{
		jobtest.R("id", 1, "name", "alice", "starttime", base),
		jobtest.R("id", 3, "name", "carol", "starttime", base),
		jobtest.R("id", 1, "name", "alicia", "starttime", base),
		jobtest.R("id", 5, "name", "erin", "starttime", base+10_000),
	}
	checkByHand(t, Q8, reference.Q8, events, want)
}

// q11: sessions with a 10 s gap: bids at most 10 s apart share one.
func TestQ11ByHand(t *testing.T) {
	events := []nexmark.Event{
		bid(1, 1, 1, base),
		bid(1, 2, 1, base+2_000),
		bid(1, 1, 1, base+5_000),
		bid(1, 2, 1, base+14_000), // 12 s after bidder 2's first: a session of its own …
		bid(1, 2, 1, base+10_500), // … until this one, out of order, bridges them
		bid(1, 1, 1, base+15_000), // exactly 10 s after base+5 s: the session goes on
		bid(1, 1, 1, base+25_001), // 10.001 s after base+15 s: a new session
		bid(1, 3, 1, base+30_000),
		auction(100, 3, base+30_500), // not a bid
	}
	want := []reference.Row{
		jobtest.R("bidder", 1, "bid_count", 3, "starttime", base, "endtime", base+25_000),
		jobtest.R("bidder", 1, "bid_count", 1, "starttime", base+25_001, "endtime", base+35_001),
		jobtest.R("bidder", 2, "bid_count", 3, "starttime", base+2_000, "endtime", base+24_000),
		jobtest.R("bidder", 3, "bid_count", 1, "starttime", base+30_000, "endtime", base+40_000),
	}
	checkByHand(t, Q11, reference.Q11, events, want)
}

// q12: whatever windows the wall clock cuts, each bidder's counts add up
// to its bids, including the windows still open when the input ends.
func TestQ12ByHand(t *testing.T) {
	events := []nexmark.Event{
		bid(1, 7, 1, base),
		bid(2, 8, 1, base+1_000),
		bid(3, 7, 1, base+60_000), // event time plays no part
		person(7, "p", base+60_500),
		bid(4, 7, 1, base+58_000),
	}
	want := []reference.Row{
		jobtest.R("bidder", 7, "bid_count", 3),
		jobtest.R("bidder", 8, "bid_count", 1),
	}
	if got := reference.Q12(events); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reference: %v, want %v", got, want)
	}
	var b []byte
	for i := range events {
		b = nexmark.AppendJSON(b, &events[i])
		b = append(b, '\n')
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	lines, _, err := job.RunCollect(t.Context(), Q12, job.Options{Input: path})
	if err != nil {
		t.Fatal(err)
	}
	jobtest.Check(t, q12Totals(t, lines), false, want)
	if len(lines) < 2 || len(lines) > 4 {
		t.Errorf("rows %q: want one or two windows per bidder", lines)
	}
}

// q12's windows close on the wall clock while the input flows: on a
// fake clock, 3 000 bids of 3 bidders arrive at 100 per second, 30 s in
// all, so each bidder's windows [0, 10 s) and [10 s, 20 s) are emitted by
// their timers at their ends, and the last window by the end of the input.
func TestQ12WindowsCloseWhileInputFlows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := weir.New()
		bidders := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 3000, Rate: 100},
			func(seq int64) int64 { return seq % 3 }))
		type emitted struct {
			row q12Row
			at  int64 // when, on the wall clock
		}
		rows := weir.Collect(weir.Map(q12Counts(bidders), func(r q12Row) emitted {
			return emitted{row: r, at: time.Now().UnixMilli()}
		}))
		start := time.Now().UnixMilli()
		if err := env.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		end := time.Now().UnixMilli()
		sums := map[int64]int64{}
		onTime := map[int64]int{}
		for _, e := range rows.Values() {
			r := e.row
			if r.start%q12Size != 0 || r.start+q12Size <= start || r.start > end {
				t.Errorf("row %+v: not a window of the run [%d, %d]", r, start, end)
			}
			sums[r.bidder] += r.count
			switch {
			case e.at == r.start+q12Size-1:
				onTime[r.bidder]++ // fired by its timer
			case e.at != end:
				t.Errorf("row %+v emitted at %d: neither at its end nor at the end of input %d", r, e.at, end)
			}
		}
		for b := range int64(3) {
			if sums[b] != 1000 {
				t.Errorf("bidder %d: %d bids counted, want 1000", b, sums[b])
			}
			if onTime[b] < 2 {
				t.Errorf("bidder %d: %d windows closed by the clock, want at least 2", b, onTime[b])
			}
		}
	})
}

// q5's shards keep an auction's panes while a window still to fire holds
// them, however early later panes arrive (an upstream subtask can run
// ahead of another): here the watermark stays back until the input ends,
// so auction 1's seven panes and auction 2's one are all kept at once.
func TestQ5PanesAheadOfTheWatermark(t *testing.T) {
	type pane = weir.WindowResult[int64, int64]
	var in []pane
	for p := int64(0); p <= 12_000; p += q5Slide {
		in = append(in, pane{Key: 1, Window: weir.Window{Start: p, End: p + q5Slide}, Value: 1})
	}
	in = append(in, pane{Key: 2, Window: weir.Window{Start: 12_000, End: 14_000}, Value: 5})
	env := weir.New()
	panes := weir.From(env, weir.Slice(in...),
		weir.EventTime(func(p pane) time.Time { return time.UnixMilli(p.Window.End - 1) }, time.Minute))
	got := weir.Collect(q5Maxima(panes))
	if err := env.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Auction 1 has one bid in each pane 0 s … 12 s, so the windows
	// starting at −8 s … 12 s count 1, 2, 3, 4, 5, 5, 5, 4, 3, 2, 1 of its
	// bids; auction 2's 5 bids are in the windows starting at 4 s … 12 s.
	var lines []string
	for _, r := range got.Values() {
		lines = append(lines, jobtest.R("auction", r.auction, "num", r.num).JSON())
	}
	var want []reference.Row
	for _, n := range []int64{1, 2, 3, 4, 5, 5, 5} { // −8 s … 4 s
		want = append(want, jobtest.R("auction", 1, "num", n))
	}
	for range 5 { // 4 s … 12 s: 4 s is a tie
		want = append(want, jobtest.R("auction", 2, "num", 5))
	}
	jobtest.Check(t, lines, false, want)
}
