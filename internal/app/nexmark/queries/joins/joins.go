// Package joins holds the Nexmark queries that join two kinds of events:
// the regular joins q3 (auctions ⋈ sellers) and q20 (bids ⋈ auctions), and
// q4 and q9, which join each auction with the bids placed during its life.
//
// Every query reads the event stream once, turns the events it needs into
// one compact record type and keys it by the join key, so one keyed
// operator sees both sides of the join. Events come from several splits
// that interleave across parallel subtasks, so either side of a match may
// arrive first; each join keeps what it must until the other side arrives.
//
// The joins rely on the Nexmark model's keys: a person's id and an
// auction's id are unique. A second person or auction with an id the join
// still remembers fails the job, naming the id, rather than giving wrong
// rows.
//
// State and how it is bounded:
//
//   - q3 and q20 are regular (unwindowed) joins: a matching person (q3) or
//     category-10 auction (q20) can be joined by an event arriving at any
//     later time, so it is kept for good, as any engine keeps a regular
//     join's state. A person or auction that cannot match is reduced to a
//     marker, so the events waiting for it are dropped rather than kept.
//     Since the kept side is unique, an event of the other side arriving
//     after it is joined at once and never stored; one arriving before it
//     waits, and only until it arrives.
//   - q4 and q9 keep an auction until the watermark passes its expires,
//     and a bid whose auction is not known yet until the watermark passes
//     the bid's dateTime. That loses nothing, because the join condition
//     is A.dateTime ≤ B.dateTime ≤ A.expires and the watermark W
//     guarantees that every event still to come has a dateTime greater
//     than W (the watermark is the greatest dateTime seen minus 4 s minus
//     1 ms, and the generated input has no event 4 s behind an earlier
//     one). An auction's timer at A.expires fires once W ≥ A.expires;
//     every bid arriving later has B.dateTime > W ≥ A.expires and cannot
//     match, so the auction's result (q9's winning bid, q4's maximum) is
//     final and its state can go. A waiting bid's timer at B.dateTime
//     fires once W ≥ B.dateTime; every auction arriving later has
//     A.dateTime > W ≥ B.dateTime, so A.dateTime ≤ B.dateTime fails and
//     the bid can go. As auction ids are unique, a bid for a known auction
//     that falls outside its life is dropped at once, and the bids that
//     waited for an auction are dropped once it has arrived.
//
// Hot keys: half of all bids go to one hot auction, so one subtask of the
// q4, q9 and q20 joins gets them. Those bids cost one state read each (and
// a write only when they change the result); nothing can be combined
// before the exchange, as whether a bid counts depends on its auction,
// which only the join knows. q4's second level, keyed by one of five
// categories, sees only changes of an auction's maximum.
package joins

import (
	"fmt"
	"time"

	"github.com/weirstream/weir"
)

// tombstoneLinger is how long, in event time, q4 and q9 remember that an
// auction has closed. Bids that arrive for a closed auction are dropped
// while its tombstone lives; without it they would wait as bids of an
// unknown auction until the watermark passes them (about 4 s of event
// time). The hot auction may close while half of all bids still go to it,
// so a tombstone lives as long as bids keep coming: each time its linger
// ends it is renewed if a bid came meanwhile. Its length only trades
// memory for dropped work; correctness does not depend on it.
const tombstoneLinger = int64(time.Second / time.Millisecond)

// duplicate is the error for a second event with an id the join keeps.
func duplicate(query, what string, id int64) error {
	return fmt.Errorf("%s: a second %s with id %d; %s ids must be unique", query, what, id, what)
}

// dropPassed removes from the current key's list the entries whose time is
// at or before t, the time of the firing timer; later ones have timers of
// their own.
func dropPassed[V any](c weir.TimerContext[int64], l weir.ListState[int64, V], t int64, timeOf func(*V) int64) error {
	vs, err := l.Get(c)
	if err != nil || len(vs) == 0 {
		return err
	}
	keep := 0
	for i := range vs {
		if timeOf(&vs[i]) > t {
			keep++
		}
	}
	switch keep {
	case len(vs):
		return nil
	case 0:
		return l.Clear(c)
	}
	rest := make([]V, 0, keep)
	for i := range vs {
		if timeOf(&vs[i]) > t {
			rest = append(rest, vs[i])
		}
	}
	return l.Update(c, rest)
}
