package windows

import (
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q7 is the highest bid: per TUMBLE 10 s window W with bids, every bid whose
// price is W's highest and whose dateTime is in [W.start, W.end] — both
// ends included, so a bid at exactly W.end, which belongs to the next
// window, also joins W when its price is W's maximum (see reference.Q7).
// Columns auction, price, bidder, dateTime, extra. Append-only.
//
// It runs in two keyed steps so that one window is not one key:
//
//  1. Shards: each bid goes to the shard (W, dateTime mod q7Shards) of its
//     window; a bid at a window's start also goes to the previous window's
//     shard as an edge bid, one that may join that window but does not
//     count for its maximum. A shard keeps its highest price and the bids
//     that have it, and the edge bids not below it; at W.end, when every
//     bid up to W.end has arrived, it sends them on and is dropped.
//  2. Windows: per window, the shards' bids are merged — a higher price
//     replaces the bids kept, an equal one joins them — and at W.end the
//     bids with the window's maximum, and the edge bids with that price,
//     are emitted.
//
// A bid costs one state read in step 1 unless it is at least the shard's
// highest price so far; step 2 sees a few bids per shard and window.
var Q7 = job.Query{Name: "q7", Title: "highest bid", Build: buildQ7}

const (
	q7Size = 10_000 // the window's size, ms
	// q7Shards is how many shards a window's bids are spread over.
	q7Shards = 16
)

// q7Bid is what q7 keeps of a bid: the columns it outputs.
type q7Bid struct {
	Auction, Price, Bidder, DateTime int64
	Extra                            string
}

// q7In is a bid on its way to the shard of the window Start: a member of
// the window or, with Edge, a bid at its end.
type q7In struct {
	Start int64
	Edge  bool
	Bid   q7Bid
}

// q7Top is the state of a shard (step 1) or of a window (step 2): the
// highest price of the window's bids seen (when HasMax), the bids with that
// price, and the edge bids that may still have the window's maximum.
type q7Top struct {
	HasMax bool
	Max    int64
	Bids   []q7Bid
	Edge   []q7Bid
}

// add adds a member bid b, or an edge bid when edge, and reports whether
// t changed.
func (t *q7Top) add(b q7Bid, edge bool) bool {
	switch {
	case edge:
		if t.HasMax && b.Price < t.Max {
			return false
		}
		// Appending never changes what the stored value holds: it sees
		// only its own length.
		t.Edge = append(t.Edge, b)
	case !t.HasMax || b.Price > t.Max:
		t.HasMax, t.Max, t.Bids = true, b.Price, []q7Bid{b}
		t.Edge = dropBelow(t.Edge, b.Price)
	case b.Price == t.Max:
		t.Bids = append(t.Bids, b)
	default:
		return false
	}
	return true
}

// dropBelow returns the bids of bs priced at least p, in a new slice when
// some go.
func dropBelow(bs []q7Bid, p int64) []q7Bid {
	n := 0
	for _, b := range bs {
		if b.Price >= p {
			n++
		}
	}
	if n == len(bs) {
		return bs
	}
	out := make([]q7Bid, 0, n)
	for _, b := range bs {
		if b.Price >= p {
			out = append(out, b)
		}
	}
	return out
}

// q7Key is the key of a shard: the window's number times q7Shards plus
// the shard.
func q7Key(in q7In) int64 {
	return in.Start/q7Size*q7Shards + floorMod(in.Bid.DateTime, q7Shards)
}

// buildQ7 is Q7.Build: the two steps on the job's bids, their rows to
// job.Emit.
func buildQ7(c *job.Context) error {
	bids := weir.FlatMap(c.Events(), func(e nexmark.Event, out weir.Out[q7In]) error {
		if e.Kind != nexmark.KindBid {
			return nil
		}
		b := &e.Bid
		in := q7In{
			Start: tumbleStart(b.DateTime, q7Size),
			Bid:   q7Bid{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra},
		}
		out.Emit(in)
		if in.Start == b.DateTime {
			// At the end of the previous window, which it may join too.
			in.Start -= q7Size
			in.Edge = true
			out.Emit(in)
		}
		return nil
	}).Name("q7 bids")
	tops := weir.Process(weir.KeyBy(bids, q7Key),
		weir.KeyedProcessFunction[int64, q7In, q7In](&q7ShardFn{})).Name("q7 shard maxima")
	rows := weir.Process(weir.KeyBy(tops, func(in q7In) int64 { return in.Start }),
		weir.KeyedProcessFunction[int64, q7In, q7Bid](&q7WindowFn{})).Name("q7 window maxima")
	job.Emit(c, rows, func(dst []byte, b q7Bid) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", b.Auction)
		r.Int("price", b.Price)
		r.Int("bidder", b.Bidder)
		r.Int("dateTime", b.DateTime)
		r.Str("extra", b.Extra)
		return r.End()
	})
	return nil
}

