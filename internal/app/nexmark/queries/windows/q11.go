package windows

import (
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q11 is user sessions: per bidder, SESSION windows with a 10 s gap (bids
// at most 10 s apart share a session). Columns bidder, bid_count,
// starttime (the first bid's time), endtime (the last bid's time + 10 s).
// Append-only.
//
// It is the library's event-time session window counting bids per bidder:
// a bid opens [t, t+10 s), and windows that overlap or touch merge, which
// is the reference's rule. The window operator keeps one count per open
// session and drops it when the session fires. Three bids in four come
// from the hot bidder, so its key is hot, but a session cannot be counted
// apart from its other bids without a merge step; the hot bidder changes
// every 100 people (about 50 ms of event time at the default rate), which
// spreads the load over the subtasks over time.
var Q11 = job.Query{Name: "q11", Title: "user sessions", Build: buildQ11}

const q11Gap = 10 * time.Second

// buildQ11 is Q11.Build: the session windows on the bids' bidders, their
// rows to job.Emit.
func buildQ11(c *job.Context) error {
	bidders := bidColumn(c, "q11 bidders", func(b *nexmark.Bid) int64 { return b.Bidder })
	sessions := weir.Aggregate(weir.Windowed(weir.KeyBy(bidders, func(b int64) int64 { return b }),
		weir.EventTimeSessions(q11Gap)), count[int64]{}).Name("q11 sessions")
	job.Emit(c, sessions, func(dst []byte, s weir.WindowResult[int64, int64]) []byte {
		r := job.BeginRow(dst)
		r.Int("bidder", s.Key)
		r.Int("bid_count", s.Value)
		r.Int("starttime", s.Window.Start)
		r.Int("endtime", s.Window.End)
		return r.End()
	})
	return nil
}
