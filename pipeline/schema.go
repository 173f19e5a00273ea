package pipeline

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr/types"

	"github.com/weirstream/weir/connectors/format"
)

// Type is the type of a field of a declared schema.
type Type uint8

// The field types. A field of any type may also be null (missing from a
// record, or null in it).
const (
	TypeAny       Type = iota // any value: not checked
	TypeString                // a string
	TypeInt                   // a 64-bit integer (int64)
	TypeFloat                 // a 64-bit float (float64)
	TypeBool                  // true or false
	TypeTimestamp             // a time.Time; read from RFC 3339 text or Unix milliseconds
)

var typeNames = []string{"any", "string", "int", "float", "bool", "timestamp"}

// String returns the type's name in a pipeline file.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

func parseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n == s {
			return Type(i), true
		}
	}
	return 0, false
}

// zero is a value of the Go type that holds t, for the type checker.
func (t Type) zero() any {
	switch t {
	case TypeString:
		return ""
	case TypeInt:
		return int64(0)
	case TypeFloat:
		return float64(0)
	case TypeBool:
		return false
	case TypeTimestamp:
		return time.Time{}
	}
	return nil
}

var timeType = reflect.TypeOf(time.Time{})

// typeOf is the field type of a value of Go type rt, as the type checker
// infers it for an expression.
func typeOf(rt reflect.Type) Type {
	if rt == nil {
		return TypeAny
	}
	switch rt.Kind() {
	case reflect.String:
		return TypeString
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return TypeInt
	case reflect.Float32, reflect.Float64:
		return TypeFloat
	case reflect.Bool:
		return TypeBool
	}
	if rt == timeType {
		return TypeTimestamp
	}
	return TypeAny
}

// Field is one field of a declared schema.
type Field struct {
	Name string
	Type Type
}

// Schema is the declared shape of a stream's records: its fields and
// their types. A stream without one is schemaless JSON: any field, any
// type, checked only when an expression runs.
type Schema struct {
	Fields []Field
}

// Field returns the field named name.
func (s *Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// String lists the fields: "id int, kind string".
func (s *Schema) String() string {
	parts := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		parts[i] = f.Name + " " + f.Type.String()
	}
	return strings.Join(parts, ", ")
}

func (s *Schema) equal(o *Schema) bool {
	if s == nil || o == nil {
		return s == o
	}
	return reflect.DeepEqual(s.Fields, o.Fields)
}

// env is the type checker's environment: each field with a value of its
// type.
func (s *Schema) env() map[string]any {
	m := make(map[string]any, len(s.Fields))
	for _, f := range s.Fields {
		m[f.Name] = f.Type.zero()
	}
	return m
}

// types is the type checker's environment as types: a field of type any
// is of unknown type (an object's fields may be read), the others the
// types of env, and vars as theirs.
func (s *Schema) types(vars map[string]any) types.Map {
	m := make(types.Map, len(s.Fields)+len(vars))
	for _, f := range s.Fields {
		if f.Type == TypeAny {
			m[f.Name] = types.Any
		} else {
			m[f.Name] = types.TypeOf(f.Type.zero())
		}
	}
	for k, v := range vars {
		m[k] = types.TypeOf(v)
	}
	return m
}

// coerce converts the declared fields of rec, in place, to their types: an
// integral float to an int, an int to a float, RFC 3339 text or Unix
// milliseconds to a timestamp. A value that cannot be converted is an
// error naming the field.
func (s *Schema) coerce(rec format.Record) error {
	for _, f := range s.Fields {
		v, ok := rec[f.Name]
		if !ok || v == nil {
			continue
		}
		c, err := convert(v, f.Type)
		if err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
		rec[f.Name] = c
	}
	return nil
}

func convert(v any, t Type) (any, error) {
	switch t {
	case TypeAny:
		return v, nil
	case TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case TypeInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				return int64(x), nil
			}
		case uint64:
			if x < 1<<63 {
				return int64(x), nil
			}
		}
	case TypeFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case TypeBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case TypeTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case int64:
			return time.UnixMilli(x).UTC(), nil
		case string:
			ts, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("%q is not an RFC 3339 timestamp", x)
			}
			return ts, nil
		}
	}
	return nil, fmt.Errorf("want %s, got %s", t, describeValue(v))
}

// describeValue names a value's type for an error, with a short value.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("int %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("bool %v", x)
	case format.Record:
		return "an object"
	case []any:
		return "an array"
	case time.Time:
		return "timestamp " + x.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T", v)
}
