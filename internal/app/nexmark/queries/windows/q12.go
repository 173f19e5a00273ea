package windows

import (
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q12 is the processing-time TUMBLE 10 s count of bids per bidder: columns
// bidder, bid_count, starttime, endtime (the window, in Unix ms of the wall
// clock). Append-only; which window a bid falls in depends on when it is
// processed, so only the per-bidder totals are reproducible.
//
// The library's processing-time window does not fire at the end of a
// bounded input (processing-time timers stop with the input), which would
// lose the open windows' bids, so q12 is a keyed function of its own: a
// bidder's count of the current window is one value, a processing-time
// timer at the window's end emits and drops it, and an event-time timer at
// the end of time — which only the final watermark of a bounded input
// reaches — emits what is still open when the input ends. That timer is
// deleted with the window's state, so nothing outlives a window.
var Q12 = job.Query{Name: "q12", Title: "processing-time windows", ProcessingTime: true, Build: buildQ12}

const q12Size = 10_000 // the window's size, ms

// q12Count is a bidder's count in the processing-time window at Start.
type q12Count struct {
	Start, Count int64
}

// q12Row is one result row.
type q12Row struct {
	bidder, count, start int64
}

// buildQ12 is Q12.Build: the window counts on the bids' bidders, their
// rows to job.Emit.
func buildQ12(c *job.Context) error {
	bidders := bidColumn(c, "q12 bidders", func(b *nexmark.Bid) int64 { return b.Bidder })
	job.Emit(c, q12Counts(bidders), func(dst []byte, r q12Row) []byte {
		w := job.BeginRow(dst)
		w.Int("bidder", r.bidder)
		w.Int("bid_count", r.count)
		w.Int("starttime", r.start)
		w.Int("endtime", r.start+q12Size)
		return w.End()
	})
	return nil
}

// q12Counts adds q12's window counts after a stream of bidders.
func q12Counts(bidders weir.Stream[int64]) weir.Stream[q12Row] {
	return weir.Process(weir.KeyBy(bidders, func(b int64) int64 { return b }),
		weir.KeyedProcessFunction[int64, int64, q12Row](&q12Fn{})).Name("q12 window counts")
}

// q12Fn counts a bidder's bids in processing-time windows.
type q12Fn struct {
	count weir.ValueState[int64, q12Count]
}

// Open declares the state.
func (f *q12Fn) Open(c weir.KeyedOpenContext[int64]) error {
	f.count = weir.Value[q12Count](c, "count")
	return nil
}

// Process counts a bid in the window the wall clock is in. A window whose
// timer has not fired yet although the clock has passed its end is
// emitted first.
func (f *q12Fn) Process(c weir.KeyedContext[int64], bidder int64, out weir.Out[q12Row]) error {
	now := c.ProcessingTime().UnixMilli()
	start := tumbleStart(now, q12Size)
	n, ok, err := f.count.Get(c)
	if err != nil {
		return err
	}
	switch {
	case ok && n.Start == start:
		n.Count++
		return f.count.Set(c, n)
	case ok:
		out.Emit(q12Row{bidder: bidder, count: n.Count, start: n.Start})
		if err := c.Timers().DeleteProcessingTime(time.UnixMilli(n.Start + q12Size - 1)); err != nil {
			return err
		}
	default:
		if err := c.Timers().RegisterEventTime(weir.EndOfTime); err != nil {
			return err
		}
	}
	if err := c.Timers().RegisterProcessingTime(time.UnixMilli(start + q12Size - 1)); err != nil {
		return err
	}
	return f.count.Set(c, q12Count{Start: start, Count: 1})
}

// OnTimer emits the bidder's window when the wall clock passes its end
// (and drops it with its end-of-input timer) or when the input ends.
func (f *q12Fn) OnTimer(c weir.TimerContext[int64], out weir.Out[q12Row]) error {
	n, ok, err := f.count.Get(c)
	if err != nil || !ok {
		return err
	}
	if c.Domain() == weir.ProcessingTimeDomain {
		if c.Time().UnixMilli() < n.Start+q12Size-1 {
			return nil // an older window's timer
		}
		if err := c.Timers().DeleteEventTime(weir.EndOfTime); err != nil {
			return err
		}
	}
	out.Emit(q12Row{bidder: c.Key(), count: n.Count, start: n.Start})
	return f.count.Clear(c)
}
