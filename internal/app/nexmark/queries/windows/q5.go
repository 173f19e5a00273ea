package windows

import (
	"math"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q5 is hot items: per HOP window of 10 s sliding by 2 s, the auctions
// with the most bids (every auction tied for the maximum). Columns auction,
// num. Append-only.
//
// The query runs in three keyed steps so that no step does one window's
// whole work on one key:
//
//  1. Panes: a tumbling 2 s count per auction (the library's window), so a
//     bid costs one accumulator update instead of one per window it is in.
//  2. Shards: the pane counts go to q5Shards shards by auction; each keeps
//     its auctions' recent pane counts in map state and, when a window
//     ends, sums each auction's five panes and emits only the shard's
//     winners (the auctions tied for the shard's maximum).
//  3. Windows: per window, the winners of all shards are merged (a higher
//     count replaces them, an equal one joins them) and emitted when the
//     window ends.
//
// No operator before the first exchange can keep state on the public API
// (only keyed functions can), so bids are not pre-aggregated before it and
// the hot auction's bids all reach one subtask of step 1; but the hot
// auction changes every 100 auctions (about 17 ms of event time at the
// default rate), so over time the load spreads over the subtasks.
//
// State is bounded: panes go when their window fires; a shard's auction
// goes once its newest pane is in no window still to fire; a window's
// winners go when it is emitted.
var Q5 = job.Query{Name: "q5", Title: "hot items", Build: buildQ5}

const (
	q5Size  = 10_000 // the HOP window's size, ms
	q5Slide = 2_000  // its slide, ms: the panes' size
	// q5Panes is how many panes a window has.
	q5Panes = q5Size / q5Slide
	// q5Shards is how many keys the pane counts are spread over in step 2.
	q5Shards = 64
)

// q5Pane is an auction's count in one pane (the 2 s tumbling window
// starting at Start).
type q5Pane struct {
	Start, Count int64
}

// q5Recent is what a shard keeps of one auction: its counts in the panes
// some window still to fire holds. Panes is enough when panes arrive in
// order with the watermark; More takes the rest (a pane can arrive early
// when another upstream subtask lags behind).
type q5Recent struct {
	Panes [q5Panes + 1]q5Pane
	More  []q5Pane
}

// q5Best is one auction tied for the maximum of a window (of a shard's
// part of it, or of all of it): the window's start, the auction and its
// count.
type q5Best struct {
	Start, Auction, Num int64
}

// q5Winners is step 3's state for one window: the highest count so far and
// the auctions that have it.
type q5Winners struct {
	Num      int64
	Auctions []int64
}

// q5Row is one result row.
type q5Row struct{ auction, num int64 }

// buildQ5 is Q5.Build: the three steps on the job's bids, their rows to
// job.Emit.
func buildQ5(c *job.Context) error {
	auctions := bidColumn(c, "q5 bid auctions", func(b *nexmark.Bid) int64 { return b.Auction })
	panes := weir.Aggregate(weir.Windowed(weir.KeyBy(auctions, func(a int64) int64 { return a }),
		weir.TumblingEventTime(q5Slide*time.Millisecond)), count[int64]{}).Name("q5 pane counts")
	job.Emit(c, q5Maxima(panes), func(dst []byte, r q5Row) []byte {
		w := job.BeginRow(dst)
		w.Int("auction", r.auction)
		w.Int("num", r.num)
		return w.End()
	})
	return nil
}

// q5Maxima adds steps 2 and 3 after the pane counts (key auction, value
// count, in a 2 s window) and returns the result rows.
func q5Maxima(panes weir.Stream[weir.WindowResult[int64, int64]]) weir.Stream[q5Row] {
	best := weir.Process(weir.KeyBy(panes, func(r weir.WindowResult[int64, int64]) int64 { return floorMod(r.Key, q5Shards) }),
		weir.KeyedProcessFunction[int64, weir.WindowResult[int64, int64], q5Best](&q5ShardFn{})).Name("q5 shard maxima")
	return weir.Process(weir.KeyBy(best, func(b q5Best) int64 { return b.Start }),
		weir.KeyedProcessFunction[int64, q5Best, q5Row](&q5WindowFn{})).Name("q5 window maxima")
}

// q5ShardFn is step 2, keyed by shard: auction → its recent pane counts.
type q5ShardFn struct {
	recent  weir.MapState[int64, int64, q5Recent]
	winners []int64 // scratch: the auctions tied for the maximum
	gone    []int64 // scratch: auctions to drop
}

// Open declares the state.
func (f *q5ShardFn) Open(c weir.KeyedOpenContext[int64]) error {
	f.recent = weir.MapOf[int64, q5Recent](c, "recent")
	return nil
}

// Process records an auction's pane count and sets a timer at the end of
// the first window holding the pane.
func (f *q5ShardFn) Process(c weir.KeyedContext[int64], p weir.WindowResult[int64, int64], _ weir.Out[q5Best]) error {
	r, _, err := f.recent.Get(c, p.Key)
	if err != nil {
		return err
	}
	// A pane is dead once the last window holding it, which ends
	// q5Size after the pane starts, has fired.
	wm := c.Watermark().UnixMilli()
	if c.Watermark().IsZero() {
		wm = math.MinInt64 // none yet: no pane is dead, however early
	}
	dead := func(x q5Pane) bool { return x.Count == 0 || x.Start+q5Size-1 <= wm }
	placed := false
	for i := range r.Panes {
		if r.Panes[i].Count > 0 && r.Panes[i].Start == p.Window.Start {
			r.Panes[i].Count += p.Value
			placed = true
			break
		}
	}
	for i := 0; !placed && i < len(r.Panes); i++ {
		if dead(r.Panes[i]) {
			r.Panes[i] = q5Pane{Start: p.Window.Start, Count: p.Value}
			placed = true
		}
	}
	if !placed || len(r.More) > 0 {
		// Rare: copy, as a stored value must not change.
		more := make([]q5Pane, 0, len(r.More)+1)
		for _, x := range r.More {
			if !placed && x.Start == p.Window.Start {
				x.Count += p.Value
				placed = true
			}
			if !dead(x) {
				more = append(more, x)
			}
		}
		if !placed {
			more = append(more, q5Pane{Start: p.Window.Start, Count: p.Value})
		}
		r.More = more
	}
	if err := f.recent.Put(c, p.Key, r); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(p.Window.Start + q5Slide - 1))
}

