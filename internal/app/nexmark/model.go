package nexmark

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Person is a new person registering: the reference's Person, with the
// dateTime in Unix milliseconds.
type Person struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	EmailAddress string `json:"emailAddress"`
	CreditCard   string `json:"creditCard"`
	City         string `json:"city"`
	State        string `json:"state"`
	DateTime     int64  `json:"dateTime"`
	Extra        string `json:"extra"`
}

// Auction is a new auction opening: the reference's Auction, with the
// dateTime and expires in Unix milliseconds. Prices are in cents.
type Auction struct {
	ID          int64  `json:"id"`
	ItemName    string `json:"itemName"`
	Description string `json:"description"`
	InitialBid  int64  `json:"initialBid"`
	Reserve     int64  `json:"reserve"`
	DateTime    int64  `json:"dateTime"`
	Expires     int64  `json:"expires"`
	Seller      int64  `json:"seller"`
	Category    int64  `json:"category"`
	Extra       string `json:"extra"`
}

// Bid is a bid on an auction: the reference's Bid, with the dateTime in Unix
// milliseconds. The price is in cents.
type Bid struct {
	Auction  int64  `json:"auction"`
	Bidder   int64  `json:"bidder"`
	Price    int64  `json:"price"`
	Channel  string `json:"channel"`
	URL      string `json:"url"`
	DateTime int64  `json:"dateTime"`
	Extra    string `json:"extra"`
}

// Kind says which of an Event's fields holds the event. Its values are the
// reference's event_type column: 0 person, 1 auction, 2 bid.
type Kind uint8

// The kinds of events.
const (
	KindPerson Kind = iota
	KindAuction
	KindBid
)

// String returns the kind's key in JSON: person, auction or bid.
func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one event of the stream: Kind says whether Person, Auction or Bid
// holds it, and the other two are zero. It is a plain value, so generating
// one allocates nothing beyond the strings it holds.
type Event struct {
	Kind    Kind
	Person  Person
	Auction Auction
	Bid     Bid
}

// DateTime returns the event's time in Unix milliseconds.
func (e *Event) DateTime() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	default:
		return e.Bid.DateTime
	}
}

// AppendJSON appends e as one JSON object with a single key — person,
// auction or bid — whose value carries the model's field names, in the
// order of the Go struct's fields. It writes the bytes encoding/json writes
// with HTML escaping off (an Encoder with SetEscapeHTML(false)) minus the
// newline, but without reflection or allocation: BenchmarkEncode measures it
// at about 3.5 times the speed. e.Kind must be one of the three kinds
// (MarshalJSON checks it; AppendJSON writes any other as a bid).
func AppendJSON(dst []byte, e *Event) []byte {
	switch e.Kind {
	case KindPerson:
		p := &e.Person
		dst = append(dst, `{"person":{"id":`...)
		dst = strconv.AppendInt(dst, p.ID, 10)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, p.Name)
		dst = append(dst, `,"emailAddress":`...)
		dst = appendString(dst, p.EmailAddress)
		dst = append(dst, `,"creditCard":`...)
		dst = appendString(dst, p.CreditCard)
		dst = append(dst, `,"city":`...)
		dst = appendString(dst, p.City)
		dst = append(dst, `,"state":`...)
		dst = appendString(dst, p.State)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, p.DateTime, 10)
		dst = append(dst, `,"extra":`...)
		dst = appendString(dst, p.Extra)
	case KindAuction:
		a := &e.Auction
		dst = append(dst, `{"auction":{"id":`...)
		dst = strconv.AppendInt(dst, a.ID, 10)
		dst = append(dst, `,"itemName":`...)
		dst = appendString(dst, a.ItemName)
		dst = append(dst, `,"description":`...)
		dst = appendString(dst, a.Description)
		dst = append(dst, `,"initialBid":`...)
		dst = strconv.AppendInt(dst, a.InitialBid, 10)
		dst = append(dst, `,"reserve":`...)
		dst = strconv.AppendInt(dst, a.Reserve, 10)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, a.DateTime, 10)
		dst = append(dst, `,"expires":`...)
		dst = strconv.AppendInt(dst, a.Expires, 10)
		dst = append(dst, `,"seller":`...)
		dst = strconv.AppendInt(dst, a.Seller, 10)
		dst = append(dst, `,"category":`...)
		dst = strconv.AppendInt(dst, a.Category, 10)
		dst = append(dst, `,"extra":`...)
		dst = appendString(dst, a.Extra)
	default:
		b := &e.Bid
		dst = append(dst, `{"bid":{"auction":`...)
		dst = strconv.AppendInt(dst, b.Auction, 10)
		dst = append(dst, `,"bidder":`...)
		dst = strconv.AppendInt(dst, b.Bidder, 10)
		dst = append(dst, `,"price":`...)
		dst = strconv.AppendInt(dst, b.Price, 10)
		dst = append(dst, `,"channel":`...)
		dst = appendString(dst, b.Channel)
		dst = append(dst, `,"url":`...)
		dst = appendString(dst, b.URL)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, b.DateTime, 10)
		dst = append(dst, `,"extra":`...)
		dst = appendString(dst, b.Extra)
	}
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaped as AppendJSON
// escapes the events' strings.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

// appendString appends s as a JSON string, escaped as encoding/json escapes
// it with HTML escaping off: quotes, backslashes and control characters,
// U+2028 and U+2029, and invalid UTF-8 as U+FFFD. Generated strings are
// plain ASCII and need none of it; the loop finds that in one pass.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	i := 0
	// Eight bytes at a time while none needs a look.
	for ; i+8 <= len(s) && plain8(load64(s[i:])); i += 8 {
	}
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load64 reads the first 8 bytes of s, little-endian (one load once
// compiled).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plain8 reports whether none of the 8 bytes in w is below 0x20, a quote, a
// backslash or above 0x7f, with the bit tricks of "Bit Twiddling Hacks"
// (determine if a word has a byte less than n / equal to n). The tests are
// exact once bytes above 0x7f are ruled out.
func plain8(w uint64) bool {
	hasLess := (w - 0x20*ones) &^ w
	quote := w ^ '"'*ones
	backslash := w ^ '\\'*ones
	hasQuote := (quote - ones) &^ quote
	hasBackslash := (backslash - ones) &^ backslash
	return (w|hasLess|hasQuote|hasBackslash)&highs == 0
}

// MarshalJSON encodes e as AppendJSON does.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.Kind > KindBid {
		return nil, fmt.Errorf("nexmark: cannot encode an event of %v", e.Kind)
	}
	return AppendJSON(nil, &e), nil
}

// UnmarshalJSON decodes what AppendJSON writes: an object with exactly one
// of the keys person, auction and bid. It is DecodeJSON, which decodes as
// encoding/json would, only faster.
func (e *Event) UnmarshalJSON(data []byte) error { return DecodeJSON(data, e) }
