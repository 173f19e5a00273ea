package pipeline

import (
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir"
)

// timeOf returns the function that reads a record's event time as an
// input's event_time says: a field (or, when the text is not a plain field
// name, an expression) holding a timestamp, RFC 3339 text or Unix
// milliseconds. A record whose time cannot be read is an error naming the
// field, which meets the input's error policy.
func timeOf(et *EventTime) func(Record) (time.Time, error) {
	return func(r Record) (time.Time, error) {
		var v any
		if et.expr != nil {
			x, err := et.expr.eval(r)
			if err != nil {
				return time.Time{}, err
			}
			v = x
		} else {
			v = r[et.Field]
		}
		return fieldTime(et, v)
	}
}

// fieldTime reads the event time et's field holds, v.
func fieldTime(et *EventTime, v any) (time.Time, error) {
	t, err := readTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("event_time: field %q: %w", et.Field, err)
	}
	return t, nil
}

// readTime reads a time from a record's value: a timestamp, Unix
// milliseconds (an integer or a whole number) or RFC 3339 text.
func readTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return x, fmt.Errorf("the time is the zero time (year 1)")
		}
		return x, nil
	case int64:
		return time.UnixMilli(x), nil
	case int:
		return time.UnixMilli(int64(x)), nil
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<62 {
			return time.Time{}, fmt.Errorf("%v is not whole Unix milliseconds", x)
		}
		return time.UnixMilli(int64(x)), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", describeValue(v))
		}
		return t, nil
	case nil:
		return time.Time{}, fmt.Errorf("missing or null; want a timestamp, RFC 3339 text or Unix milliseconds")
	}
	return time.Time{}, fmt.Errorf("%s is not a time; want a timestamp, RFC 3339 text or Unix milliseconds", describeValue(v))
}

// assignTime gives the records of an input their event time, with its
// watermark: chained to the source through the input's own maps, it keeps
// one watermark per split, as the source option would, and a record whose
// time cannot be read meets the input's error policy instead of moving no
// watermark unnoticed.
func assignTime(in *Input, s weir.Stream[Record]) weir.Stream[Record] {
	if in.EventTime == nil {
		return s
	}
	s = s.AssignTime(timeOf(in.EventTime), in.EventTime.MaxOutOfOrderness).Name(in.Name + " (event time)").ID("input/" + in.Name + "/time")
	if in.OnError != nil {
		s = s.OnError(*in.OnError)
	}
	return s
}

// plainField reports whether s names a field rather than being an
// expression.
func plainField(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

// checkEventTime compiles an input's event_time when it is an expression
// (a path such as meta.ts, or a computation) and checks its type.
func (c *checker) checkEventTime(in *Input) {
	et := in.EventTime
	if et == nil || plainField(et.Field) {
		return
	}
	e := &Expr{Source: et.Field, pos: et.pos, oneLine: true, what: fmt.Sprintf("input %q: event_time: field", in.Name)}
	if !c.compile(e, c.schemas[in.Name], TypeAny, nil) {
		return
	}
	switch e.out {
	case TypeTimestamp, TypeInt, TypeString, TypeAny, TypeFloat:
		et.expr = e
	default:
		c.r.errorf(et.pos, "input %q: event_time: %q is a %s; want a timestamp, Unix milliseconds (int) or RFC 3339 text", in.Name, et.Field, e.out)
	}
}
