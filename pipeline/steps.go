package pipeline

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// Record is what flows between the steps of a pipeline: a JSON object's
// fields (see format.Record for the Go types of its values).
type Record = format.Record

// A step kind reads its own YAML node, checks its expressions against the
// schema of its input with positions, and adds its operators to the job.
// New kinds register themselves in stepKinds.
type stepKind struct {
	// parse reads the node under the step's kind field; what names it
	// in errors ("step \"x\": filter"). It returns nil after reporting an
	// error.
	parse func(r *reader, n ast.Node, what string) stepSpec
	// unsupported, when set, says why the kind is recognised but refused.
	unsupported string
}

// stepSpec is a parsed step.
type stepSpec interface {
	// check compiles the step's expressions against in (nil for
	// schemaless input) and returns the schema of what it emits.
	check(c *checker, s *Step, in *Schema) *Schema
	// build adds the step's operators after in and returns its output
	// stream (the zero Stream for a step that ends in outputs).
	build(b *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record]
}

// terminal is implemented by steps whose records go to outputs they name
// rather than to the next step.
type terminal interface {
	outputs() []string
}

var stepKinds = map[string]*stepKind{
	"filter":  {parse: parseFilter},
	"map":     {parse: parseMap},
	"project": {parse: parseProject},
	"route":   {parse: parseRoute},
	"script":  {parse: parseScript},
	"enrich":  {parse: parseEnrich},
	"window":  {parse: parseWindow},
	"join":    {parse: parseJoin},
	"dedupe":  {parse: parseDedupe},
	"unnest":  {parse: parseUnnest},
	"normal":  {parse: parseNormal},
}

// opID is the operator ID of a step's operator: derived from the step's
// name, never its position, so that a savepoint's state follows a step
// when others are added or reordered.
func opID(s *Step, part string) string {
	if part == "" {
		return "step/" + s.Name
	}
	return "step/" + s.Name + "/" + part
}

// policy applies the step's error policy, if it has its own, to the
// operator that makes st.
func policy[T any](s *Step, st weir.Stream[T]) weir.Stream[T] {
	if s.OnError != nil {
		return st.OnError(*s.OnError)
	}
	return st
}

// filter keeps the records its predicate is true for.
type filterStep struct{ pred *Expr }

func parseFilter(r *reader, n ast.Node, what string) stepSpec {
	e := r.expr(n, what)
	if e == nil {
		return nil
	}
	return &filterStep{pred: e}
}

func (f *filterStep) check(c *checker, _ *Step, in *Schema) *Schema {
	c.compile(f.pred, in, TypeBool, nil)
	return in
}

func (f *filterStep) build(_ *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	// A predicate that fails meets the error policy, which only a
	// function returning an error can reach; it marks a record to drop
	// as nil, and the filter after it counts what it drops.
	tested := policy(s, weir.TryMap(in, func(r Record) (Record, error) {
		ok, err := f.pred.test(r)
		if !ok || err != nil {
			return nil, err
		}
		return r, nil
	}).Name(s.Name).ID(opID(s, "")))
	return tested.Filter(func(r Record) bool { return r != nil }).Name(s.Name + " (drop)").ID(opID(s, "drop"))
}

// mapStep sets fields of each record to expressions, keeping the others;
// project builds a new record of the given fields only.
type mapStep struct {
	fields  []Assignment
	project bool
}

func parseMap(r *reader, n ast.Node, what string) stepSpec {
	as := r.assignments(n, what)
	if as == nil {
		return nil
	}
	return &mapStep{fields: as}
}

func parseProject(r *reader, n ast.Node, what string) stepSpec {
	as := r.assignments(n, what)
	if as == nil {
		return nil
	}
	return &mapStep{fields: as, project: true}
}

func (m *mapStep) check(c *checker, _ *Step, in *Schema) *Schema {
	return c.assign(m.fields, in, m.project)
}

func (m *mapStep) build(_ *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	return policy(s, weir.TryMap(in, func(r Record) (Record, error) {
		return apply(m.fields, r, m.project)
	}).Name(s.Name).ID(opID(s, "")))
}

// apply computes fields on r: into a copy of r, or into a new record when
// project is set. The input record is never changed: a stream may feed
// several steps.
func apply(fields []Assignment, r Record, project bool) (Record, error) {
	var out Record
	if project {
		out = make(Record, len(fields))
	} else {
		out = make(Record, len(r)+len(fields))
		for k, v := range r {
			out[k] = v
		}
	}
	for _, a := range fields {
		v, err := a.Expr.eval(r)
		if err != nil {
			return nil, err
		}
		out[a.Field] = normalize(v)
	}
	return out, nil
}

