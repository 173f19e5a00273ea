package pipeline

import (
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
)

// windowStep aggregates the records of each key and window: a thin layer
// over weir.Windowed and weir.Aggregate (weir.CountWindow for count
// windows), whose accumulators add each record as it comes — a window's
// state is one accumulator per aggregate, never its records.
type windowStep struct {
	key      *Expr // nil: one window for all records
	assigner weir.WindowAssigner
	kind     string // tumbling, sliding, session or count
	kindPos  Pos
	size     time.Duration
	count    int
	slide    int
	lateness time.Duration
	late     string
	latePos  Pos
	aggs     []*aggregate
	// evt reads the event time of a record for first and last; nil when
	// neither is asked for. evtOf is where it is.
	evt   func(Record) (time.Time, error)
	evtOf *EventTime
}

// The fields a window's result has besides its aggregates.
const (
	keyField   = "key"
	startField = "window_start"
	endField   = "window_end"
)

func parseWindow(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	w := &windowStep{}
	if kn := o.get("key"); kn != nil {
		w.key = r.expr(kn, what+": key")
	}
	var kinds []string
	for _, k := range []string{"tumbling", "sliding", "session", "count"} {
		if o.get(k) != nil {
			kinds = append(kinds, k)
		}
	}
	bad := false
	switch len(kinds) {
	case 0:
		r.errorf(o.pos, "%s: say what windows: tumbling: 1m, sliding: {size: 1m, slide: 10s}, session: {gap: 30s} or count: 100", what)
		bad = true
	case 1:
	default:
		r.errorf(o.keyPos(kinds[1]), "%s: has both %s and %s; a window step has one kind of window", what, kinds[0], kinds[1])
		bad = true
	}
	for _, k := range kinds {
		w.kind, w.kindPos = k, o.keyPos(k)
		kw := what + ": " + k
		switch k {
		case "tumbling":
			before := len(r.errs)
			w.size = r.duration(o, k)
			if len(r.errs) > before {
				bad = true
			} else if w.size < time.Millisecond {
				r.errorf(o.keyPos(k), "%s: a window is at least 1ms long", kw)
				bad = true
			}
			w.assigner = weir.TumblingEventTime(w.size)
		case "sliding":
			so := r.object(o.get(k), kw)
			if so == nil {
				bad = true
				continue
			}
			size, slide := r.duration(so, "size"), r.duration(so, "slide")
			switch {
			case size < time.Millisecond || slide < time.Millisecond:
				r.errorf(so.pos, "%s: size and slide are durations of at least 1ms (size: 1m, slide: 10s)", kw)
				bad = true
			case slide > size:
				r.errorf(so.keyPos("slide"), "%s: slide %v is longer than size %v", kw, slide, size)
				bad = true
			case size%time.Millisecond != 0 || slide%time.Millisecond != 0:
				r.errorf(so.pos, "%s: size and slide are whole milliseconds", kw)
				bad = true
			}
			so.finish()
			w.size = size
			w.assigner = weir.SlidingEventTime(size, slide)
		case "session":
			so := r.object(o.get(k), kw)
			if so == nil {
				bad = true
				continue
			}
			gap := r.duration(so, "gap")
			if gap < time.Millisecond {
				r.errorf(so.keyPos("gap"), "%s: gap: a duration of at least 1ms (gap: 30s)", kw)
				bad = true
			}
			so.finish()
			w.assigner = weir.EventTimeSessions(gap)
		case "count":
			cn := r.deref(o.get(k))
			if _, isMap := cn.(*ast.MappingNode); isMap {
				co := r.object(cn, kw)
				w.count = int(r.integer(co, "size", 0))
				w.slide = int(r.integer(co, "slide", int64(w.count)))
				co.finish()
			} else {
				w.count = int(r.integer(o, k, 0))
				w.slide = w.count
			}
			if w.count <= 0 || w.slide <= 0 || w.slide > w.count {
				r.errorf(o.keyPos(k), "%s: size and slide are positive counts of records, slide at most size", kw)
				bad = true
			}
		}
	}
	w.lateness = r.duration(o, "allowed_lateness")
	w.late, w.latePos = r.str(o, "late"), o.keyPos("late")
	if w.kind == "count" {
		if o.has("allowed_lateness") {
			r.errorf(o.keyPos("allowed_lateness"), "%s: allowed_lateness: count windows are never late", what)
		}
		if o.has("late") {
			r.errorf(o.keyPos("late"), "%s: late: count windows are never late", what)
		}
	}
	if an := o.require("aggregates"); an != nil {
		w.aggs = r.aggregates(an, what+": aggregates")
		for _, a := range w.aggs {
			switch a.field {
			case startField, endField:
				r.errorf(a.pos, "%s: aggregates: %q is the field of the window's bounds; name the aggregate otherwise", what, a.field)
				bad = true
			case keyField:
				if w.key != nil {
					r.errorf(a.pos, "%s: aggregates: %q is the field of the window's key; name the aggregate otherwise", what, a.field)
					bad = true
				}
			}
		}
	}
	o.finish()
	if bad || len(w.aggs) == 0 {
		return nil
	}
	return w
}

