package pipeline

import (
	"fmt"
	"maps"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/normal"
)

// The fields a normal step adds to each record.
const (
	scoreField = "anomaly_score"
	lowField   = "expected_low"
	highField  = "expected_high"
)

// normalStep scores each record's value against a model of what is normal
// for its key (package normal): the record goes on with its score and the
// range the model expected, and the alerts the scores open and close go to
// an output. The models and the alerts' state are keyed state, so a
// restore, a rescale or a savepoint carries them.
type normalStep struct {
	key, value *Expr
	alerts     string
	alertsPos  Pos
	cfg        normal.AlertConfig
	pos        Pos
}

func parseNormal(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	st := &normalStep{pos: o.pos, cfg: normal.DefaultAlertConfig()}
	if kn := o.get("key"); kn != nil {
		st.key = r.expr(kn, what+": key")
	}
	if vn := o.require("value"); vn != nil {
		st.value = r.expr(vn, what+": value")
	}
	st.alerts, st.alertsPos = r.str(o, "alerts"), o.keyPos("alerts")
	ok := true
	score := func(key string, dst *float64) {
		if o.get(key) == nil {
			return
		}
		if v := r.number(o, key); v > 0 && v <= 1 {
			*dst = v
		} else {
			r.errorf(o.keyPos(key), "%s: %s: a score in (0, 1] (%s: 0.5), got %v", what, key, key, v)
			ok = false
		}
	}
	score("open", &st.cfg.Open)
	score("close", &st.cfg.Close)
	if o.get("close_after") != nil {
		st.cfg.CloseAfter = int(r.integer(o, "close_after", 0))
		if st.cfg.CloseAfter < 1 {
			r.errorf(o.keyPos("close_after"), "%s: close_after: how many quiet values in a row close an alert, at least 1 (close_after: 6)", what)
			ok = false
		}
	}
	if o.get("min_duration") != nil {
		st.cfg.MinDuration = r.duration(o, "min_duration")
	}
	if ok && st.cfg.Close > st.cfg.Open {
		r.errorf(o.keyPos("close"), "%s: close: %v is above open (%v): an alert closes below close and opens at open", what, st.cfg.Close, st.cfg.Open)
		ok = false
	}
	o.finish()
	if !ok || st.value == nil {
		return nil
	}
	return st
}

func (st *normalStep) check(c *checker, s *Step, in *Schema) *Schema {
	if st.key != nil {
		c.compile(st.key, in, TypeAny, nil)
	}
	if c.compile(st.value, in, TypeAny, nil) {
		switch st.value.out {
		case TypeInt, TypeFloat, TypeAny:
		default:
			c.r.errorf(st.value.pos, "step %q: normal: value %s is a %s; want a number", s.Name, st.value.Source, st.value.out)
		}
	}
	if c.eventTimeOf(s.From) == nil {
		c.r.errorf(st.pos, "step %q: normal: the model learns what is normal at each time of day and day of week, and its records have no event time: give the input an event_time", s.Name)
	}
	var out *Schema
	if in != nil {
		for _, f := range []string{scoreField, lowField, highField} {
			if hasField(in, f) {
				c.r.errorf(st.pos, "step %q: normal: its records already have a field %q, which the step adds", s.Name, f)
			}
		}
		out = &Schema{Fields: append(append([]Field(nil), in.Fields...),
			Field{Name: scoreField, Type: TypeFloat}, Field{Name: lowField, Type: TypeFloat}, Field{Name: highField, Type: TypeFloat})}
	}
	if st.alerts != "" {
		c.feed(st.alerts, st.alertsPos, s, alertSchema(st.key != nil))
	}
	return out
}

// alertSchema is the schema of a normal step's alert records.
func alertSchema(keyed bool) *Schema {
	var fs []Field
	if keyed {
		fs = append(fs, Field{Name: keyField, Type: TypeAny})
	}
	return &Schema{Fields: append(fs,
		Field{Name: "state", Type: TypeString},
		Field{Name: "value", Type: TypeFloat},
		Field{Name: lowField, Type: TypeFloat},
		Field{Name: highField, Type: TypeFloat},
		Field{Name: "score", Type: TypeFloat},
		Field{Name: "opened_at", Type: TypeTimestamp},
		Field{Name: "closed_at", Type: TypeTimestamp},
	)}
}

// normalIn is a record with its key, encoded by keyString, and its value.
type normalIn struct {
	Key   string
	Value float64
	Rec   Record
}

