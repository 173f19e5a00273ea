package pipeline

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/weirstream/weir/connectors/format"
)

// maxRowFields bounds the fields of a schema whose records travel as
// rows: which fields a row holds is a bit mask.
const maxRowFields = 64

// row is a record of a declared schema as it travels between the steps
// that read fields by position (filter, map, project, window): the
// declared fields' values in the schema's order, no map. The steps
// compile their expressions against the schema at validate time, so a
// field is an index into vals, not a lookup by name.
//
// A row holds every field of its record: those the schema does not
// declare stay in the JSON text the row was read from (line), or in rest
// when it was made from a record, and come back when the row is made a
// record again (record) for a step or an output that reads records. A row
// is never changed once made; a step that sets fields makes a new one.
type row struct {
	schema *Schema
	vals   []any  // by the schema's field positions; nil for null or missing
	set    uint64 // bit i: field i is in the record (perhaps null)
	// line is the JSON object the row was decoded from, when it has
	// fields the schema does not declare or declared fields that no
	// expression names, which the decoder leaves there (see
	// rowDecoder.leaving); rest holds undeclared fields instead for a row
	// made from a record.
	line string
	rest Record
}

// positions maps each field's name to its position in a row.
func (s *Schema) positions() map[string]int {
	m := make(map[string]int, len(s.Fields))
	for i, f := range s.Fields {
		m[f.Name] = i
	}
	return m
}

// rowsFor reports whether records of s travel as rows.
func rowsFor(s *Schema) bool {
	return s != nil && len(s.Fields) > 0 && len(s.Fields) <= maxRowFields
}

// record makes the row a record: its undeclared fields, then its declared
// ones that it holds.
func (r row) record() Record {
	var out Record
	switch {
	case r.rest != nil:
		out = make(Record, len(r.rest)+len(r.vals))
		for k, v := range r.rest {
			out[k] = v
		}
	case r.line != "":
		// The line was read once already: decoding it again cannot fail.
		out, _ = format.JSONRecord().Decode([]byte(r.line))
		if out == nil {
			out = make(Record, len(r.vals))
		}
	default:
		out = make(Record, len(r.vals))
	}
	for i, f := range r.schema.Fields {
		if r.set&(1<<i) != 0 {
			out[f.Name] = r.vals[i]
		}
	}
	return out
}

// MarshalJSON writes the row as its record: what a dead letter shows.
func (r row) MarshalJSON() ([]byte, error) { return json.Marshal(r.record()) }

// rowOf makes a record, whose declared fields have their types, a row.
func rowOf(rec Record, s *Schema) row {
	r := row{schema: s, vals: make([]any, len(s.Fields))}
	for i, f := range s.Fields {
		if v, ok := rec[f.Name]; ok {
			r.vals[i] = v
			r.set |= 1 << i
		}
	}
	if len(rec) > bitCount(r.set) {
		r.rest = make(Record, len(rec)-bitCount(r.set))
		for k, v := range rec {
			if _, declared := s.Field(k); !declared {
				r.rest[k] = v
			}
		}
	}
	return r
}

func bitCount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// rowDecoder decodes a JSON object into a row of a declared schema. It
// reads the declared fields straight into their positions and skips the
// others, keeping the text for them; a message it does not read in one
// pass — an escaped string, an array, a number of 2^53 or more, a value
// of the wrong type, bad JSON — is decoded as the schemaless decoder and
// the schema's conversion do, which also give the errors.
type rowDecoder struct {
	schema *Schema
	pos    map[string]int
	// skip marks the fields that no expression names (see
	// leaving): a plain string of a string field or an integer of an int
	// field there is checked and left in the line, not copied into the
	// row, and a row made a record takes it from the line.
	skip uint64
}

func newRowDecoder(s *Schema) rowDecoder { return rowDecoder{schema: s, pos: s.positions()} }

// leaving returns d leaving in the line the string and int fields that
// read does not name. The values of fields left so are the ones the
// schemaless decoder gives for the line, which the schema's conversion
// would not change.
func (d rowDecoder) leaving(read func(name string) bool) rowDecoder {
	d.skip = 0
	for i, f := range d.schema.Fields {
		if (f.Type == TypeString || f.Type == TypeInt) && !read(f.Name) {
			d.skip |= 1 << i
		}
	}
	return d
}