// OnTimer ends the window [t+1−q5Size, t+1): it emits the shard's auctions
// with the most bids in it, drops the auctions no later window holds and
// sets a timer at the end of the next window that holds a pane, if one
// does. It jumps there rather than to the next window: between panes far
// apart in event time (a bid stamped in seconds among bids in
// milliseconds) lie millions of empty windows.
func (f *q5ShardFn) OnTimer(c weir.TimerContext[int64], out weir.Out[q5Best]) error {
	end := c.Time().UnixMilli() + 1
	start := end - q5Size
	inWindow := func(x q5Pane) int64 {
		if x.Count > 0 && x.Start >= start && x.Start < end {
			return x.Count
		}
		return 0
	}
	var best int64
	f.winners, f.gone = f.winners[:0], f.gone[:0]
	next := int64(math.MaxInt64) // the end of the next window holding a pane
	// later notes a pane that a window after this one holds: the first
	// such window ends one slide after the pane starts, or one after
	// this window if the pane started before its end.
	later := func(x q5Pane) bool {
		if x.Count == 0 || x.Start+q5Size <= end {
			return false
		}
		next = min(next, max(end, x.Start)+q5Slide)
		return true
	}
	for auction, r := range f.recent.All(c) {
		var n int64
		kept := false
		for _, x := range r.Panes {
			n += inWindow(x)
			kept = later(x) || kept
		}
		for _, x := range r.More {
			n += inWindow(x)
			kept = later(x) || kept
		}
		if !kept {
			f.gone = append(f.gone, auction)
		}
		switch {
		case n == 0 || n < best:
		case n > best:
			best = n
			f.winners = append(f.winners[:0], auction)
		default:
			f.winners = append(f.winners, auction)
		}
	}
	for _, a := range f.winners {
		out.Emit(q5Best{Start: start, Auction: a, Num: best})
	}
	for _, a := range f.gone {
		if err := f.recent.Delete(c, a); err != nil {
			return err
		}
	}
	if next != math.MaxInt64 {
		return c.Timers().RegisterEventTime(time.UnixMilli(next - 1))
	}
	return nil
}

// q5WindowFn is step 3, keyed by window start: it merges the shards'
// winners and emits the window's at its end.
type q5WindowFn struct {
	winners weir.ValueState[int64, q5Winners]
}

// Open declares the state.
func (f *q5WindowFn) Open(c weir.KeyedOpenContext[int64]) error {
	f.winners = weir.Value[q5Winners](c, "winners")
	return nil
}

// Process merges one shard's winner into the window's.
func (f *q5WindowFn) Process(c weir.KeyedContext[int64], b q5Best, _ weir.Out[q5Row]) error {
	w, ok, err := f.winners.Get(c)
	switch {
	case err != nil:
		return err
	case !ok:
		if err := c.Timers().RegisterEventTime(time.UnixMilli(b.Start + q5Size - 1)); err != nil {
			return err
		}
		w = q5Winners{Num: b.Num, Auctions: []int64{b.Auction}}
	case b.Num > w.Num:
		w = q5Winners{Num: b.Num, Auctions: []int64{b.Auction}}
	case b.Num == w.Num:
		// Appending never changes what the stored value holds: it sees
		// only its own length.
		w.Auctions = append(w.Auctions, b.Auction)
	default:
		return nil
	}
	return f.winners.Set(c, w)
}

// OnTimer emits the window's winners and drops them.
func (f *q5WindowFn) OnTimer(c weir.TimerContext[int64], out weir.Out[q5Row]) error {
	w, ok, err := f.winners.Get(c)
	if err != nil || !ok {
		return err
	}
	for _, a := range w.Auctions {
		out.Emit(q5Row{auction: a, num: w.Num})
	}
	return f.winners.Clear(c)
}
