package reference

import (
	"cmp"
	"slices"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// floorDiv is ⌊a/b⌋ for b > 0, also for negative a.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// tumbleStart returns the start of the epoch-aligned tumbling window of
// size ms that holds t.
func tumbleStart(t, size int64) int64 { return floorDiv(t, size) * size }

// Q5 is hot items: a HOP window of size 10 s sliding by 2 s (windows
// [k·2 s, k·2 s + 10 s), so each bid is in 5 windows); per window, the
// count of bids of each auction; output the auctions whose count is ≥ (so
// =) the greatest count of that window — every auction tied for the
// maximum. Columns auction, num (the window is not output). Append-only (a
// window join); rows ordered by window start, then auction.
func Q5(events []nexmark.Event) []Row {
	const size, slide = 10_000, 2_000
	type key struct{ start, auction int64 }
	counts := map[key]int64{}
	for _, b := range bids(events) {
		last := tumbleStart(b.DateTime, slide)
		for start := last; start > b.DateTime-size; start -= slide {
			counts[key{start, b.Auction}]++
		}
	}
	maxOf := map[int64]int64{}
	for k, n := range counts {
		maxOf[k.start] = max(maxOf[k.start], n)
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.auction, b.auction))
	})
	var out []Row
	for _, k := range keys {
		if counts[k] >= maxOf[k.start] {
			out = append(out, Row{{"auction", k.auction}, {"num", counts[k]}})
		}
	}
	return out
}

// Q7 is the highest bid: per TUMBLE 10 s window W (with at least one bid),
// maxprice = MAX(price); then a regular join of every bid B with every
// window W on B.price = maxprice AND W.end − 10 s ≤ B.dateTime ≤ W.end. The
// BETWEEN is inclusive at both ends, so a bid at exactly W.end (which
// belongs to the next window) also joins W when its price equals W's
// maximum: one bid can be output twice. Columns, in the SELECT list's order
// (which differs from the sink's auction, bidder, price, so Flink's
// positional insert swaps bidder and price): auction, price, bidder,
// dateTime (the bid's), extra. Append-only; rows ordered by window, then
// bid stream order.
func Q7(events []nexmark.Event) []Row {
	const size = 10_000
	bs := bids(events)
	maxOf := map[int64]int64{} // window start → max price
	for _, b := range bs {
		s := tumbleStart(b.DateTime, size)
		if m, ok := maxOf[s]; !ok || b.Price > m {
			maxOf[s] = b.Price
		}
	}
	starts := make([]int64, 0, len(maxOf))
	for s := range maxOf {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	var out []Row
	for _, s := range starts {
		end := s + size
		for _, b := range bs {
			if b.Price == maxOf[s] && b.DateTime >= end-size && b.DateTime <= end {
				out = append(out, Row{
					{"auction", b.Auction}, {"price", b.Price}, {"bidder", b.Bidder},
					{"dateTime", b.DateTime}, {"extra", b.Extra},
				})
			}
		}
	}
	return out
}

// Q8 is new users: per TUMBLE 10 s window, the distinct (id, name) of the
// persons registered in it, joined with the distinct sellers of the
// auctions opened in the same window, on id = seller. Columns id, name,
// starttime (the window start; the sink calls it stime). One row per
// (person id, name, window) with at least one auction of that seller in the
// window. Append-only; rows ordered by window, then person stream order.
func Q8(events []nexmark.Event) []Row {
	const size = 10_000
	type sellerWin struct{ seller, start int64 }
	sold := map[sellerWin]bool{}
	for _, a := range auctions(events) {
		sold[sellerWin{a.Seller, tumbleStart(a.DateTime, size)}] = true
	}
	type personWin struct {
		id    int64
		name  string
		start int64
	}
	var rows []personWin
	seen := map[personWin]bool{}
	for _, p := range persons(events) {
		k := personWin{p.ID, p.Name, tumbleStart(p.DateTime, size)}
		if seen[k] || !sold[sellerWin{p.ID, k.start}] {
			continue
		}
		seen[k] = true
		rows = append(rows, k)
	}
	slices.SortStableFunc(rows, func(a, b personWin) int { return cmp.Compare(a.start, b.start) })
	var out []Row
	for _, k := range rows {
		out = append(out, Row{{"id", k.id}, {"name", k.name}, {"starttime", k.start}})
	}
	return out
}

// Q11 is user sessions: per bidder, SESSION windows with a 10 s gap. Each
// bid opens [t, t+10 s); windows that intersect or touch merge, so sorted
// by time, consecutive bids of a bidder t1 ≤ t2 share a session iff
// t2 − t1 ≤ 10 s. Columns bidder, bid_count, starttime (the first bid's
// time), endtime (the last bid's time + 10 s, exclusive). Append-only; rows
// ordered by starttime, then bidder.
func Q11(events []nexmark.Event) []Row {
	const gap = 10_000
	times := map[int64][]int64{}
	for _, b := range bids(events) {
		times[b.Bidder] = append(times[b.Bidder], b.DateTime)
	}
	type session struct{ bidder, count, start, end int64 }
	var ss []session
	for bidder, ts := range times {
		slices.Sort(ts)
		cur := session{bidder, 1, ts[0], ts[0] + gap}
		for _, t := range ts[1:] {
			if t <= cur.end {
				cur.count++
				cur.end = t + gap
				continue
			}
			ss = append(ss, cur)
			cur = session{bidder, 1, t, t + gap}
		}
		ss = append(ss, cur)
	}
	slices.SortFunc(ss, func(a, b session) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.bidder, b.bidder))
	})
	var out []Row
	for _, s := range ss {
		out = append(out, Row{{"bidder", s.bidder}, {"bid_count", s.count}, {"starttime", s.start}, {"endtime", s.end}})
	}
	return out
}

// Q12 is the processing-time TUMBLE 10 s count per bidder. Its windows
// depend on the wall clock, so only the clock-independent part is
// computed: per bidder, the total count over all windows (the sum of
// bid_count over the bidder's rows). Columns bidder, bid_count; rows
// ordered by bidder.
func Q12(events []nexmark.Event) []Row {
	counts := map[int64]int64{}
	for _, b := range bids(events) {
		counts[b.Bidder]++
	}
	bidders := make([]int64, 0, len(counts))
	for b := range counts {
		bidders = append(bidders, b)
	}
	slices.Sort(bidders)
	var out []Row
	for _, b := range bidders {
		out = append(out, Row{{"bidder", b}, {"bid_count", counts[b]}})
	}
	return out
}
