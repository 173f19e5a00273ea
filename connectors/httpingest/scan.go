package httpingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The collector checks events with encoding/json's Valid, which allocates
// nothing, and then walks the valid bytes with the small scanner below to
// find array elements and top-level fields without decoding them.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index after the JSON value starting at b[i]. On
// valid JSON it is exact; on a cut or broken value it stops at the end of
// b or at a delimiter, without failing.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != ']' && b[i] != '}' && b[i] != ':' {
			i++
		}
		return i
	}
}

// skipString returns the index after the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// arrayElements calls fn with the start and end of each element of the
// JSON array b, which must be valid, and stops when fn returns false.
func arrayElements(b []byte, fn func(start, end int) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return
	}
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		end := skipValue(b, i)
		if end == i || !fn(i, end) {
			return
		}
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}

// elementAt returns the index of the element of the JSON array b that
// holds byte off, where b is valid up to off (the offset of a syntax
// error): 0 for the first element.
func elementAt(b []byte, off int) int {
	n := 0
	if off > len(b) {
		off = len(b)
	}
	arrayElements(b[:off], func(start, end int) bool {
		if end >= off {
			return false
		}
		n++
		return true
	})
	return n
}

var (
	errNoField   = errors.New("has no field")
	errFieldType = errors.New("is not a string or a number")
)

// fieldKey returns the partition key of the JSON value b, which must be
// valid: the value of its top-level field name — a string's text, or a
// number's or a boolean's JSON. tmp may hold an unescaped string.
func fieldKey(b []byte, name string, tmp []byte) ([]byte, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		kend := skipString(b, i)
		key := b[i+1 : kend-1]
		i = skipSpace(b, kend)
		i = skipSpace(b, i+1) // ':'
		vend := skipValue(b, i)
		if keyEquals(key, name) {
			v := b[i:vend]
			switch {
			case len(v) == 0:
			case v[0] == '"':
				s := v[1 : len(v)-1]
				if bytes.IndexByte(s, '\\') < 0 {
					return s, nil
				}
				var str string
				if err := json.Unmarshal(v, &str); err != nil {
					return nil, err
				}
				return append(tmp[:0], str...), nil
			case v[0] == '{' || v[0] == '[' || v[0] == 'n':
			default:
				return v, nil
			}
			return nil, fmt.Errorf("field %q %w (it is %s)", name, errFieldType, kind(v))
		}
		i = skipSpace(b, vend)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil, fmt.Errorf("%w %q", errNoField, name)
}

var errNotObject = errors.New("is not a JSON object")

func kind(v []byte) string {
	switch {
	case len(v) == 0:
		return "empty"
	case v[0] == '{':
		return "an object"
	case v[0] == '[':
		return "an array"
	default:
		return "null"
	}
}

// keyEquals compares a raw JSON key (between its quotes) with name; keys
// with escapes are unescaped first.
func keyEquals(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	return json.Unmarshal(q, &s) == nil && s == name
}

// syntaxError describes why b is not valid JSON, with the byte offset of
// the problem when encoding/json knows it.
func syntaxError(b []byte) (string, int) {
	var raw json.RawMessage
	err := json.Unmarshal(b, &raw)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset), int(se.Offset)
	}
	if err != nil {
		return err.Error(), len(b)
	}
	return "not valid JSON", len(b)
}
