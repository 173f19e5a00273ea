package format

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
)

// JSONRecord is the JSON format of a Record: a JSON object decoded into a
// Record (nested objects as Records, arrays as []any, a number as an int64
// when its value is integral and fits, else a float64 — see Record), and
// a Record encoded as one line of JSON with its keys sorted. A message
// that is not one JSON object is an error.
func JSONRecord() Format[Record] { return jsonRecordFormat{} }

type jsonRecordFormat struct{}

func (jsonRecordFormat) Decode(data []byte) (Record, error) {
	r, err := decodeJSONRecord(data)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return r, nil
}

func (jsonRecordFormat) Encode(dst []byte, r Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return dst, fmt.Errorf("json: %w", err)
	}
	return append(dst, b...), nil
}

// UnmarshalJSON decodes a JSON object into r with JSONRecord's rules, so
// that a Record inside a struct decoded by JSON reads its numbers the
// same way.
func (r *Record) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		*r = nil
		return nil
	}
	v, err := decodeJSONRecord(data)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

func decodeJSONRecord(data []byte) (Record, error) {
	// The fast path reads numbers as float64; an integral one of 2^53 or
	// more may have lost digits, so such a message is read again with
	// its numbers as written.
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, errors.New("no JSON value, want an object")
		}
		return nil, jsonError(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s, want an object", jsonKind(v))
	}
	r, err := jsonObject(m)
	if errors.Is(err, errImprecise) {
		return decodeJSONNumbers(data)
	}
	return r, err
}

// decodeJSONNumbers decodes data keeping each number's digits.
func decodeJSONNumbers(data []byte) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s, want an object", jsonKind(v))
	}
	return jsonObject(m)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a bool"
	}
	return "a number"
}

// jsonObject turns m, as the decoder returns it, into a Record in place:
// nested maps become Records and numbers int64 or float64.
func jsonObject(m map[string]any) (Record, error) {
	for k, v := range m {
		switch v.(type) {
		case string, bool, nil:
			continue // as they are: no need to store them again
		}
		x, err := jsonValue(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		m[k] = x
	}
	return Record(m), nil
}

func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		return jsonObject(v)
	case []any:
		for i, x := range v {
			y, err := jsonValue(x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			v[i] = y
		}
		return v, nil
	case float64:
		return jsonFloat(v)
	case json.Number:
		return jsonNumber(string(v))
	}
	return v, nil
}

// jsonError says where data went wrong: the offset of a syntax error (the
// bytes read when it was found, as encoding/json counts), the path of a
// number too large for a float64.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w (after byte %d)", err, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && strings.HasPrefix(te.Value, "number") {
		return fmt.Errorf("%s at %s does not fit a float64", te.Value, te.Field)
	}
	return err
}

// errImprecise says a float64 may not hold every digit of its number.
var errImprecise = errors.New("an integer of 2^53 or more read as a float64")

// jsonFloat is x as an int64 when it is integral and fits.
func jsonFloat(x float64) (any, error) {
	if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
		return x, nil
	}
	if x <= -(1<<53) || x >= 1<<53 {
		return nil, errImprecise
	}
	return int64(x), nil
}

// jsonNumber is n as an int64 when it is integral and fits, else as a
// float64.
func jsonNumber(n string) (any, error) {
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		return i, nil
	}
	x, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return nil, fmt.Errorf("number %s does not fit a float64", n)
	}
	if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
		return int64(x), nil
	}
	return x, nil
}
