package reference

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// Col is one column of a Row: its name and its value.
type Col struct {
	Name  string
	Value any // int64, string, Decimal or nil
}

// Row is one result row: its columns in the order of the query's SELECT
// list.
type Row []Col

// Get returns the value of the column called name, and whether there is one.
func (r Row) Get(name string) (any, bool) {
	for _, c := range r {
		if c.Name == name {
			return c.Value, true
		}
	}
	return nil, false
}

// JSON returns r as a JSON object whose keys are the column names, in column
// order. Strings are written without HTML escaping; a Decimal is written as
// a JSON number with its exact digits; nil is null.
func (r Row) JSON() string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, c.Name)
		b.WriteByte(':')
		writeJSON(&b, c.Value)
	}
	b.WriteByte('}')
	return b.String()
}

func writeJSON(b *bytes.Buffer, v any) {
	if d, ok := v.(Decimal); ok {
		b.WriteString(string(d))
		return
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the value types above occur; all of them encode.
		fmt.Fprintf(b, "%q", err.Error())
		return
	}
	b.Truncate(b.Len() - 1) // Encode's newline
}

// String returns r.JSON().
func (r Row) String() string { return r.JSON() }

// Decimal is an exact SQL DECIMAL value in plain notation with all the
// digits of its scale, as Flink prints it: "908.000", "-0.908".
type Decimal string

// times0908 returns the exact DECIMAL(23, 3) value of the reference
// expression 0.908 * price: price·908 thousandths.
func times0908(price int64) Decimal {
	return decimal3(thousandths0908(price))
}

// thousandths0908 returns 0.908 * price in thousandths, exactly.
func thousandths0908(price int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(price), big.NewInt(908))
}

// decimal3 formats n thousandths as a Decimal with scale 3.
func decimal3(n *big.Int) Decimal {
	neg := n.Sign() < 0
	digits := new(big.Int).Abs(n).String()
	if len(digits) < 4 {
		digits = strings.Repeat("0", 4-len(digits)) + digits
	}
	s := digits[:len(digits)-3] + "." + digits[len(digits)-3:]
	if neg {
		s = "-" + s
	}
	return Decimal(s)
}

// dateOf returns DATE_FORMAT(ts, 'yyyy-MM-dd') in UTC.
func dateOf(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02") }

// hourMinuteOf returns DATE_FORMAT(ts, 'HH:mm') in UTC.
func hourMinuteOf(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04") }

// hourOf returns HOUR(ts) in UTC.
func hourOf(ms int64) int { return time.UnixMilli(ms).UTC().Hour() }

// The views of the reference (ddl_views.sql): the events of one kind, in
// stream order.

func bids(events []nexmark.Event) []nexmark.Bid {
	var out []nexmark.Bid
	for _, e := range events {
		if e.Kind == nexmark.KindBid {
			out = append(out, e.Bid)
		}
	}
	return out
}

func auctions(events []nexmark.Event) []nexmark.Auction {
	var out []nexmark.Auction
	for _, e := range events {
		if e.Kind == nexmark.KindAuction {
			out = append(out, e.Auction)
		}
	}
	return out
}

func persons(events []nexmark.Event) []nexmark.Person {
	var out []nexmark.Person
	for _, e := range events {
		if e.Kind == nexmark.KindPerson {
			out = append(out, e.Person)
		}
	}
	return out
}

// WatermarkDelay is the reference watermark's delay: dateTime − 4 s.
const WatermarkDelay = 4000

// CheckNotLate reports, as an error naming the first offending event,
// whether some event of events is late: at or behind the latest watermark
// the reference could have emitted before it (the greatest earlier dateTime
// − WatermarkDelay). The windowed queries assume no event is late; on an
// input with late events the reference result depends on when watermarks
// are emitted, and these functions do not model it.
func CheckNotLate(events []nexmark.Event) error {
	maxSeen := int64(0)
	for i := range events {
		t := events[i].DateTime()
		if i > 0 && t <= maxSeen-WatermarkDelay {
			return fmt.Errorf("reference: event %d at %d ms is late: an earlier event is at %d ms", i, t, maxSeen)
		}
		if i == 0 || t > maxSeen {
			maxSeen = t
		}
	}
	return nil
}