func (st *normalStep) build(b *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	prepared := policy(s, weir.TryMap(in, func(r Record) (normalIn, error) {
		v := normalIn{Rec: r}
		if st.key != nil {
			k, err := st.key.eval(r)
			if err != nil {
				return normalIn{}, err
			}
			v.Key = keyString(k)
		}
		x, err := st.value.eval(r)
		if err != nil {
			return normalIn{}, err
		}
		f, ok := toScalar(normalize(x)).number()
		if !ok {
			return normalIn{}, fmt.Errorf("value %s is %s, not a number", st.value.Source, describe(x))
		}
		v.Value = f
		return v, nil
	}).Name(s.Name+" (value)").ID(opID(s, "value")))
	tag := weir.NewOutputTag[Record](s.Name + " (alerts)")
	fn := &normalFn{cfg: st.cfg, keyed: st.key != nil, tag: tag, alerts: st.alerts != ""}
	scored := policy(s, weir.Process(weir.KeyBy(prepared, func(v normalIn) string { return v.Key }), fn).Name(s.Name).ID(opID(s, "")))
	if st.alerts != "" {
		b.send(st.alerts, weir.SideOutput(scored, tag).Name(s.Name+" → "+st.alerts))
	}
	return scored
}

// describe names the kind of a value that is not a number, for errors.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case time.Time:
		return "a timestamp"
	}
	return fmt.Sprintf("a %T", v)
}

// normalFn keeps, per key, the model of normal ("model", its encoding)
// and the alert tracker's state ("alert").
type normalFn struct {
	cfg    normal.AlertConfig
	keyed  bool
	alerts bool
	tag    weir.OutputTag[Record]

	model   weir.ValueState[string, []byte]
	alert   weir.ValueState[string, normal.AlertState]
	m, zero *normal.Model
	tracker *normal.AlertTracker[string]
}

var (
	_ weir.KeyedProcessFunction[string, normalIn, Record] = (*normalFn)(nil)
	_ weir.KeyedOpener[string]                            = (*normalFn)(nil)
)

func (f *normalFn) Open(c weir.KeyedOpenContext[string]) error {
	f.model = weir.Value[[]byte](c, "model")
	f.alert = weir.Value[normal.AlertState](c, "alert")
	var err error
	if f.zero, err = normal.New(normal.DefaultConfig()); err != nil {
		return err
	}
	f.m = new(normal.Model)
	f.tracker, err = normal.NewAlertTracker[string](f.cfg)
	return err
}

func (f *normalFn) Process(c weir.KeyedContext[string], v normalIn, out weir.Out[Record]) error {
	t, ok := c.Timestamp()
	if !ok {
		return errNoTime
	}
	enc, found, err := f.model.Get(c)
	if err != nil {
		return err
	}
	*f.m = *f.zero
	if found {
		if err := f.m.UnmarshalBinary(enc); err != nil {
			return fmt.Errorf("the model of key %v in state: %w", decodeKey(v.Key), err)
		}
	}
	score := f.m.Score(t, v.Value)
	// A new slice each time: the state backend may keep the one it is given.
	if enc, err = f.m.AppendBinary(make([]byte, 0, f.m.StateSize())); err != nil {
		return err
	}
	if err := f.model.Set(c, enc); err != nil {
		return err
	}
	lo, hi := f.m.Expected()
	if f.alerts {
		if err := f.observe(c, normal.Scored[string]{Point: normal.Point[string]{Key: v.Key, Time: t, Value: v.Value}, Score: score, Lo: lo, Hi: hi}); err != nil {
			return err
		}
	}
	rec := maps.Clone(v.Rec)
	if rec == nil {
		rec = Record{}
	}
	rec[scoreField], rec[lowField], rec[highField] = score, lo, hi
	out.Emit(rec)
	return nil
}

// observe runs the key's alert tracker on a scored value and emits the
// alert it opens or closes to the step's alerts output.
func (f *normalFn) observe(c weir.KeyedContext[string], s normal.Scored[string]) error {
	st, _, err := f.alert.Get(c)
	if err != nil {
		return err
	}
	f.tracker.SetState(st)
	al, opened := f.tracker.Observe(s)
	if now := f.tracker.State(); now != st {
		if now == (normal.AlertState{}) {
			err = f.alert.Clear(c)
		} else {
			err = f.alert.Set(c, now)
		}
		if err != nil {
			return err
		}
	}
	if !opened {
		return nil
	}
	rec := Record{"state": "open", "value": al.Value, lowField: al.Lo, highField: al.Hi, "score": al.Score, "opened_at": al.OpenedAt}
	if !al.IsOpen() {
		rec["state"], rec["closed_at"] = "closed", al.ClosedAt.UTC()
	}
	if f.keyed {
		rec[keyField] = decodeKey(s.Key)
	}
	weir.Output(c, f.tag, rec)
	return nil
}
