package pipeline

import (
	"fmt"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
)

// joinStep is an interval join of the step's input (the left side) with
// another input or earlier step (the right side, with): a record of each
// side pairs with every record of the other side of the same key whose
// event time lies in between of its own — right's time minus left's in
// [lower, upper]. It is weir.IntervalJoin, whose keyed state holds each
// side's records (as JSON) until the watermark passes the last time they
// could still join. Each pair becomes one record {left: …, right: …}.
type joinStep struct {
	with         string
	withPos      Pos
	key, withKey *Expr
	lower, upper time.Duration
	pos          Pos

	leftSchema, rightSchema *Schema
}

// The fields of a joined record.
const (
	leftField  = "left"
	rightField = "right"
)

func parseJoin(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	j := &joinStep{pos: o.pos, with: r.str(o, "with"), withPos: o.keyPos("with")}
	if j.with == "" {
		r.errorf(o.pos, "%s: missing field \"with\", the input or earlier step to join with", what)
	}
	if kn := o.require("key"); kn != nil {
		j.key = r.expr(kn, what+": key")
	}
	if kn := o.get("with_key"); kn != nil {
		j.withKey = r.expr(kn, what+": with_key")
	} else if j.key != nil {
		j.withKey = &Expr{Source: j.key.Source, pos: j.key.pos, oneLine: j.key.oneLine, what: what + ": key (on " + j.with + ")"}
	}
	ok := false
	if bn := o.require("between"); bn != nil {
		items := r.list(bn, what+": between")
		if len(items) != 2 {
			r.errorf(posOf(r.deref(bn)), "%s: between: want two durations, [lower, upper] (between: [-5m, 10m])", what)
		} else {
			var ds [2]time.Duration
			ok = true
			for i, it := range items {
				s, good := r.scalar(it, what+": between")
				if !good {
					ok = false
					continue
				}
				d, err := time.ParseDuration(s)
				if err != nil {
					r.errorf(posOf(r.deref(it)), "%s: between: want a duration such as -5m or 10s; got %q", what, s)
					ok = false
					continue
				}
				ds[i] = d
			}
			if ok && ds[0] > ds[1] {
				r.errorf(posOf(r.deref(bn)), "%s: between: the lower bound %v is after the upper bound %v", what, ds[0], ds[1])
				ok = false
			}
			j.lower, j.upper = ds[0], ds[1]
		}
	}
	o.finish()
	if !ok || j.with == "" || j.key == nil || j.withKey == nil {
		return nil
	}
	return j
}

func (j *joinStep) check(c *checker, s *Step, in *Schema) *Schema {
	what := fmt.Sprintf("step %q: join", s.Name)
	right, ok := c.from([]string{j.with}, j.withPos, what+": with")
	c.compile(j.key, in, TypeAny, nil)
	if ok {
		c.compile(j.withKey, right, TypeAny, nil)
		if j.key.out != TypeAny && j.withKey.out != TypeAny && j.key.out != j.withKey.out &&
			!(isNumber(j.key.out) && isNumber(j.withKey.out)) {
			c.r.errorf(j.withKey.pos, "%s: the keys have different types: %s on the left, %s on %q", what, j.key.out, j.withKey.out, j.with)
		}
		if c.eventTimeOf([]string{j.with}) == nil {
			c.r.errorf(j.withPos, "%s: %q has no event time, which an interval join needs: give its input an event_time", what, j.with)
		}
	}
	if c.eventTimeOf(s.From) == nil {
		c.r.errorf(j.pos, "%s: its records have no event time, which an interval join needs: give the input an event_time", what)
	}
	j.leftSchema, j.rightSchema = in, right
	// The sides are objects whose fields the checker does not follow.
	return nil
}

func isNumber(t Type) bool { return t == TypeInt || t == TypeFloat }

// joinSide is a record of one side of a join as its state holds it.
type joinSide struct {
	Key  string
	JSON string
}

func (j *joinStep) build(b *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	side := func(st weir.Stream[Record], key *Expr, part string) weir.KeyedStream[string, joinSide] {
		prepared := policy(s, weir.TryMap(st, func(r Record) (joinSide, error) {
			k, err := key.eval(r)
			if err != nil {
				return joinSide{}, err
			}
			js, err := encodeJSON(r)
			if err != nil {
				return joinSide{}, err
			}
			return joinSide{Key: keyString(k), JSON: string(js)}, nil
		}).Name(s.Name+" ("+part+")").ID(opID(s, part)))
		return weir.KeyBy(prepared, func(v joinSide) string { return v.Key })
	}
	left := side(in, j.key, leftField)
	right := side(b.stream(j.with), j.withKey, rightField)
	decode := func(js string, schema *Schema) Record {
		r, err := decoder{}.Decode([]byte(js))
		if err != nil {
			// The join's own encoding of a record: it decodes.
			return Record{}
		}
		if schema != nil {
			_ = schema.coerce(r) // restores timestamps written as text
		}
		return r
	}
	return weir.IntervalJoin(left, right, j.lower, j.upper, func(a, c joinSide) Record {
		return Record{leftField: decode(a.JSON, j.leftSchema), rightField: decode(c.JSON, j.rightSchema)}
	}).Name(s.Name).ID(opID(s, ""))
}