func (w *windowStep) check(c *checker, s *Step, in *Schema) *Schema {
	out := &Schema{}
	if w.key != nil {
		if c.compile(w.key, in, TypeAny, nil) {
			out.Fields = append(out.Fields, Field{Name: keyField, Type: w.key.out})
		}
	}
	evt := c.eventTimeOf(s.From)
	if w.kind != "count" && evt == nil {
		c.r.errorf(w.kindPos, "step %q: window: %s windows are in event time, and its records have none: give the input an event_time", s.Name, w.kind)
	}
	if w.kind != "count" || evt != nil {
		out.Fields = append(out.Fields, Field{Name: startField, Type: TypeTimestamp}, Field{Name: endField, Type: TypeTimestamp})
	}
	ok := true
	for _, a := range w.aggs {
		t, good := a.check(c, in)
		if !good {
			ok = false
			continue
		}
		if (a.kind == aggFirst || a.kind == aggLast) && w.evt == nil {
			if evt == nil || evt.Field == "" {
				c.r.errorf(a.pos, "step %q: window: %s orders records by event time, and the records of %s carry no event-time field", s.Name, a.name(), strings.Join(s.From, ", "))
				ok = false
				continue
			}
			w.evt, w.evtOf = timeOf(evt), evt
		}
		out.Fields = append(out.Fields, Field{Name: a.field, Type: t})
	}
	if w.late != "" {
		c.feed(w.late, w.latePos, s, in)
	}
	if !ok {
		return nil
	}
	return out
}

func (w *windowStep) build(b *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	keep := w.late != ""
	args := slices.ContainsFunc(w.aggs, func(a *aggregate) bool { return a.arg != nil })
	prepared := policy(s, weir.TryMap(in, func(r Record) (winIn, error) {
		var v winIn
		if args {
			v.Vals = make([]scalar, len(w.aggs))
		}
		if w.key != nil {
			k, err := w.key.eval(r)
			if err != nil {
				return winIn{}, err
			}
			v.Key = keyString(k)
		}
		for i, a := range w.aggs {
			if a.arg == nil {
				continue
			}
			x, err := a.arg.eval(r)
			if err != nil {
				return winIn{}, err
			}
			v.Vals[i] = toScalar(normalize(x))
		}
		if w.evt != nil {
			t, err := w.evt(r)
			if err != nil {
				return winIn{}, err
			}
			v.Ts = t.UnixNano()
		}
		if keep {
			v.Rec = r
		}
		return v, nil
	}).Name(s.Name+" (prepare)").ID(opID(s, "prepare")))
	return w.aggregate(b, s, prepared)
}

