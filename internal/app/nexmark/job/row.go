package job

import (
	"strconv"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// Row appends one result row to a buffer as a JSON object, a column at a
// time, in the order of the reference query's SELECT list. It writes what
// encoding/json writes with HTML escaping off, without reflection:
//
//	r := job.BeginRow(dst)
//	r.Int("auction", b.Auction)
//	r.Str("channel", b.Channel)
//	dst = r.End()
type Row struct {
	b []byte
	n int
}

// BeginRow starts a row at the end of dst.
func BeginRow(dst []byte) Row { return Row{b: append(dst, '{')} }

func (r *Row) key(name string) {
	if r.n > 0 {
		r.b = append(r.b, ',')
	}
	r.n++
	r.b = nexmark.AppendJSONString(r.b, name)
	r.b = append(r.b, ':')
}

// Int appends an integer column (BIGINT, INT, and timestamps in Unix
// milliseconds).
func (r *Row) Int(name string, v int64) {
	r.key(name)
	r.b = strconv.AppendInt(r.b, v, 10)
}

// Str appends a string column.
func (r *Row) Str(name, v string) {
	r.key(name)
	r.b = nexmark.AppendJSONString(r.b, v)
}

// NullStr appends a string column that is NULL when ok is false.
func (r *Row) NullStr(name, v string, ok bool) {
	if !ok {
		r.key(name)
		r.b = append(r.b, "null"...)
		return
	}
	r.Str(name, v)
}

// Decimal3 appends an exact DECIMAL column of scale 3 given in thousandths,
// as a JSON number with all three fraction digits ("908.000"), the way
// Flink prints a DECIMAL.
func (r *Row) Decimal3(name string, thousandths int64) {
	r.key(name)
	r.b = AppendDecimal3(r.b, thousandths)
}

// End closes the row and returns the buffer.
func (r *Row) End() []byte { return append(r.b, '}') }

// AppendDecimal3 appends n thousandths in plain notation with three fraction
// digits: 908000 → "908.000", -908 → "-0.908".
func AppendDecimal3(dst []byte, n int64) []byte {
	u := uint64(n)
	if n < 0 {
		dst = append(dst, '-')
		u = -u
	}
	dst = strconv.AppendUint(dst, u/1000, 10)
	f := u % 1000
	return append(dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// Times0908 returns 0.908 × price in thousandths, exactly: the DECIMAL the
// reference's currency conversion (q1, q14) computes.
func Times0908(price int64) int64 { return price * 908 }
