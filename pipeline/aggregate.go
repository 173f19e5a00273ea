package pipeline

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/axiomhq/hyperloglog"
	json "github.com/goccy/go-json"
	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// aggKind is a window aggregate's function.
type aggKind uint8

const (
	aggCount aggKind = iota
	aggSum
	aggMin
	aggMax
	aggAvg
	aggDistinct
	aggPercentile
	aggFirst
	aggLast
)

var aggNames = map[string]aggKind{
	"count": aggCount, "sum": aggSum, "min": aggMin, "max": aggMax, "avg": aggAvg,
	"distinct_count": aggDistinct, "first": aggFirst, "last": aggLast,
}

const aggList = "count, sum, min, max, avg, distinct_count, p50, p95, p99 (any pNN or pNN.N), first, last"

// PercentileAccuracy is the relative accuracy of the percentile aggregates
// (pNN): a DDSketch returns a value within 1% of the true percentile
// of the values it was given.
const PercentileAccuracy = 0.01

// DistinctPrecision is the precision of the HyperLogLog sketches behind
// distinct_count: 2^14 registers, a standard error of 1.04/√16384 ≈ 0.81%;
// up to a few thousand values the sketch is sparse and all but exact.
const DistinctPrecision = 14

// aggregate is one output field of a window step: a function of an
// expression over the window's records.
type aggregate struct {
	field string
	kind  aggKind
	q     float64 // the percentile's quantile, 0…1
	arg   *Expr   // nil for count without an argument
	src   string
	pos   Pos
}

var aggPattern = regexp.MustCompile(`(?s)^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\((.*)\))?\s*$`)
var pctPattern = regexp.MustCompile(`^p([0-9]+(?:\.[0-9]+)?)$`)

// aggregates reads the aggregates of a window step: a mapping of output
// fields to "count", "sum(expr)", "p95(expr)", ….
func (r *reader) aggregates(n ast.Node, what string) []*aggregate {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	var out []*aggregate
	for _, mv := range o.keys {
		name := mv.Key.GetToken().Value
		o.get(name)
		fw := what + ": " + name
		e := r.expr(mv.Value, fw)
		if e == nil {
			continue
		}
		a := r.parseAggregate(e, name, fw)
		if a != nil {
			out = append(out, a)
		}
	}
	if len(o.keys) == 0 {
		r.errorf(o.pos, "%s: want at least one field: aggregate (%s)", what, aggList)
	}
	return out
}

func (r *reader) parseAggregate(e *Expr, field, what string) *aggregate {
	m := aggPattern.FindStringSubmatchIndex(e.Source)
	if m == nil {
		r.errorf(e.pos, "%s: %q is not an aggregate; want one of %s, with its argument in parentheses: sum(amount)", what, e.Source, aggList)
		return nil
	}
	fn := e.Source[m[2]:m[3]]
	a := &aggregate{field: field, src: e.Source, pos: e.pos}
	fnPos := e.pos
	if e.oneLine {
		fnPos.Col += m[2]
	}
	if k, ok := aggNames[fn]; ok {
		a.kind = k
	} else if pm := pctPattern.FindStringSubmatch(fn); pm != nil {
		p, _ := strconv.ParseFloat(pm[1], 64)
		if p <= 0 || p >= 100 {
			r.errorf(fnPos, "%s: %s: a percentile is between p0 and p100, both excluded", what, fn)
			return nil
		}
		a.kind, a.q = aggPercentile, p/100
	} else {
		r.errorf(fnPos, "%s: unknown aggregate %q; want one of %s", what, fn, aggList)
		return nil
	}
	if m[4] >= 0 && strings.TrimSpace(e.Source[m[4]:m[5]]) != "" {
		arg := &Expr{Source: e.Source[m[4]:m[5]], pos: e.pos, oneLine: e.oneLine, what: what}
		if e.oneLine {
			arg.pos.Col += m[4]
		}
		a.arg = arg
	} else if a.kind != aggCount {
		r.errorf(fnPos, "%s: %s needs an argument: %s(field or expression)", what, fn, fn)
		return nil
	}
	return a
}

