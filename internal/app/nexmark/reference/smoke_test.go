package reference

import (
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// generated returns the first 100 000 events of the default stream at
// 1 000 events per second of event time (100 s, ten 10 s windows).
var generated = sync.OnceValues(func() ([]nexmark.Event, error) {
	cfg := nexmark.DefaultConfig()
	cfg.TPS = 1000
	cfg.Events = 100_000
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	events := make([]nexmark.Event, 0, cfg.Events)
	for _, e := range g.All() {
		events = append(events, e)
	}
	return events, nil
})

func TestSmokeGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 100 000 events")
	}
	events, err := generated()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNotLate(events); err != nil {
		t.Fatalf("the generated stream has a late event: %v", err)
	}
	nBids := int64(len(bids(events)))
	side := map[int64]string{}
	for k := range int64(10_000) {
		if k%2 == 0 {
			side[k] = "v"
		}
	}
	queries := map[string]func() []Row{
		"q0": func() []Row { return Q0(events) }, "q1": func() []Row { return Q1(events) },
		"q2": func() []Row { return Q2(events) }, "q3": func() []Row { return Q3(events) },
		"q4": func() []Row { return Q4(events) }, "q5": func() []Row { return Q5(events) },
		"q7": func() []Row { return Q7(events) }, "q8": func() []Row { return Q8(events) },
		"q9": func() []Row { return Q9(events) }, "q10": func() []Row { return Q10(events) },
		"q11": func() []Row { return Q11(events) }, "q12": func() []Row { return Q12(events) },
		"q13": func() []Row { return Q13(events, side) }, "q14": func() []Row { return Q14(events) },
		"q15": func() []Row { return Q15(events) }, "q16": func() []Row { return Q16(events) },
		"q17": func() []Row { return Q17(events) }, "q18": func() []Row { return Q18(events) },
		"q19": func() []Row { return Q19(events) }, "q20": func() []Row { return Q20(events) },
		"q21": func() []Row { return Q21(events) }, "q22": func() []Row { return Q22(events) },
	}
	results := map[string][]Row{}
	for name, q := range queries {
		results[name] = q()
		t.Logf("%s: %d rows", name, len(results[name]))
	}
	intCol := func(r Row, name string) int64 {
		v, ok := r.Get(name)
		n, isInt := v.(int64)
		if !ok || !isInt {
			t.Fatalf("row %s: column %s is %v, want an int64", r.JSON(), name, v)
		}
		return n
	}
	sumCol := func(rows []Row, name string) int64 {
		var s int64
		for _, r := range rows {
			s += intCol(r, name)
		}
		return s
	}
	for _, q := range []string{"q0", "q1", "q10", "q22"} {
		if got := int64(len(results[q])); got != nBids {
			t.Errorf("%s: %d rows, want one per bid (%d)", q, got, nBids)
		}
	}
	for _, r := range results["q2"] {
		if intCol(r, "auction")%123 != 0 {
			t.Errorf("q2 row %s: auction is not a multiple of 123", r.JSON())
		}
	}
	if len(results["q2"]) == 0 {
		t.Error("q2: no rows")
	}
	// Every bid is counted once in q11's sessions, q12's totals, q15's and
	// q16's days and q17's groups.
	for q, col := range map[string]string{"q11": "bid_count", "q12": "bid_count", "q15": "total_bids", "q16": "total_bids", "q17": "total_bids"} {
		if got := sumCol(results[q], col); got != nBids {
			t.Errorf("%s: sum of %s = %d, want the bid count %d", q, col, got, nBids)
		}
	}
	// 100 s of bids: ten 10 s tumbling windows, each with at least one row
	// in q7; q7's rows carry their window's maximum, so at least 10.
	if n := len(results["q7"]); n < 10 {
		t.Errorf("q7: %d rows, want at least one per window (10)", n)
	}
	// q5: 100 s of bids fall in 54 hopping windows (starting -8 s to 98 s
	// relative to the first), each with at least one row.
	if n := len(results["q5"]); n < 54 {
		t.Errorf("q5: %d rows, want at least one per window (54)", n)
	}
	for _, r := range results["q19"] {
		if rank := intCol(r, "rank_number"); rank < 1 || rank > 10 {
			t.Errorf("q19 row %s: rank out of 1..10", r.JSON())
		}
	}
	for _, r := range results["q20"] {
		if intCol(r, "category") != 10 {
			t.Errorf("q20 row %s: category is not 10", r.JSON())
		}
	}
	for _, q := range []string{"q3", "q4", "q8", "q9", "q13", "q14", "q18", "q20", "q21"} {
		if len(results[q]) == 0 {
			t.Errorf("%s: no rows on 100 000 generated events", q)
		}
	}
}
