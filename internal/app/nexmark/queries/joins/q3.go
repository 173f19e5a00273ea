package joins

import (
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q3 is the local item suggestion: every auction of category 10 with the
// name, city and state of its seller, when the seller lives in OR, ID or
// CA. A regular join, append-only.
var Q3 = job.Query{Name: "q3", Title: "local item suggestion", Build: buildQ3}

// q3In is one side of q3's join, keyed by the person's id: a person (with
// its columns only when it lives in OR, ID or CA) or the id of a
// category-10 auction and its seller.
type q3In struct {
	Person    int64 // the person's id, or the auction's seller
	Auction   int64 // the auction's id
	IsAuction bool
	person    q3Person
}

// q3Person is what q3 keeps of a person: its columns if it lives in OR, ID
// or CA (Local), or only the fact that it does not.
type q3Person struct {
	Local             bool
	Name, City, State string
}

// q3Row is one result row.
type q3Row struct {
	person  q3Person
	auction int64
}

// buildQ3 is Q3.Build: q3Stream's operators on the job's events, their
// result to job.Emit.
func buildQ3(c *job.Context) error {
	job.Emit(c, q3Stream(c.Events()), q3Encode)
	return nil
}

// q3Encode writes a q3 row.
func q3Encode(dst []byte, r q3Row) []byte {
	w := job.BeginRow(dst)
	w.Str("name", r.person.Name)
	w.Str("city", r.person.City)
	w.Str("state", r.person.State)
	w.Int("id", r.auction)
	return w.End()
}

// q3Stream adds q3's operators after events and returns its result.
func q3Stream(events weir.Stream[nexmark.Event]) weir.Stream[q3Row] {
	in := weir.FlatMap(events, func(e nexmark.Event, out weir.Out[q3In]) error {
		switch e.Kind {
		case nexmark.KindPerson:
			p := &e.Person
			r := q3In{Person: p.ID}
			if p.State == "OR" || p.State == "ID" || p.State == "CA" {
				r.person = q3Person{Local: true, Name: p.Name, City: p.City, State: p.State}
			}
			out.Emit(r)
		case nexmark.KindAuction:
			if e.Auction.Category == 10 {
				out.Emit(q3In{Person: e.Auction.Seller, Auction: e.Auction.ID, IsAuction: true})
			}
		}
		return nil
	}).Name("q3 people and category-10 auctions")
	keyed := weir.KeyBy(in, func(r q3In) int64 { return r.Person })
	return weir.Process(keyed, &q3Join{}).Name("q3 join").ID("q3-join")
}

// q3Join joins auctions with their seller, keyed by the person's id. The
// person is kept for good (a regular join: its auctions may come at any
// time), reduced to a marker when it does not live in OR, ID or CA, so
// that its auctions are dropped instead of waiting. An auction whose
// seller is known is joined (or dropped) at once; one whose seller is not
// known yet waits, as its id, until the seller arrives.
type q3Join struct {
	person  weir.ValueState[int64, q3Person]
	pending weir.ListState[int64, int64] // ids of auctions waiting for their seller
}

// Open declares the state.
func (j *q3Join) Open(c weir.KeyedOpenContext[int64]) error {
	j.person = weir.Value[q3Person](c, "person")
	j.pending = weir.List[int64](c, "pending auctions")
	return nil
}

// Process joins a person or an auction.
func (j *q3Join) Process(c weir.KeyedContext[int64], r q3In, out weir.Out[q3Row]) error {
	p, known, err := j.person.Get(c)
	if err != nil {
		return err
	}
	if r.IsAuction {
		switch {
		case !known:
			return j.pending.Add(c, r.Auction)
		case p.Local:
			out.Emit(q3Row{person: p, auction: r.Auction})
		}
		return nil
	}
	if known {
		return duplicate("q3", "person", r.Person)
	}
	waiting, err := j.pending.Get(c)
	if err != nil {
		return err
	}
	if len(waiting) > 0 {
		if r.person.Local {
			for _, id := range waiting {
				out.Emit(q3Row{person: r.person, auction: id})
			}
		}
		if err := j.pending.Clear(c); err != nil {
			return err
		}
	}
	return j.person.Set(c, r.person)
}