// check compiles the aggregate's argument and returns the type of its
// result.
func (a *aggregate) check(c *checker, in *Schema) (Type, bool) {
	if a.arg == nil {
		return TypeInt, true
	}
	if !c.compile(a.arg, in, TypeAny, nil) {
		return 0, false
	}
	t := a.arg.out
	bad := func(want string) (Type, bool) {
		c.r.errorf(a.arg.pos, "%s: %s of %s, which is a %s; want %s", a.arg.what, a.name(), a.arg.Source, t, want)
		return 0, false
	}
	switch a.kind {
	case aggCount, aggDistinct:
		return TypeInt, true
	case aggSum:
		switch t {
		case TypeInt, TypeFloat, TypeAny:
			return t, true
		}
		return bad("a number")
	case aggAvg, aggPercentile:
		switch t {
		case TypeInt, TypeFloat, TypeAny:
			return TypeFloat, true
		}
		return bad("a number")
	case aggMin, aggMax:
		if t == TypeBool {
			return bad("a number, a string or a timestamp")
		}
		return t, true
	}
	return t, true
}

func (a *aggregate) name() string {
	if a.kind == aggPercentile {
		return "p" + strconv.FormatFloat(a.q*100, 'f', -1, 64)
	}
	for n, k := range aggNames {
		if k == a.kind {
			return n
		}
	}
	return "?"
}

// scalar is a record's value in a form keyed state holds: a window's
// minimum, maximum, first or last value.
type scalar struct {
	K uint8 // one of the s… kinds
	I int64
	F float64
	S string
}

const (
	sNull uint8 = iota
	sInt
	sFloat
	sString
	sBool
	sTime
	sJSON
)

