package pipeline

import (
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
)

// dedupeStep drops a record when a record of the same key was kept less
// than within before or after it in event time. It keeps one time per key
// in keyed state, which an event-time timer clears once the watermark has
// passed the kept record's time plus within: state lives as long as it can
// still drop something, and a restore, a rescale or a savepoint carries it
// like any keyed state.
type dedupeStep struct {
	key    *Expr
	within time.Duration
	pos    Pos
}

func parseDedupe(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	d := &dedupeStep{pos: o.pos}
	if kn := o.require("key"); kn != nil {
		d.key = r.expr(kn, what+": key")
	}
	if o.require("within") != nil {
		d.within = r.duration(o, "within")
		if d.within < time.Millisecond {
			r.errorf(o.keyPos("within"), "%s: within: a duration of at least 1ms (within: 10m)", what)
			d.key = nil
		}
	}
	o.finish()
	if d.key == nil || d.within <= 0 {
		return nil
	}
	return d
}

func (d *dedupeStep) check(c *checker, s *Step, in *Schema) *Schema {
	c.compile(d.key, in, TypeAny, nil)
	if c.eventTimeOf(s.From) == nil {
		c.r.errorf(d.pos, "step %q: dedupe: within is a range of event time, and its records have none: give the input an event_time", s.Name)
	}
	return in
}

// keyed is a record with its key, encoded by keyString.
type keyed struct {
	Key string
	Rec Record
}

func (d *dedupeStep) build(_ *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	prepared := policy(s, weir.TryMap(in, func(r Record) (keyed, error) {
		k, err := d.key.eval(r)
		if err != nil {
			return keyed{}, err
		}
		return keyed{Key: keyString(k), Rec: r}, nil
	}).Name(s.Name+" (key)").ID(opID(s, "key")))
	ks := weir.KeyBy(prepared, func(v keyed) string { return v.Key })
	// A duplicate comes out as nil, which the filter after it drops and
	// counts, as a filter step's does.
	deduped := policy(s, weir.Process(ks, &dedupeFn{within: d.within.Milliseconds()}).Name(s.Name).ID(opID(s, "")))
	return deduped.Filter(func(r Record) bool { return r != nil }).Name(s.Name + " (duplicates)").ID(opID(s, "duplicates"))
}

// dedupeFn keeps, per key, the event time of the record it last let
// through, in Unix milliseconds.
type dedupeFn struct {
	within int64
	kept   weir.ValueState[string, int64]
}

var (
	_ weir.KeyedProcessFunction[string, keyed, Record] = (*dedupeFn)(nil)
	_ weir.KeyedOpener[string]                         = (*dedupeFn)(nil)
	_ weir.KeyedTimerHandler[string, Record]           = (*dedupeFn)(nil)
)

func (f *dedupeFn) Open(c weir.KeyedOpenContext[string]) error {
	f.kept = weir.Value[int64](c, "kept")
	return nil
}

func (f *dedupeFn) Process(c weir.KeyedContext[string], v keyed, out weir.Out[Record]) error {
	t, ok := c.Timestamp()
	if !ok {
		return errNoTime
	}
	ts := t.UnixMilli()
	kept, found, err := f.kept.Get(c)
	if err != nil {
		return err
	}
	if found && ts > kept-f.within && ts < kept+f.within {
		out.Emit(nil) // a duplicate
		return nil
	}
	if !found || ts > kept {
		if err := f.kept.Set(c, ts); err != nil {
			return err
		}
		if err := c.Timers().RegisterEventTime(time.UnixMilli(ts + f.within)); err != nil {
			return err
		}
	}
	out.Emit(v.Rec)
	return nil
}

// OnTimer forgets the key once no record can be a duplicate of the one
// kept; a timer of an earlier kept record finds a later time and leaves
// it.
func (f *dedupeFn) OnTimer(c weir.TimerContext[string], _ weir.Out[Record]) error {
	kept, found, err := f.kept.Get(c)
	if err != nil || !found {
		return err
	}
	if kept+f.within <= c.Time().UnixMilli() {
		return f.kept.Clear(c)
	}
	return nil
}