func (d rowDecoder) Decode(data []byte) (row, error) {
	if r, ok := d.fast(data); ok {
		return r, nil
	}
	rec, err := decoder{d.schema}.Decode(data)
	if err != nil {
		return row{}, err
	}
	return rowOf(rec, d.schema), nil
}

// fast decodes data in one pass, or returns false for what it leaves to
// the schemaless decoder.
func (d rowDecoder) fast(data []byte) (row, bool) {
	line := string(data)
	s := jsonScan{s: line}
	s.space()
	if !s.byte('{') {
		return row{}, false
	}
	fields := d.schema.Fields
	r := row{schema: d.schema, vals: make([]any, len(fields))}
	extra, next := false, 0
	s.space()
	if !s.byte('}') {
		for {
			s.space()
			key, ok := s.plainString()
			if !ok {
				return row{}, false
			}
			s.space()
			if !s.byte(':') {
				return row{}, false
			}
			s.space()
			// Messages mostly list their fields in one order: the field
			// after the last one read is tried before the map.
			i, declared := next, next < len(fields) && fields[next].Name == key
			if !declared {
				i, declared = d.pos[key]
			}
			if !declared {
				if !s.skipValue(0) {
					return row{}, false
				}
				extra = true
			} else if d.skip&(1<<i) != 0 && s.leave(fields[i].Type) {
				// An earlier value of a repeated key is forgotten, as the
				// last one is the record's.
				r.vals[i] = nil
				r.set &^= 1 << i
				extra = true
				next = i + 1
			} else {
				v, ok := s.value()
				if !ok {
					return row{}, false
				}
				if v != nil && !hasType(v, fields[i].Type) {
					c, err := convert(v, fields[i].Type)
					if err != nil {
						return row{}, false
					}
					v = c
				}
				r.vals[i] = v
				r.set |= 1 << i
				next = i + 1
			}
			s.space()
			if s.byte(',') {
				continue
			}
			if s.byte('}') {
				break
			}
			return row{}, false
		}
	}
	s.space()
	if s.i != len(s.s) {
		return row{}, false
	}
	if extra {
		r.line = line
	}
	return r, true
}

// hasType reports whether v, as decoded, already has type t: converting
// it would only copy it.
func hasType(v any, t Type) bool {
	switch t {
	case TypeAny:
		return true
	case TypeString:
		_, ok := v.(string)
		return ok
	case TypeInt:
		_, ok := v.(int64)
		return ok
	case TypeFloat:
		_, ok := v.(float64)
		return ok
	case TypeBool:
		_, ok := v.(bool)
		return ok
	}
	return false
}

// jsonScan reads the JSON text s from i; each method returns false at
// anything it does not read, leaving the message to the full decoder.
type jsonScan struct {
	s string
	i int
}