func toScalar(v any) scalar {
	switch x := v.(type) {
	case nil:
		return scalar{}
	case int64:
		return scalar{K: sInt, I: x}
	case int:
		return scalar{K: sInt, I: int64(x)}
	case float64:
		return scalar{K: sFloat, F: x}
	case string:
		return scalar{K: sString, S: x}
	case bool:
		if x {
			return scalar{K: sBool, I: 1}
		}
		return scalar{K: sBool}
	case time.Time:
		return scalar{K: sTime, I: x.UnixNano()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return scalar{K: sString, S: fmt.Sprint(v)}
	}
	return scalar{K: sJSON, S: string(b)}
}

func (s scalar) value() any {
	switch s.K {
	case sInt:
		return s.I
	case sFloat:
		return s.F
	case sString:
		return s.S
	case sBool:
		return s.I == 1
	case sTime:
		return time.Unix(0, s.I).UTC()
	case sJSON:
		r, err := format.JSONRecord().Decode([]byte(`{"v":` + s.S + `}`))
		if err != nil {
			return s.S
		}
		return r["v"]
	}
	return nil
}

// number returns a numeric scalar as a float64.
func (s scalar) number() (float64, bool) {
	switch s.K {
	case sInt:
		return float64(s.I), true
	case sFloat:
		return s.F, true
	}
	return 0, false
}

// less orders two non-null scalars: numbers by value, then strings, times
// and the rest by kind and text.
func (s scalar) less(o scalar) bool {
	if a, ok := s.number(); ok {
		if b, ok := o.number(); ok {
			return a < b
		}
	}
	if s.K != o.K {
		return s.K < o.K
	}
	switch s.K {
	case sString, sJSON:
		return s.S < o.S
	}
	return s.I < o.I
}

// cell is the accumulator of one aggregate in one window. Only the
// fields of its kind are used.
type cell struct {
	N     int64 // values added (non-null)
	I     int64 // integer sum
	F     float64
	Float bool // the sum holds a float: F carries it
	V     scalar
	Ts    int64  // the event time of V (first, last)
	Sk    []byte // a sketch's encoding (distinct_count, percentiles)
}

// winAcc is a window's accumulator: one cell per aggregate that has an
// argument, and N, the records added, for those that count records. Add
// and Merge return new ones, never changing the cells they are given: a
// checkpoint may be reading them. A window that only counts records has
// no cells, so adding a record to it allocates nothing.
//
// The cell of a count without argument counted records itself before N
// existed; state written so still restores, as a count is its cell's N
// plus N.
type winAcc struct {
	C []cell
	N int64
}

// winIn is a record made ready for a window: its key, encoded, the
// aggregates' arguments evaluated (Vals is nil when no aggregate has one),
// and its event time for first and last.
// Rec is the record itself, kept when late records go to an output.
type winIn struct {
	Key  string
	Vals []scalar
	Ts   int64
	Rec  Record
}

// aggregator folds winIns into winAccs: the AggregateFunction of a
// window step.
type aggregator struct {
	aggs []*aggregate
	args bool // some aggregate has an argument: Add changes cells
}

func newAggregator(aggs []*aggregate) aggregator {
	return aggregator{aggs: aggs, args: slices.ContainsFunc(aggs, func(a *aggregate) bool { return a.arg != nil })}
}

var _ weir.AggregateFunction[winIn, winAcc, winAcc] = aggregator{}

func (g aggregator) CreateAccumulator() winAcc { return winAcc{} }

func (g aggregator) Result(a winAcc) winAcc { return a }

func (g aggregator) Add(v winIn, acc winAcc) winAcc {
	acc.N++
	if !g.args {
		return acc
	}
	out := winAcc{C: make([]cell, len(g.aggs)), N: acc.N}
	copy(out.C, acc.C)
	for i, a := range g.aggs {
		c := &out.C[i]
		if a.arg == nil {
			continue
		}
		if i >= len(v.Vals) {
			continue // a record prepared before the aggregate was added
		}
		x := v.Vals[i]
		if x.K == sNull {
			continue
		}
		switch a.kind {
		case aggCount:
		case aggSum, aggAvg:
			c.addNumber(x)
		case aggMin:
			if c.N == 0 || x.less(c.V) {
				c.V = x
			}
		case aggMax:
			if c.N == 0 || c.V.less(x) {
				c.V = x
			}
		case aggFirst:
			if c.N == 0 || v.Ts < c.Ts {
				c.V, c.Ts = x, v.Ts
			}
		case aggLast:
			if c.N == 0 || v.Ts >= c.Ts {
				c.V, c.Ts = x, v.Ts
			}
		case aggDistinct:
			sk := hllOf(c.Sk)
			sk.Insert(distinctBytes(x))
			c.Sk, _ = sk.MarshalBinary()
		case aggPercentile:
			f, ok := x.number()
			if !ok {
				continue
			}
			sk := ddOf(c.Sk)
			if sk.Add(f) != nil {
				continue
			}
			c.Sk = ddBytes(sk)
		}
		c.N++
	}
	return out
}

func (c *cell) addNumber(x scalar) {
	switch x.K {
	case sInt:
		if !c.Float {
			c.I += x.I
			return
		}
		c.F += float64(x.I)
	case sFloat:
		if !c.Float {
			c.Float, c.F = true, float64(c.I)
		}
		c.F += x.F
	}
}

func (g aggregator) Merge(a, b winAcc) winAcc {
	if a.C == nil {
		b.N += a.N
		return b
	}
	if b.C == nil {
		a.N += b.N
		return a
	}
	out := winAcc{C: make([]cell, len(g.aggs)), N: a.N + b.N}
	for i, ag := range g.aggs {
		x, y := a.C[i], b.C[i]
		c := &out.C[i]
		*c = x
		c.N = x.N + y.N
		if ag.arg == nil || y.N == 0 {
			continue
		}
		if x.N == 0 {
			*c = y
			continue
		}
		switch ag.kind {
		case aggSum, aggAvg:
			if y.Float {
				c.addNumber(scalar{K: sFloat, F: y.F})
			} else {
				c.addNumber(scalar{K: sInt, I: y.I})
			}
		case aggMin:
			if y.V.less(x.V) {
				c.V = y.V
			}
		case aggMax:
			if x.V.less(y.V) {
				c.V = y.V
			}
		case aggFirst:
			if y.Ts < x.Ts {
				c.V, c.Ts = y.V, y.Ts
			}
		case aggLast:
			if y.Ts >= x.Ts {
				c.V, c.Ts = y.V, y.Ts
			}
		case aggDistinct:
			sk := hllOf(x.Sk)
			if sk.Merge(hllOf(y.Sk)) == nil {
				c.Sk, _ = sk.MarshalBinary()
			}
		case aggPercentile:
			sk := ddOf(x.Sk)
			if sk.MergeWith(ddOf(y.Sk)) == nil {
				c.Sk = ddBytes(sk)
			}
		}
	}
	return out
}

// values sets the aggregates' results on rec.
func (g aggregator) values(acc winAcc, rec Record) {
	for i, a := range g.aggs {
		var c cell
		if i < len(acc.C) {
			c = acc.C[i]
		}
		var v any
		switch a.kind {
		case aggCount:
			v = c.N
			if a.arg == nil {
				v = c.N + acc.N
			}
		case aggSum:
			switch {
			case c.N == 0:
			case c.Float:
				v = c.F
			default:
				v = c.I
			}
		case aggAvg:
			if c.N > 0 {
				if c.Float {
					v = c.F / float64(c.N)
				} else {
					v = float64(c.I) / float64(c.N)
				}
			}
		case aggMin, aggMax, aggFirst, aggLast:
			if c.N > 0 {
				v = c.V.value()
			}
		case aggDistinct:
			v = int64(0)
			if c.N > 0 {
				v = int64(hllOf(c.Sk).Estimate())
			}
		case aggPercentile:
			if c.N > 0 {
				if q, err := ddOf(c.Sk).GetValueAtQuantile(a.q); err == nil && !math.IsNaN(q) {
					v = q
				}
			}
		}
		rec[a.field] = v
	}
}

func hllOf(b []byte) *hyperloglog.Sketch {
	sk, _ := hyperloglog.NewSketch(DistinctPrecision, true)
	if len(b) > 0 {
		if err := sk.UnmarshalBinary(b); err != nil {
			sk, _ = hyperloglog.NewSketch(DistinctPrecision, true)
		}
	}
	return sk
}

// distinctBytes is what distinct_count hashes for a value: its kind and
// its bits, so that 1 and "1" are distinct and 1 and 1.0 are not.
func distinctBytes(x scalar) []byte {
	if f, ok := x.number(); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt([]byte{'n'}, int64(f), 10)
	}
	switch x.K {
	case sFloat:
		return strconv.AppendFloat([]byte{'n'}, x.F, 'g', -1, 64)
	case sString, sJSON:
		return append([]byte{'s'}, x.S...)
	}
	return strconv.AppendInt([]byte{'a' + x.K}, x.I, 10)
}