// q7ShardFn is step 1, keyed by (window, shard).
type q7ShardFn struct {
	top weir.ValueState[int64, q7Top]
}

// Open declares the state.
func (f *q7ShardFn) Open(c weir.KeyedOpenContext[int64]) error {
	f.top = weir.Value[q7Top](c, "top")
	return nil
}

// Process adds a bid to its shard; the shard's first bid sets a timer at
// the window's end.
func (f *q7ShardFn) Process(c weir.KeyedContext[int64], in q7In, _ weir.Out[q7In]) error {
	return addToTop(c, f.top, in)
}

// OnTimer sends the shard's bids on at the window's end and drops it.
func (f *q7ShardFn) OnTimer(c weir.TimerContext[int64], out weir.Out[q7In]) error {
	t, ok, err := f.top.Get(c)
	if err != nil || !ok {
		return err
	}
	start := c.Time().UnixMilli() - q7Size
	for _, b := range t.Bids {
		out.Emit(q7In{Start: start, Bid: b})
	}
	for _, b := range t.Edge {
		if !t.HasMax || b.Price >= t.Max {
			out.Emit(q7In{Start: start, Edge: true, Bid: b})
		}
	}
	return f.top.Clear(c)
}

// addToTop adds in to the current key's top (a shard's or a window's); the
// key's first bid sets a timer at the window's end.
func addToTop(c weir.KeyedContext[int64], top weir.ValueState[int64, q7Top], in q7In) error {
	t, ok, err := top.Get(c)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.Timers().RegisterEventTime(time.UnixMilli(in.Start + q7Size)); err != nil {
			return err
		}
	}
	if !t.add(in.Bid, in.Edge) && ok {
		return nil
	}
	return top.Set(c, t)
}

// q7WindowFn is step 2, keyed by window start.
type q7WindowFn struct {
	top weir.ValueState[int64, q7Top]
}

// Open declares the state.
func (f *q7WindowFn) Open(c weir.KeyedOpenContext[int64]) error {
	f.top = weir.Value[q7Top](c, "top")
	return nil
}

// Process merges a shard's bid into the window's; the first sets a timer at
// the window's end.
func (f *q7WindowFn) Process(c weir.KeyedContext[int64], in q7In, _ weir.Out[q7Bid]) error {
	return addToTop(c, f.top, in)
}

// OnTimer emits the window's highest bids and the edge bids with the same
// price, and drops the window. A window with only edge bids has no bids
// of its own and so no row.
func (f *q7WindowFn) OnTimer(c weir.TimerContext[int64], out weir.Out[q7Bid]) error {
	t, ok, err := f.top.Get(c)
	if err != nil || !ok {
		return err
	}
	if t.HasMax {
		for _, b := range t.Bids {
			out.Emit(b)
		}
		for _, b := range t.Edge {
			if b.Price == t.Max {
				out.Emit(b)
			}
		}
	}
	return f.top.Clear(c)
}
