package windows

import (
	"slices"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q8 is new users: the people who registered and opened an auction in the
// same TUMBLE 10 s window, as one row per distinct (id, name, window):
// columns id, name, starttime (the window's start). Append-only.
//
// People and auctions are keyed by (person id or seller, window). A row is
// final as soon as both sides have been seen in the window, so it is
// emitted at once rather than when the window ends; the key's state — its
// names and whether it sold — goes at the window's end, when no more events
// of the window can come.
var Q8 = job.Query{Name: "q8", Title: "new users", Build: buildQ8}

const q8Size = 10_000 // the window's size, ms

// q8Key is the join key: a person's id or an auction's seller, and the
// window.
type q8Key struct {
	ID, Start int64
}

// q8In is a person (with its name) or an auction (Sold) in a window.
type q8In struct {
	Key  q8Key
	Sold bool
	Name string
}

// q8State is what a key keeps for its window: the distinct names of the
// people with the id, and whether an auction of theirs opened.
type q8State struct {
	Sold  bool
	Names []string
}

// q8Row is one result row.
type q8Row struct {
	id, start int64
	name      string
}

// buildQ8 is Q8.Build: people and auctions keyed by id and window, the
// join's rows to job.Emit.
func buildQ8(c *job.Context) error {
	in := weir.FlatMap(c.Events(), func(e nexmark.Event, out weir.Out[q8In]) error {
		switch e.Kind {
		case nexmark.KindPerson:
			p := &e.Person
			out.Emit(q8In{Key: q8Key{ID: p.ID, Start: tumbleStart(p.DateTime, q8Size)}, Name: p.Name})
		case nexmark.KindAuction:
			a := &e.Auction
			out.Emit(q8In{Key: q8Key{ID: a.Seller, Start: tumbleStart(a.DateTime, q8Size)}, Sold: true})
		}
		return nil
	}).Name("q8 people and sellers")
	rows := weir.Process(weir.KeyBy(in, func(v q8In) q8Key { return v.Key }),
		weir.KeyedProcessFunction[q8Key, q8In, q8Row](&q8Fn{})).Name("q8 join")
	job.Emit(c, rows, func(dst []byte, r q8Row) []byte {
		w := job.BeginRow(dst)
		w.Int("id", r.id)
		w.Str("name", r.name)
		w.Int("starttime", r.start)
		return w.End()
	})
	return nil
}

// q8Fn joins the people and sellers of one id and window.
type q8Fn struct {
	state weir.ValueState[q8Key, q8State]
}

// Open declares the state.
func (f *q8Fn) Open(c weir.KeyedOpenContext[q8Key]) error {
	f.state = weir.Value[q8State](c, "seen")
	return nil
}

// Process adds a person or an auction to its key's window and emits the
// rows that it completes; the key's first event sets a timer at the
// window's end.
func (f *q8Fn) Process(c weir.KeyedContext[q8Key], v q8In, out weir.Out[q8Row]) error {
	s, ok, err := f.state.Get(c)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.Timers().RegisterEventTime(time.UnixMilli(v.Key.Start + q8Size - 1)); err != nil {
			return err
		}
	}
	switch {
	case v.Sold:
		if s.Sold {
			return nil
		}
		s.Sold = true
		for _, n := range s.Names {
			out.Emit(q8Row{id: v.Key.ID, start: v.Key.Start, name: n})
		}
	case slices.Contains(s.Names, v.Name):
		return nil
	default:
		// Appending never changes what the stored value holds: it sees
		// only its own length.
		s.Names = append(s.Names, v.Name)
		if s.Sold {
			out.Emit(q8Row{id: v.Key.ID, start: v.Key.Start, name: v.Name})
		}
	}
	return f.state.Set(c, s)
}

// OnTimer drops the key's state at the end of its window.
func (f *q8Fn) OnTimer(c weir.TimerContext[q8Key], _ weir.Out[q8Row]) error {
	return f.state.Clear(c)
}
