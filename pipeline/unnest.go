package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
)

// unnestStep makes one record per element of an array field: a copy of
// the record without the array, with the element in field as.
type unnestStep struct {
	what      string
	path      []string // of the array field: "items", or "order.items"
	as        string
	keepEmpty bool
	at        Pos
}

func parseUnnest(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	u := &unnestStep{what: what, at: o.keyPos("field")}
	field := r.str(o, "field")
	if o.get("field") == nil {
		r.errorf(o.pos, "%s: missing field \"field\", the array to unnest (a name, or a path such as order.items)", what)
	} else if field == "" || slices.Contains(strings.Split(field, "."), "") {
		r.errorf(o.keyPos("field"), "%s: field: %q is not a field name or a dotted path", what, field)
		field = ""
	}
	u.as = r.str(o, "as")
	u.keepEmpty = r.boolean(o, "keep_empty")
	o.finish()
	if field == "" {
		return nil
	}
	u.path = strings.Split(field, ".")
	if u.as == "" {
		u.as = u.path[len(u.path)-1]
	}
	return u
}

func (u *unnestStep) check(c *checker, _ *Step, in *Schema) *Schema {
	if in == nil {
		return nil
	}
	f, ok := in.Field(u.path[0])
	switch {
	case !ok:
		c.r.errorf(u.at, "%s: field %q is not in the schema (%s)", u.what, u.path[0], in)
		return nil
	case f.Type != TypeAny:
		c.r.errorf(u.at, "%s: field %q is a %s, not an array (an array is a field of type any)", u.what, u.path[0], f.Type)
		return nil
	}
	out := &Schema{}
	for _, f := range in.Fields {
		if (len(u.path) == 1 && f.Name == u.path[0]) || f.Name == u.as {
			continue
		}
		out.Fields = append(out.Fields, f)
	}
	out.Fields = append(out.Fields, Field{Name: u.as, Type: TypeAny})
	return out
}

func (u *unnestStep) build(_ *builder, s *Step, in weir.Stream[Record]) weir.Stream[Record] {
	return policy(s, weir.FlatMap(in, func(r Record, out weir.Out[Record]) error {
		return u.unnest(r, out.Emit)
	}).Name(s.Name).ID(opID(s, "")))
}

// unnest emits a record per element of r's array. The input record is
// never changed.
func (u *unnestStep) unnest(r Record, emit func(Record)) error {
	v, ok := valueAt(r, u.path)
	var elems []any
	switch x := v.(type) {
	case nil:
	case []any:
		elems = x
	default:
		if ok {
			return fmt.Errorf("%s: field %s is %s, not an array", u.what, strings.Join(u.path, "."), describeValue(v))
		}
	}
	if len(elems) == 0 {
		if u.keepEmpty {
			rest := without(r, u.path)
			rest[u.as] = nil
			emit(rest)
		}
		return nil
	}
	rest := without(r, u.path)
	for _, e := range elems {
		rec := make(Record, len(rest)+1)
		for k, v := range rest {
			rec[k] = v
		}
		rec[u.as] = e
		emit(rec)
	}
	return nil
}

// valueAt returns the value at path in r; false when a part of the path
// is missing or not an object.
func valueAt(r Record, path []string) (any, bool) {
	var v any = r
	for _, p := range path {
		m, ok := v.(Record)
		if !ok {
			if mm, isMap := v.(map[string]any); isMap {
				m, ok = Record(mm), true
			}
		}
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// without copies r without the field at path, copying the objects on
// the path so that r is not changed.
func without(r Record, path []string) Record {
	out := make(Record, len(r))
	for k, v := range r {
		out[k] = v
	}
	if len(path) == 1 {
		delete(out, path[0])
		return out
	}
	inner, ok := out[path[0]].(Record)
	if !ok {
		return out
	}
	out[path[0]] = without(inner, path[1:])
	return out
}