// buildRows is build for rows: the key, the aggregates' arguments and the
// event time read by position.
func (w *windowStep) buildRows(b *builder, s *Step, in *rowStream) (*rowStream, weir.Stream[Record]) {
	keep := w.late != ""
	var evt func(row) (time.Time, error)
	if w.evtOf != nil {
		evt = rowTimeOf(w.evtOf, in.schema)
	}
	args := slices.ContainsFunc(w.aggs, func(a *aggregate) bool { return a.arg != nil })
	prepared := policy(s, weir.TryMap(in.st, func(r row) (winIn, error) {
		var v winIn
		if args {
			v.Vals = make([]scalar, len(w.aggs))
		}
		c := rowCtx{r: r}
		if w.key != nil {
			k, err := c.eval(w.key)
			if err != nil {
				return winIn{}, err
			}
			v.Key = keyString(k)
		}
		for i, a := range w.aggs {
			if a.arg == nil {
				continue
			}
			x, err := c.eval(a.arg)
			if err != nil {
				return winIn{}, err
			}
			v.Vals[i] = toScalar(normalize(x))
		}
		if evt != nil {
			t, err := evt(r)
			if err != nil {
				return winIn{}, err
			}
			v.Ts = t.UnixNano()
		}
		if keep {
			if c.rec == nil {
				c.rec = r.record()
			}
			v.Rec = c.rec
		}
		return v, nil
	}).Name(s.Name+" (prepare)").ID(opID(s, "prepare")))
	return nil, w.aggregate(b, s, prepared)
}

// aggregate adds the window's operators after the prepared records.
func (w *windowStep) aggregate(b *builder, s *Step, prepared weir.Stream[winIn]) weir.Stream[Record] {
	g := newAggregator(w.aggs)
	keep := w.late != ""
	keyed := weir.KeyBy(prepared, func(v winIn) string { return v.Key })
	var results weir.Stream[weir.WindowResult[string, winAcc]]
	if w.kind == "count" {
		results = weir.CountWindow[string, winIn, winAcc, winAcc](keyed, w.count, w.slide, g)
	} else {
		var opts []weir.WindowOption[winIn]
		if w.lateness > 0 {
			opts = append(opts, weir.AllowedLateness[winIn](w.lateness))
		}
		var tag weir.OutputTag[winIn]
		if keep {
			tag = weir.NewOutputTag[winIn](s.Name + " (late)")
			opts = append(opts, weir.LateData(tag))
		}
		results = weir.Aggregate[string, winIn, winAcc, winAcc](weir.Windowed(keyed, w.assigner, opts...), g)
		if keep {
			late := weir.Map(weir.SideOutput(results, tag), func(v winIn) Record { return v.Rec }).Name(s.Name + " → " + w.late).ID(opID(s, "late"))
			b.send(w.late, late)
		}
	}
	results = results.Name(s.Name).ID(opID(s, ""))
	hasKey, bounds := w.key != nil, s.schema == nil || hasField(s.schema, startField)
	return weir.Map(results, func(res weir.WindowResult[string, winAcc]) Record {
		rec := make(Record, len(w.aggs)+3)
		if hasKey {
			rec[keyField] = decodeKey(res.Key)
		}
		if bounds && res.Window != (weir.Window{}) {
			rec[startField] = res.Window.StartTime().UTC()
			rec[endField] = res.Window.EndTime().UTC()
		}
		g.values(res.Value, rec)
		return rec
	}).Name(s.Name + " (result)").ID(opID(s, "result"))
}

func hasField(s *Schema, name string) bool {
	_, ok := s.Field(name)
	return ok
}

// eventTimeOf is the event time of the records of the named inputs and
// steps: the event_time of the inputs they come from when all agree, nil
// when they have none. A Field of "" means records have an event time but
// no field holds it (a window's results).
func (c *checker) eventTimeOf(names []string) *EventTime {
	var et *EventTime
	for i, n := range names {
		e := c.evts[n]
		if e == nil {
			return nil
		}
		if i > 0 && e.Field != et.Field {
			return &EventTime{}
		}
		et = e
	}
	return et
}

// stepEventTime is the event time of a step's records: a filter's,
// dedupe's or map's are those of its input (unless the map replaces the
// time's field), a projection's too when it keeps the field as it is; a
// window's results have their window's end, in no field.
func (c *checker) stepEventTime(s *Step) *EventTime {
	in := c.eventTimeOf(s.From)
	switch sp := s.spec.(type) {
	case *windowStep:
		return &EventTime{}
	case *mapStep:
		if in == nil || in.Field == "" {
			return in
		}
		for _, a := range sp.fields {
			if a.Field == in.Field {
				if strings.TrimSpace(a.Expr.Source) == in.Field {
					return in
				}
				return &EventTime{}
			}
		}
		if sp.project {
			return &EventTime{}
		}
		return in
	case *joinStep:
		return &EventTime{}
	}
	return in
}
