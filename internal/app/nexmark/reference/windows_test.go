package reference

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
)

func TestQ5(t *testing.T) {
	// Times relative to t0, which is a multiple of 10 s.
	in := []nexmark.Event{
		bidAt(t0+1_000, 1, 9, 1),  // windows starting -8, -6, -4, -2, 0 s
		bidAt(t0+1_500, 2, 9, 1),  // same windows
		bidAt(t0+9_999, 2, 9, 1),  // windows starting 0, 2, 4, 6, 8 s
		bidAt(t0+10_000, 3, 9, 1), // windows starting 2, 4, 6, 8, 10 s
	}
	// Windows -8..-2 s: auctions 1 and 2 once each: a tie, both output.
	// Window 0 s: 1 once, 2 twice → 2 (num 2).
	// Windows 2..8 s: 2 once, 3 once → both.
	// Window 10 s: 3 once.
	var want []string
	for range 4 { // -8, -6, -4, -2
		want = append(want, `{"auction":1,"num":1}`, `{"auction":2,"num":1}`)
	}
	want = append(want, `{"auction":2,"num":2}`)
	for range 4 { // 2, 4, 6, 8
		want = append(want, `{"auction":2,"num":1}`, `{"auction":3,"num":1}`)
	}
	want = append(want, `{"auction":3,"num":1}`)
	wantRows(t, Q5(in), want...)
}

func TestQ7(t *testing.T) {
	in := []nexmark.Event{
		bidAt(t0+1_000, 1, 11, 50),  // window [0,10): max 50
		bidAt(t0+2_000, 2, 12, 50),  // tie: also output
		bidAt(t0+3_000, 3, 13, 40),  //
		bidAt(t0+10_000, 4, 14, 50), // window [10,20) but at W[0,10).end with price 50: joins W[0,10) too
		bidAt(t0+15_000, 5, 15, 70), // window [10,20): max 70
		bidAt(t0+25_000, 6, 16, 1),  // window [20,30): max 1
	}
	// W[0,10): bids in [0, 10] s with price 50: 1, 2, 4.
	// W[10,20): bids in [10, 20] s with price 70: 5 (bid 4 has 50).
	// W[20,30): bid 6.
	wantRows(t, Q7(in),
		`{"auction":1,"price":50,"bidder":11,"dateTime":1436918401000,"extra":"x"}`,
		`{"auction":2,"price":50,"bidder":12,"dateTime":1436918402000,"extra":"x"}`,
		`{"auction":4,"price":50,"bidder":14,"dateTime":1436918410000,"extra":"x"}`,
		`{"auction":5,"price":70,"bidder":15,"dateTime":1436918415000,"extra":"x"}`,
		`{"auction":6,"price":1,"bidder":16,"dateTime":1436918425000,"extra":"x"}`)
}

func TestQ8(t *testing.T) {
	in := []nexmark.Event{
		personAt(t0+1_000, 100, "Ann", "OR"),
		personAt(t0+2_000, 101, "Bob", "OR"),
		auctionAt(t0+3_000, 1, 100, 10, t0+99_000),  // Ann sells in window [0,10)
		auctionAt(t0+4_000, 2, 100, 10, t0+99_000),  // again: still one row
		auctionAt(t0+12_000, 3, 101, 10, t0+99_000), // Bob sells, but in window [10,20): no row
		personAt(t0+15_000, 102, "Cy", "OR"),
		auctionAt(t0+19_999, 4, 102, 10, t0+99_000), // Cy in [10,20)
	}
	wantRows(t, Q8(in),
		`{"id":100,"name":"Ann","starttime":1436918400000}`,
		`{"id":102,"name":"Cy","starttime":1436918410000}`)
}

func TestQ11(t *testing.T) {
	in := []nexmark.Event{
		bidAt(t0+0, 1, 7, 1),
		bidAt(t0+5_000, 1, 8, 1),
		bidAt(t0+10_000, 1, 7, 1), // exactly 10 s after: same session (windows touch)
		bidAt(t0+20_001, 1, 7, 1), // 10.001 s after: new session
		bidAt(t0+21_000, 1, 7, 1),
	}
	// Bidder 7: {0, 10} s → count 2, [0, 20 s); {20.001, 21} s → count 2, [20.001, 31 s).
	// Bidder 8: {5} s → count 1, [5, 15 s).
	wantRows(t, Q11(in),
		`{"bidder":7,"bid_count":2,"starttime":1436918400000,"endtime":1436918420000}`,
		`{"bidder":8,"bid_count":1,"starttime":1436918405000,"endtime":1436918415000}`,
		`{"bidder":7,"bid_count":2,"starttime":1436918420001,"endtime":1436918431000}`)
}

func TestQ12(t *testing.T) {
	in := []nexmark.Event{bidAt(t0, 1, 8, 1), bidAt(t0, 1, 7, 1), bidAt(t0+60_000, 1, 8, 1)}
	wantRows(t, Q12(in), `{"bidder":7,"bid_count":1}`, `{"bidder":8,"bid_count":2}`)
}

func TestCheckNotLate(t *testing.T) {
	ok := []nexmark.Event{bidAt(t0+10_000, 1, 1, 1), bidAt(t0+6_001, 1, 1, 1)} // 3.999 s behind
	if err := CheckNotLate(ok); err != nil {
		t.Errorf("CheckNotLate(3.999 s behind) = %v, want nil", err)
	}
	late := []nexmark.Event{bidAt(t0+10_000, 1, 1, 1), bidAt(t0+6_000, 1, 1, 1)} // at the watermark
	if err := CheckNotLate(late); err == nil {
		t.Error("CheckNotLate(4 s behind) = nil, want an error")
	}
}
