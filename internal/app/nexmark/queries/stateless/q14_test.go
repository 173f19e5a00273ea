package stateless

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ14(t *testing.T) { jobtest.CheckGenerated(t, Q14, reference.Q14, job.Options{}) }

// wrapsIntoQ14 is a price whose product with 908 wraps around int64 into
// q14's range: 20315797439107436 × 908 = 2⁶⁴ + 1 000 000 272, so a naive
// int64 product reads as 1 000 000.272 — yet 0.908 × price is far above
// 50 000 000.
const wrapsIntoQ14 = 20315797439107436

// TestQ14ByHand: the price bounds (exclusive, exact, safe from overflow),
// the hour classes at their edges, and count_char.
func TestQ14ByHand(t *testing.T) {
	p := new(big.Int).Mul(big.NewInt(wrapsIntoQ14), big.NewInt(908))
	if want := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(1_000_000_272)); p.Cmp(want) != 0 {
		t.Fatalf("wrapsIntoQ14 × 908 = %v, want 2⁶⁴ + 1000000272", p)
	}
	const day0 = 1436918400000 // 2015-07-15 00:00:00 UTC
	h := func(hours, minutes int) int64 { return day0 + int64(hours)*3_600_000 + int64(minutes)*60_000 }
	b := func(auction, price, ms int64, extra string) nexmark.Event {
		e := bid(auction, price)
		e.Bid.DateTime, e.Bid.Extra = ms, extra
		return e
	}
	const in = 2_000_000 // 1 816 000.000 euros: inside
	events := []nexmark.Event{
		// Prices: 1 101 321 × 0.908 = 999 999.468 and 55 066 080 × 0.908 =
		// 50 000 000.640 are out; 1 101 322 → 1 000 000.376 and
		// 55 066 079 → 49 999 999.732 are in. No integer price gives
		// exactly 1 000 000 or 50 000 000.
		b(1, 1_101_321, h(10, 0), "c"),
		b(2, 1_101_322, h(10, 0), "c"),
		b(3, 55_066_079, h(10, 0), "c"),
		b(4, 55_066_080, h(10, 0), "c"),
		b(5, wrapsIntoQ14, h(10, 0), "c"), // out, though its wrapped product is in
		b(6, math.MaxInt64, h(10, 0), "c"),
		b(7, -in, h(10, 0), "c"),
		// Hours (UTC): 6:59 night, 7:00 and 7:59 other, 8:00 day, 18:59
		// day, 19:00 and 19:59 other, 20:00 night, 0:00 night; 1 ms before
		// 1970 is 23:59, night.
		b(10, in, h(6, 59), "cc"),
		b(11, in, h(7, 0), "cc"),
		b(12, in, h(7, 59), "cc"),
		b(13, in, h(8, 0), "cc"),
		b(14, in, h(18, 59), "cc"),
		b(15, in, h(19, 0), "cc"),
		b(16, in, h(19, 59), "cc"),
		b(17, in, h(20, 0), "cc"),
		b(18, in, h(24, 0), "cc"),
		b(19, in, -1, "cc"),
		// count_char(extra, 'c'): case-sensitive, multi-byte characters
		// around it count nothing.
		b(20, in, h(10, 0), ""),
		b(21, in, h(10, 0), "Çcçabc Cc"),
	}
	row := func(auction int64, price reference.Decimal, kind string, ms int64, extra string, cs int64) reference.Row {
		return jobtest.R("auction", auction, "bidder", 7, "price", price, "bidTimeType", kind, "dateTime", ms,
			"extra", extra, "c_counts", cs)
	}
	const euros = reference.Decimal("1816000.000")
	want := []reference.Row{
		row(2, "1000000.376", "dayTime", h(10, 0), "c", 1),
		row(3, "49999999.732", "dayTime", h(10, 0), "c", 1),
		row(10, euros, "nightTime", h(6, 59), "cc", 2),
		row(11, euros, "otherTime", h(7, 0), "cc", 2),
		row(12, euros, "otherTime", h(7, 59), "cc", 2),
		row(13, euros, "dayTime", h(8, 0), "cc", 2),
		row(14, euros, "dayTime", h(18, 59), "cc", 2),
		row(15, euros, "otherTime", h(19, 0), "cc", 2),
		row(16, euros, "otherTime", h(19, 59), "cc", 2),
		row(17, euros, "nightTime", h(20, 0), "cc", 2),
		row(18, euros, "nightTime", h(24, 0), "cc", 2),
		row(19, euros, "nightTime", -1, "cc", 2),
		row(20, euros, "dayTime", h(10, 0), "", 0),
		row(21, euros, "dayTime", h(10, 0), "Çcçabc Cc", 3),
	}
	jobtest.CheckInput(t, Q14, events, want, job.Options{})
	// The reference agrees with the hand-made rows.
	jobtest.Check(t, rowsJSON(want), false, reference.Q14(events))
}

// rowsJSON returns rows as JSON lines, as a query's output.
func rowsJSON(rows []reference.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.JSON()
	}
	return out
}

// TestBidTimeType: the hour class equals the one from time.Time's UTC
// hour, also before 1970.
func TestBidTimeType(t *testing.T) {
	for ms := int64(-3 * 86_400_000); ms < 3*86_400_000; ms += 59_999 {
		var want string
		switch hour := time.UnixMilli(ms).UTC().Hour(); {
		case hour >= 8 && hour <= 18:
			want = "dayTime"
		case hour <= 6 || hour >= 20:
			want = "nightTime"
		default:
			want = "otherTime"
		}
		if got := bidTimeType(ms); got != want {
			t.Fatalf("bidTimeType(%d) = %s, want %s", ms, got, want)
		}
	}
	for _, ms := range []int64{math.MinInt64, math.MaxInt64} {
		_ = bidTimeType(ms) // must not panic
	}
}