func (s *jsonScan) space() {
	for s.i < len(s.s) {
		switch s.s[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScan) byte(c byte) bool {
	if s.i < len(s.s) && s.s[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a string without escapes, valid UTF-8.
func (s *jsonScan) plainString() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start, ascii := s.i, true
	for s.i < len(s.s) {
		c := s.s[s.i]
		switch {
		case c == '"':
			v := s.s[start:s.i]
			s.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		s.i++
	}
	return "", false
}

// value reads a string, a number, a bool, null or an object as the
// schemaless decoder gives them.
func (s *jsonScan) value() (any, bool) {
	if s.i >= len(s.s) {
		return nil, false
	}
	switch c := s.s[s.i]; {
	case c == '"':
		return s.plainString()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	case c == '{':
		start := s.i
		if !s.skipValue(0) {
			return nil, false
		}
		rec, err := format.JSONRecord().Decode([]byte(s.s[start:s.i]))
		if err != nil {
			return nil, false
		}
		return rec, true
	}
	return nil, false
}

// leave reads past a value of a field of type t that the row leaves in
// the line: a string without escapes for a string field, a number the
// schemaless decoder reads as an int64 for an int field. For anything
// else it reads nothing and returns false.
func (s *jsonScan) leave(t Type) bool {
	if s.i >= len(s.s) {
		return false
	}
	start := s.i
	switch c := s.s[s.i]; {
	case c == '"' && t == TypeString:
		if _, ok := s.plainString(); ok {
			return true
		}
	case (c == '-' || c >= '0' && c <= '9') && t == TypeInt:
		if _, isInt, ok := s.numberParts(); ok && isInt {
			return true
		}
	}
	s.i = start
	return false
}

func (s *jsonScan) literal(w string) bool {
	if len(s.s)-s.i >= len(w) && s.s[s.i:s.i+len(w)] == w {
		s.i += len(w)
		return true
	}
	return false
}

// number reads a JSON number: an int64 when it is written without a
// fraction or an exponent or is integral, else a float64, as the
// schemaless decoder reads it. A number of 2^53 or more is left to it.
func (s *jsonScan) number() (any, bool) {
	x, isInt, ok := s.numberParts()
	if !ok {
		return nil, false
	}
	if isInt {
		return int64(x), true
	}
	return x, true
}

// numberParts is number without boxing: an integer as a float64 (exact,
// as it is below 2^53) and true, or a float64 with a fraction and false.
func (s *jsonScan) numberParts() (float64, bool, bool) {
	start := s.i
	s.byte('-')
	digits := s.i
	if s.byte('0') {
		if s.i < len(s.s) && s.s[s.i] >= '0' && s.s[s.i] <= '9' {
			return 0, false, false // a leading zero
		}
	} else if !s.digits() {
		return 0, false, false
	}
	intEnd := s.i
	plain := true
	if s.byte('.') {
		plain = false
		if !s.digits() {
			return 0, false, false
		}
	}
	if s.byte('e') || s.byte('E') {
		plain = false
		if !s.byte('+') {
			s.byte('-')
		}
		if !s.digits() {
			return 0, false, false
		}
	}
	text := s.s[start:s.i]
	if plain && intEnd-digits <= 15 {
		// At most 15 digits: no overflow, and no strconv call.
		var n int64
		for _, c := range []byte(s.s[digits:intEnd]) {
			n = n*10 + int64(c-'0')
		}
		if digits > start {
			n = -n
		}
		return float64(n), true, true
	}
	x, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(x, 0) {
		return 0, false, false
	}
	if x != math.Trunc(x) {
		return x, false, true
	}
	if x <= -(1<<53) || x >= 1<<53 {
		return 0, false, false
	}
	return x, true, true
}

func (s *jsonScan) digits() bool {
	start := s.i
	for s.i < len(s.s) && s.s[s.i] >= '0' && s.s[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// maxSkipDepth bounds the nesting skipValue follows; deeper values are
// left to the full decoder.
const maxSkipDepth = 32

// skipValue reads past one JSON value, checking it.
func (s *jsonScan) skipValue(depth int) bool {
	if s.i >= len(s.s) || depth > maxSkipDepth {
		return false
	}
	switch c := s.s[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '-' || c >= '0' && c <= '9':
		_, _, ok := s.numberParts()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '{':
		s.i++
		s.space()
		if s.byte('}') {
			return true
		}
		for {
			s.space()
			if !s.skipString() {
				return false
			}
			s.space()
			if !s.byte(':') {
				return false
			}
			s.space()
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.byte(',') {
				continue
			}
			return s.byte('}')
		}
	case c == '[':
		s.i++
		s.space()
		if s.byte(']') {
			return true
		}
		for {
			s.space()
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.byte(',') {
				continue
			}
			return s.byte(']')
		}
	}
	return false
}

// skipString reads past a string, escapes included, checking them.
func (s *jsonScan) skipString() bool {
	if !s.byte('"') {
		return false
	}
	start, ascii := s.i, true
	for s.i < len(s.s) {
		c := s.s[s.i]
		switch {
		case c == '"':
			ok := ascii || utf8.ValidString(s.s[start:s.i])
			s.i++
			return ok
		case c == '\\':
			s.i++
			if s.i >= len(s.s) {
				return false
			}
			switch s.s[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(s.s)-s.i < 5 {
					return false
				}
				for _, h := range []byte(s.s[s.i+1 : s.i+5]) {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				s.i += 4
			default:
				return false
			}
		case c < 0x20:
			return false
		case c >= 0x80:
			ascii = false
		}
		s.i++
	}
	return false
}
