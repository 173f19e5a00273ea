package nexmark

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// DecodeJSON decodes one event as AppendJSON writes it — an object with
// exactly one of the keys person, auction and bid — into e. It decodes
// exactly as encoding/json would into the model's structs: the same Event
// for every input, and an error for the same inputs, with e left as it was
// when encoding/json fails and zeroed when the object does not hold exactly
// one event.
//
// A hand-written scanner decodes the lines AppendJSON writes, and any other
// object of the same shape, with its fields in any order, whitespace where
// JSON allows it and strings with any escapes or invalid UTF-8, without
// reflection and with one allocation for all of the event's strings (they
// share it, so holding any of them holds all). What it does not fully
// understand (unknown, duplicate or escaped keys, null, floats, numbers
// that do not fit, nesting, syntax errors) it leaves to encoding/json, whose
// error it wraps as "nexmark: decoding an event: …". BenchmarkDecode
// compares the two. It neither changes data nor keeps a reference to it.
func DecodeJSON(data []byte, e *Event) error {
	if decodeFast(data, e) {
		return nil
	}
	return decodeStd(data, e)
}

// decodeStd is DecodeJSON through encoding/json alone: the reference the
// fast path must agree with, and its fallback.
func decodeStd(data []byte, e *Event) error {
	var w struct {
		Person  *Person  `json:"person"`
		Auction *Auction `json:"auction"`
		Bid     *Bid     `json:"bid"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("nexmark: decoding an event: %w", err)
	}
	var n int
	*e = Event{}
	if w.Person != nil {
		n++
		e.Kind, e.Person = KindPerson, *w.Person
	}
	if w.Auction != nil {
		n++
		e.Kind, e.Auction = KindAuction, *w.Auction
	}
	if w.Bid != nil {
		n++
		e.Kind, e.Bid = KindBid, *w.Bid
	}
	if n != 1 {
		*e = Event{}
		return errors.New("nexmark: decoding an event: want an object with exactly one of the keys person, auction and bid")
	}
	return nil
}

// maxFields is the most fields of the three kinds (an auction's).
const maxFields = 10

// kindFields describes the fields of one kind, numbered in the order of
// the Go struct, which is the order AppendJSON writes them in.
type kindFields struct {
	// keys are the fields' keys as AppendJSON writes them, quoted and
	// followed by the colon: the scan expects each field to be the one after
	// the last and only looks a key up when it is not.
	keys []string
	// strings has bit n set if field n is a string; the others are int64s.
	strings uint16
	// field returns the number of the field named key, or -1.
	field func(key []byte) int
}

// kinds are the fields of each Kind.
var kinds = [...]kindFields{
	KindPerson: {
		keys:    []string{`"id":`, `"name":`, `"emailAddress":`, `"creditCard":`, `"city":`, `"state":`, `"dateTime":`, `"extra":`},
		strings: 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<7,
		field:   personField,
	},
	KindAuction: {
		keys:    []string{`"id":`, `"itemName":`, `"description":`, `"initialBid":`, `"reserve":`, `"dateTime":`, `"expires":`, `"seller":`, `"category":`, `"extra":`},
		strings: 1<<1 | 1<<2 | 1<<9,
		field:   auctionField,
	},
	KindBid: {
		keys:    []string{`"auction":`, `"bidder":`, `"price":`, `"channel":`, `"url":`, `"dateTime":`, `"extra":`},
		strings: 1<<3 | 1<<4 | 1<<6,
		field:   bidField,
	},
}

// personField returns the number of a person's field named key, or -1.
func personField(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "name":
		return 1
	case "emailAddress":
		return 2
	case "creditCard":
		return 3
	case "city":
		return 4
	case "state":
		return 5
	case "dateTime":
		return 6
	case "extra":
		return 7
	}
	return -1
}

// auctionField returns the number of an auction's field named key, or -1.
func auctionField(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "itemName":
		return 1
	case "description":
		return 2
	case "initialBid":
		return 3
	case "reserve":
		return 4
	case "dateTime":
		return 5
	case "expires":
		return 6
	case "seller":
		return 7
	case "category":
		return 8
	case "extra":
		return 9
	}
	return -1
}

// bidField returns the number of a bid's field named key, or -1.
func bidField(key []byte) int {
	switch string(key) {
	case "auction":
		return 0
	case "bidder":
		return 1
	case "price":
		return 2
	case "channel":
		return 3
	case "url":
		return 4
	case "dateTime":
		return 5
	case "extra":
		return 6
	}
	return -1
}

// rawString is a string value as it stands in the input: its bytes between
// the quotes, whether they need unescaping (escapes or invalid UTF-8), and
// how many bytes unescaping may add (2 for each invalid byte, which becomes
// the 3 of U+FFFD).
type rawString struct {
	start, end int
	escaped    bool
	grow       int
}

// fields collects an event's field values during the scan: ints, and the
// strings' positions, by field number.
type fields struct {
	seen uint16
	ints [maxFields]int64
	strs [maxFields]rawString
}

// decodeFast decodes data into e and reports true if data is an object with
// a single key person, auction or bid holding an object of that kind's
// fields, each at most once, with exact names without escapes, integers
// that fit in an int64 and strings; otherwise it reports false and leaves
// e alone. What it decodes, encoding/json decodes to the same Event.
func decodeFast(data []byte, e *Event) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	key, i, ok := scanKey(data, i)
	if !ok {
		return false
	}
	var kind Kind
	switch string(key) {
	case "person":
		kind = KindPerson
	case "auction":
		kind = KindAuction
	case "bid":
		kind = KindBid
	default:
		return false
	}
	k := &kinds[kind]
	if i >= len(data) || data[i] != '{' {
		return false
	}
	var f fields
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		n := 0 // the field expected next
		for {
			if n < len(k.keys) && hasPrefix(data[i:], k.keys[n]) {
				i = skipSpace(data, i+len(k.keys[n]))
			} else {
				key, i, ok = scanKey(data, i)
				if !ok {
					return false
				}
				if n = k.field(key); n < 0 {
					return false
				}
			}
			if f.seen&(1<<n) != 0 {
				return false
			}
			f.seen |= 1 << n
			if k.strings&(1<<n) != 0 {
				f.strs[n], i, ok = scanString(data, i)
			} else {
				f.ints[n], i, ok = scanInt(data, i)
			}
			if !ok {
				return false
			}
			n++
			i = skipSpace(data, i)
			if i >= len(data) {
				return false
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return false
			}
			i = skipSpace(data, i+1)
		}
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != '}' {
		return false
	}
	if skipSpace(data, i+1) != len(data) {
		return false
	}

	// All of the event's strings in one allocation.
	var s [maxFields]string
	if set := f.seen & k.strings; set != 0 {
		size := 0
		for n := range maxFields {
			if set&(1<<n) != 0 {
				size += f.strs[n].end - f.strs[n].start + f.strs[n].grow
			}
		}
		buf := make([]byte, 0, size)
		var ends [maxFields]int
		for n := range maxFields {
			if set&(1<<n) != 0 {
				r := f.strs[n]
				if r.escaped {
					buf = appendUnquoted(buf, data[r.start:r.end])
				} else {
					buf = append(buf, data[r.start:r.end]...)
				}
			}
			ends[n] = len(buf)
		}
		// buf is never written again: the string may share its bytes.
		all := unsafe.String(unsafe.SliceData(buf), len(buf))
		start := 0
		for n := range maxFields {
			s[n] = all[start:ends[n]]
			start = ends[n]
		}
	}

	switch kind {
	case KindPerson:
		*e = Event{Kind: KindPerson, Person: Person{
			ID:           f.ints[0],
			Name:         s[1],
			EmailAddress: s[2],
			CreditCard:   s[3],
			City:         s[4],
			State:        s[5],
			DateTime:     f.ints[6],
			Extra:        s[7],
		}}
	case KindAuction:
		*e = Event{Kind: KindAuction, Auction: Auction{
			ID:          f.ints[0],
			ItemName:    s[1],
			Description: s[2],
			InitialBid:  f.ints[3],
			Reserve:     f.ints[4],
			DateTime:    f.ints[5],
			Expires:     f.ints[6],
			Seller:      f.ints[7],
			Category:    f.ints[8],
			Extra:       s[9],
		}}
	default:
		*e = Event{Kind: KindBid, Bid: Bid{
			Auction:  f.ints[0],
			Bidder:   f.ints[1],
			Price:    f.ints[2],
			Channel:  s[3],
			URL:      s[4],
			DateTime: f.ints[5],
			Extra:    s[6],
		}}
	}
	return true
}

// hasPrefix reports whether data begins with prefix.
func hasPrefix(data []byte, prefix string) bool {
	return len(data) >= len(prefix) && string(data[:len(prefix)]) == prefix
}

// skipSpace returns the index of the first byte of data from i on that is
// not JSON whitespace, or len(data).
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanKey scans an object's key at data[i], a string of printable ASCII
// without escapes, and the colon after it, and returns the key's bytes and
// the index of the value.
func scanKey(data []byte, i int) (key []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, i, false
	}
	i++
	start := i
	for ; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			key = data[start:i]
			i = skipSpace(data, i+1)
			if i >= len(data) || data[i] != ':' {
				return nil, i, false
			}
			return key, skipSpace(data, i+1), true
		}
		if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			return nil, i, false
		}
	}
	return nil, i, false
}

// scanInt scans a JSON number at data[i] that is an integer in the range
// of an int64 (-?(0|[1-9][0-9]*)), as strconv.ParseInt would parse it, and
// returns it and the index after it. Fractions and exponents stop the scan
// at '.', 'e' or 'E', which the caller does not accept after a value.
func scanInt(data []byte, i int) (v int64, next int, ok bool) {
	neg := i < len(data) && data[i] == '-'
	if neg {
		i++
	}
	start := i
	var u uint64
	for ; i < len(data); i++ {
		d := data[i] - '0'
		if d > 9 {
			break
		}
		u = u*10 + uint64(d)
	}
	// Up to 19 digits cannot overflow a uint64; 20 or more without a
	// leading zero overflow an int64.
	switch n := i - start; {
	case n == 0 || n > 19:
		return 0, i, false
	case n > 1 && data[start] == '0':
		return 0, i, false
	}
	if neg {
		if u > 1<<63 {
			return 0, i, false
		}
		return -int64(u), i, true
	}
	if u > math.MaxInt64 {
		return 0, i, false
	}
	return int64(u), i, true
}

// scanString scans a JSON string at data[i] and returns where its contents
// are and the index after its closing quote. It checks what a JSON parser
// checks: no control characters, and escapes one of \" \\ \/ \b \f \n \r
// \t and \u with four hex digits.
func scanString(data []byte, i int) (r rawString, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return r, i, false
	}
	i++
	r.start = i
	for {
		// Eight bytes at a time while none needs a look.
		for i+8 <= len(data) && plain8(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		if i >= len(data) {
			return r, i, false
		}
		switch c := data[i]; {
		case c == '"':
			r.end = i
			return r, i + 1, true
		case c == '\\':
			r.escaped = true
			if i+1 >= len(data) {
				return r, i, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || hex4(data[i+2:i+6]) < 0 {
					return r, i, false
				}
				i += 6
			default:
				return r, i, false
			}
		case c < 0x20:
			return r, i, false
		case c < utf8.RuneSelf:
			i++
		default:
			rr, size := utf8.DecodeRune(data[i:])
			if rr == utf8.RuneError && size == 1 {
				r.escaped = true
				r.grow += 2
			}
			i += size
		}
	}
}

// hex4 returns the value of the four hex digits h, or -1.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUnquoted appends the string whose contents s scanString checked,
// unescaped as encoding/json unescapes it: a \u escape of a surrogate
// followed by one of its other half is the pair's rune, any other
// surrogate is U+FFFD, and so is each byte of invalid UTF-8.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch c = s[i+1]; c {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(s[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						rr1 = hex4(s[i+2 : i+6])
					}
					if d := utf16.DecodeRune(rr, rr1); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						i += 6
						continue
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, c)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			rr, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, rr)
			i += size
		}
	}
	return dst
}