// normalize turns the values expressions produce into the types of a
// Record: ints into int64, maps into Records.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case map[string]any:
		r := make(Record, len(x))
		for k, e := range x {
			r[k] = normalize(e)
		}
		return r
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// routeStep sends each record to the output of the first case whose
// predicate it matches, projected as that case says; a record that
// matches none goes to the default output or is filtered.
type routeStep struct {
	cases      []*routeCase
	def        string
	defPos     Pos
	unmatched  *routeCase
	outputList []string
	// isolate runs each output of the pipeline as a job of its own
	// (isolate.go).
	isolate    bool
	isolatePos Pos
}

type routeCase struct {
	when    *Expr
	to      string
	toPos   Pos
	project []Assignment
}

func parseRoute(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	rs := &routeStep{def: r.str(o, "default"), defPos: o.keyPos("default")}
	rs.isolate, rs.isolatePos = r.boolean(o, "isolate"), o.keyPos("isolate")
	if cn := o.require("cases"); cn != nil {
		for i, en := range r.list(cn, what+": cases") {
			cw := fmt.Sprintf("%s: case %d", what, i+1)
			co := r.object(en, cw)
			if co == nil {
				continue
			}
			rc := &routeCase{to: r.str(co, "to"), toPos: co.keyPos("to")}
			if wn := co.require("when"); wn != nil {
				rc.when = r.expr(wn, cw+": when")
			}
			if rc.to == "" {
				r.errorf(co.pos, "%s: missing field \"to\", the output its records go to", cw)
			}
			if pn := co.get("project"); pn != nil {
				rc.project = r.assignments(pn, cw+": project")
			}
			co.finish()
			if rc.when != nil && rc.to != "" {
				rs.cases = append(rs.cases, rc)
			}
		}
	}
	o.finish()
	if len(rs.cases) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, rc := range rs.cases {
		if !seen[rc.to] {
			seen[rc.to] = true
			rs.outputList = append(rs.outputList, rc.to)
		}
	}
	if rs.def != "" {
		rs.unmatched = &routeCase{to: rs.def, toPos: rs.defPos}
		if !seen[rs.def] {
			rs.outputList = append(rs.outputList, rs.def)
		}
	}
	return rs
}

func (rs *routeStep) outputs() []string { return rs.outputList }

func (rs *routeStep) check(c *checker, s *Step, in *Schema) *Schema {
	for _, rc := range rs.cases {
		c.compile(rc.when, in, TypeBool, nil)
		out := in
		if rc.project != nil {
			out = c.assign(rc.project, in, true)
		}
		c.feed(rc.to, rc.toPos, s, out)
	}
	if rs.unmatched != nil {
		c.feed(rs.def, rs.defPos, s, in)
	}
	if rs.isolate {
		c.checkIsolate(s, rs.isolatePos)
	}
	return nil
}

// routed is a record and the index of the case it matched: len(cases)
// for the default, -1 for none.
type routed struct {
	rec  Record
	dest int
}

func (rs *routeStep) build(b *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	n := len(rs.cases)
	tagged := policy(s, weir.TryMap(in, func(r Record) (routed, error) {
		for i, rc := range rs.cases {
			ok, err := rc.when.test(r)
			if err != nil {
				return routed{}, err
			}
			if ok {
				return routed{r, i}, nil
			}
		}
		if rs.unmatched != nil {
			return routed{r, n}, nil
		}
		return routed{r, -1}, nil
	}).Name(s.Name).ID(opID(s, "")))
	matched := tagged.Filter(func(r routed) bool { return r.dest >= 0 }).Name(s.Name + " (unmatched)").ID(opID(s, "unmatched"))
	// Each output takes its records from the tagged stream, projected:
	// the tag was computed once.
	byOutput := map[string][]int{}
	for i, rc := range rs.cases {
		byOutput[rc.to] = append(byOutput[rc.to], i)
	}
	if rs.unmatched != nil {
		byOutput[rs.def] = append(byOutput[rs.def], n)
	}
	for _, out := range rs.outputList {
		if !b.writes(out) {
			continue // another job's output (isolate)
		}
		dests := byOutput[out]
		cases := rs.cases
		branch := policy(s, weir.FlatMap(matched, func(r routed, o weir.Out[Record]) error {
			for _, d := range dests {
				if d != r.dest {
					continue
				}
				if d < n && cases[d].project != nil {
					p, err := apply(cases[d].project, r.rec, true)
					if err != nil {
						return err
					}
					o.Emit(p)
					return nil
				}
				o.Emit(r.rec)
			}
			return nil
		}).Name(s.Name+" → "+out).ID(opID(s, "to/"+out)))
		b.send(out, branch)
	}
	return weir.Stream[Record]{}
}