func newDD() *ddsketch.DDSketch {
	sk, err := ddsketch.NewDefaultDDSketch(PercentileAccuracy)
	if err != nil {
		panic(err) // a constant accuracy in range
	}
	return sk
}

func ddOf(b []byte) *ddsketch.DDSketch {
	sk := newDD()
	if len(b) > 0 {
		if err := sk.DecodeAndMergeWith(b); err != nil {
			return newDD()
		}
	}
	return sk
}

func ddBytes(sk *ddsketch.DDSketch) []byte {
	var b []byte
	sk.Encode(&b, true)
	return b
}

// keyString encodes a key's value as a comparable string that decodeKey
// turns back into the value: a window's, a dedupe's or a join's key.
func keyString(v any) string {
	s := toScalar(v)
	switch s.K {
	case sNull:
		return "n"
	case sString:
		return "s" + s.S
	case sInt:
		return "i" + strconv.FormatInt(s.I, 10)
	case sFloat:
		if s.F == math.Trunc(s.F) && math.Abs(s.F) < 1<<53 {
			// 2.0 and 2 are one key, as they are equal in expressions.
			return "i" + strconv.FormatInt(int64(s.F), 10)
		}
		return "f" + strconv.FormatFloat(s.F, 'g', -1, 64)
	case sBool:
		return "b" + strconv.FormatInt(s.I, 10)
	case sTime:
		return "t" + strconv.FormatInt(s.I, 10)
	}
	return "j" + s.S
}

func decodeKey(k string) any {
	if k == "" {
		return nil
	}
	rest := k[1:]
	switch k[0] {
	case 's':
		return rest
	case 'i':
		n, _ := strconv.ParseInt(rest, 10, 64)
		return n
	case 'f':
		f, _ := strconv.ParseFloat(rest, 64)
		return f
	case 'b':
		return rest == "1"
	case 't':
		n, _ := strconv.ParseInt(rest, 10, 64)
		return time.Unix(0, n).UTC()
	case 'j':
		return scalar{K: sJSON, S: rest}.value()
	}
	return nil
}

var errNoTime = errors.New("the record has no event time: give its input an event_time")
