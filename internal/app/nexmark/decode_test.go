package nexmark

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// previous is what a decode starts from, so that the tests see whether a
// failed decode leaves the event alone as encoding/json does.
var previous = Event{Kind: KindAuction, Auction: Auction{ID: 42, ItemName: "previous", Extra: "x"}}

// checkDecode checks that DecodeJSON agrees with encoding/json (decodeStd)
// on data — the same Event, the same error or none — and that the fast
// path, when it takes data, decodes the same without an error and leaves
// the event alone when it does not. It returns whether the fast path took
// data.
func checkDecode(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	want, got, gotFast := previous, previous, previous
	wantErr := decodeStd(data, &want)
	gotErr := DecodeJSON(data, &got)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("DecodeJSON(%q): %v; encoding/json: %v", data, gotErr, wantErr)
	}
	if got != want {
		t.Fatalf("DecodeJSON(%q):\n got %+v\nwant %+v (encoding/json)", data, got, want)
	}
	fast = decodeFast(data, &gotFast)
	switch {
	case fast && wantErr != nil:
		t.Fatalf("decodeFast(%q) succeeded; encoding/json: %v", data, wantErr)
	case fast && gotFast != want:
		t.Fatalf("decodeFast(%q):\n got %+v\nwant %+v (encoding/json)", data, gotFast, want)
	case !fast && gotFast != previous:
		t.Fatalf("decodeFast(%q) failed but changed the event to %+v", data, gotFast)
	}
	return fast
}

// decodeCases are edge cases of the format, and whether the fast path
// decodes them (or leaves them to encoding/json). Both ways, DecodeJSON
// must agree with encoding/json.
var decodeCases = []struct {
	in   string
	fast bool
}{
	// The shape, with and without whitespace, fields in any order, some
	// missing.
	{`{"bid":{"auction":1000,"bidder":1001,"price":123,"channel":"Google","url":"https://x/y","dateTime":1436918400000,"extra":"e"}}`, true},
	{`{"person":{"id":1000,"name":"Saul Smith","emailAddress":"a@b.com","creditCard":"1 2 3 4","city":"Boise","state":"ID","dateTime":1,"extra":""}}`, true},
	{`{"auction":{"id":1,"itemName":"i","description":"d","initialBid":2,"reserve":3,"dateTime":4,"expires":5,"seller":6,"category":7,"extra":"x"}}`, true},
	{`{"bid":{}}`, true},
	{`{"person":{}}`, true},
	{`{"auction":{}}`, true},
	{` {"bid":{}} `, true},
	{" \t\r\n{ \t\r\n\"bid\" \t\r\n: \t\r\n{ \t\r\n\"price\" \t\r\n: \t\r\n1 \t\r\n, \"url\" : \"u\" \t\r\n} \t\r\n} \t\r\n", true},
	{`{"bid":{"extra":"e","dateTime":5,"price":3,"url":"u","bidder":2,"channel":"c","auction":1}}`, true},
	{`{"auction":{"extra":"x","id":1}}`, true},
	{`{"person":{"state":"CA","id":7}}`, true},
	{`{"bid":{"channel":"","url":"","extra":""}}`, true},
	{`{"bid":{"price":1}}` + "\n", true},
	{`{"bid":{"price":1}}` + "\r\n", true},

	// Integers.
	{`{"bid":{"price":0}}`, true},
	{`{"bid":{"price":-0}}`, true},
	{`{"bid":{"price":-1}}`, true},
	{`{"bid":{"price":9223372036854775807}}`, true},
	{`{"bid":{"price":-9223372036854775808}}`, true},
	{`{"bid":{"price":1000000000000000000}}`, true},
	{`{"bid":{"price":9223372036854775808}}`, false},
	{`{"bid":{"price":-9223372036854775809}}`, false},
	{`{"bid":{"price":18446744073709551615}}`, false},
	{`{"bid":{"price":18446744073709551616}}`, false},
	{`{"bid":{"price":99999999999999999999}}`, false},
	{`{"bid":{"price":00}}`, false},
	{`{"bid":{"price":01}}`, false},
	{`{"bid":{"price":-01}}`, false},
	{`{"bid":{"price":-}}`, false},
	{`{"bid":{"price":--1}}`, false},
	{`{"bid":{"price":+1}}`, false},
	{`{"bid":{"price":1.0}}`, false},
	{`{"bid":{"price":1.5}}`, false},
	{`{"bid":{"price":1e2}}`, false},
	{`{"bid":{"price":1E2}}`, false},
	{`{"bid":{"price":1e}}`, false},
	{`{"bid":{"price":.5}}`, false},
	{`{"bid":{"price":0x10}}`, false},
	{`{"bid":{"price":1 2}}`, false},
	{`{"bid":{"price":"12"}}`, false},
	{`{"bid":{"price":true}}`, false},
	{`{"bid":{"price":null}}`, false},
	{`{"bid":{"price":[]}}`, false},
	{`{"bid":{"price":{}}}`, false},
	{`{"bid":{"price":}}`, false},

	// Strings: escapes.
	{`{"bid":{"channel":"\"\\\/\b\f\n\r\t"}}`, true},
	{`{"bid":{"channel":"a\u0041\u00e9\u20AC\u20ac\uFFFF\uFFFE\u0000\u001f z"}}`, true},
	{`{"bid":{"channel":"\u2028\u2029"}}`, true},
	{`{"bid":{"channel":"\uD83D\uDE00"}}`, true},
	{`{"bid":{"channel":"\ud83d\ude00\uDBFF\uDFFF\uD800\uDC00"}}`, true},
	{`{"bid":{"channel":"\uD800"}}`, true},
	{`{"bid":{"channel":"\uDC00"}}`, true},
	{`{"bid":{"channel":"\uDE00\uD83D"}}`, true},
	{`{"bid":{"channel":"\uD800\uD800\uDC00"}}`, true},
	{`{"bid":{"channel":"\uD800\u0041"}}`, true},
	{`{"bid":{"channel":"\uD800\n"}}`, true},
	{`{"bid":{"channel":"\uD800\\uDC00"}}`, true},
	{`{"bid":{"channel":"\uD800x\uDC00"}}`, true},
	{`{"bid":{"channel":"\uD800\uDC0"}}`, false},
	{`{"bid":{"channel":"\uD800\uDC0x"}}`, false},
	{`{"bid":{"channel":"\uD800\u"}}`, false},
	{`{"bid":{"channel":"\u12"}}`, false},
	{`{"bid":{"channel":"\u12G4"}}`, false},
	{`{"bid":{"channel":"\U0041"}}`, false},
	{`{"bid":{"channel":"\x41"}}`, false},
	{`{"bid":{"channel":"\'"}}`, false},
	{`{"bid":{"channel":"\a"}}`, false},
	{`{"bid":{"channel":"\"}}`, false},
	{`{"bid":{"channel":"abc\`, false},
	{`{"bid":{"channel":"abc`, false},
	{`{"bid":{"channel":"abcdefghijklmnopqrstuvwxyz`, false},

	// Strings: raw bytes.
	{`{"bid":{"channel":"é ü 日本 😀 ` + "\u2028\x7f" + `"}}`, true},
	{"{\"bid\":{\"channel\":\"\xff\"}}", true},
	{"{\"bid\":{\"channel\":\"bad \xff\xfe utf-8 \xe2\x80\"}}", true},
	{"{\"bid\":{\"channel\":\"\xe2\x82\"}}", true},
	{"{\"bid\":{\"channel\":\"\xed\xa0\x80\"}}", true},
	{"{\"bid\":{\"channel\":\"\xc0\xaf\"}}", true},
	{"{\"bid\":{\"channel\":\"\xf4\x90\x80\x80\"}}", true},
	{"{\"bid\":{\"channel\":\"\xf0\x9f\x98\"}}", true},
	{"{\"bid\":{\"channel\":\"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\",\"url\":\"\xff\",\"extra\":\"\x80\"}}", true},
	{"{\"bid\":{\"channel\":\"\xff\\n\\u00e9\xff\"}}", true},
	{"{\"bid\":{\"channel\":\"a\x00\"}}", false},
	{"{\"bid\":{\"channel\":\"a\tb\"}}", false},
	{"{\"bid\":{\"channel\":\"a\nb\"}}", false},
	{"{\"bid\":{\"channel\":\"0123456789abcdef\x1f\"}}", false},
	{"{\"bid\":{\"channel\":\"0123456789abcdef\\\"0123456789abcdef\"}}", true},
	{"{\"bid\":{\"channel\":\"0123456789abcdef\xff0123456789abcdef\"}}", true},
	{`{"bid":{"channel":12}}`, false},
	{`{"bid":{"channel":null}}`, false},
	{`{"bid":{"channel":"a" "b"}}`, false},
	{`{"bid":{"channel":"a"}"}}`, false},

	// Keys.
	{`{"bid":{"Price":1}}`, false},
	{`{"bid":{"PRICE":1}}`, false},
	{`{"bid":{"pr\u0069ce":1}}`, false},
	{`{"bid":{"price ":1}}`, false},
	{`{"bid":{"unknown":1}}`, false},
	{`{"bid":{"unknown":{"a":[1,2,{}]}}}`, false},
	{`{"bid":{"id":1}}`, false},
	{`{"person":{"price":1}}`, false},
	{"{\"bid\":{\"pr\xffice\":1}}", false},
	{"{\"bid\":{\"pr\u212Aice\":1}}", false},
	{`{"bid":{"price":1,"price":2}}`, false},
	{`{"bid":{"price":1,"Price":2}}`, false},
	{`{"bid":{"url":"a","url":"b"}}`, false},
	{`{"bid":{"price" 1}}`, false},
	{`{"bid":{"price"::1}}`, false},
	{`{"bid":{price:1}}`, false},
	{`{"bid":{'price':1}}`, false},

	// The wrapper.
	{``, false},
	{` `, false},
	{`null`, false},
	{`true`, false},
	{`1`, false},
	{`""`, false},
	{`[]`, false},
	{`[1]`, false},
	{`{}`, false},
	{`{"bid":null}`, false},
	{`{"bid":[]}`, false},
	{`{"bid":1}`, false},
	{`{"bid":"x"}`, false},
	{`{"BID":{}}`, false},
	{`{"Person":{"id":1}}`, false},
	{`{"b\u0069d":{}}`, false},
	{`{"trade":{}}`, false},
	{`{"bid":{},"bid":{}}`, false},
	{`{"bid":{"price":1},"bid":{"url":"u"}}`, false},
	{`{"person":{"id":1},"bid":{"auction":2}}`, false},
	{`{"bid":{},"person":null}`, false},
	{`{"bid":{},"other":1}`, false},
	{`{"bid":{}}x`, false},
	{`{"bid":{}}{}`, false},
	{`{"bid":{}}}`, false},
	{`{"bid":{}`, false},
	{`{"bid":{"price":1}`, false},
	{`{"bid":{"price":1,}}`, false},
	{`{"bid":{"price":1,,"url":""}}`, false},
	{`{"bid":{,"price":1}}`, false},
	{`{"bid":{"price":1 "url":""}}`, false},
	{`{"bid":{"price":1},}`, false},
	{`{"bid"{}}`, false},
	{`{"bid":{}]`, false},
	{"\ufeff{\"bid\":{}}", false},
	{"{\"bid\":{}}\x00", false},
	{"\x00{\"bid\":{}}", false},
	{"{\"bid\":{}}\f", false},
	{"{\"bid\":{}}\v", false},
	{"{\"bid\":{}}\u00a0", false},
}

func TestDecodeCases(t *testing.T) {
	for _, c := range decodeCases {
		if fast := checkDecode(t, []byte(c.in)); fast != c.fast {
			t.Errorf("decodeFast(%q) = %v, want %v", c.in, fast, c.fast)
		}
	}
}

// TestDecodeGenerated: the fast path decodes every generated event to
// itself, with one allocation for its strings.
func TestDecodeGenerated(t *testing.T) {
	g := newGenerator(t, DefaultConfig())
	var kinds [3]int
	for n, e := range g.Range(0, 20_000) {
		line := AppendJSON(nil, &e)
		if !checkDecode(t, line) {
			t.Fatalf("event %d: the fast path does not decode %s", n, line)
		}
		var got Event
		if err := DecodeJSON(line, &got); err != nil || got != e {
			t.Fatalf("event %d: DecodeJSON(%s) = %+v, %v; want %+v", n, line, got, err, e)
		}
		kinds[e.Kind]++
	}
	if kinds[KindPerson] == 0 || kinds[KindAuction] == 0 || kinds[KindBid] == 0 {
		t.Errorf("events of each kind: %v", kinds)
	}
	for _, e := range []Event{g.Event(0), g.Event(1), g.Event(10)} {
		line := AppendJSON(nil, &e)
		var got Event
		if a := testing.AllocsPerRun(100, func() { _ = DecodeJSON(line, &got) }); a > 1 {
			t.Errorf("DecodeJSON of a %v allocates %v times, want 1", e.Kind, a)
		}
	}
	// Escapes and invalid UTF-8 take one allocation too, though invalid
	// bytes grow to U+FFFD's three.
	var got Event
	for _, odd := range []string{
		"{\"person\":{\"name\":\"\xff\xff\xff\",\"city\":\"a\xed\xa0\x80\"}}",
		`{"person":{"name":"\u00e9\n","city":"a\ud83d\ude00\uD800"}}`,
	} {
		data := []byte(odd)
		if a := testing.AllocsPerRun(100, func() { _ = DecodeJSON(data, &got) }); a != 1 || !decodeFast(data, &got) {
			t.Errorf("DecodeJSON of %q allocates %v times, want 1", odd, a)
		}
	}
	empty := []byte(`{"bid":{"price":1,"url":""}}`)
	if a := testing.AllocsPerRun(100, func() { _ = DecodeJSON(empty, &got) }); a != 0 {
		t.Errorf("DecodeJSON of %s allocates %v times, want none", empty, a)
	}
}

// oddStrings are strings AppendJSON escapes, or writes as they are when
// they are not plain ASCII.
var oddStrings = []string{
	"", "plain", `"quoted"`, `back\slash`, "new\nline", "tab\there", "\r\b\f\x00\x1f\x7f", "<&>",
	"é ü 日本 😀", "\u2028\u2029", "bad \xff utf-8 \xe2\x80", "\xed\xa0\x80", "\uFFFD", "\uFFFE\uFFFF",
	strings.Repeat("0123456789abcdef", 20) + "\"" + strings.Repeat("日", 20) + "\n",
}

// TestDecodeEscapedStrings: events whose strings need escaping, as
// AppendJSON writes them, take the fast path and agree with encoding/json.
func TestDecodeEscapedStrings(t *testing.T) {
	g := newGenerator(t, DefaultConfig())
	for i, s := range oddStrings {
		for _, e := range g.Range(int64(3*i), int64(3*i+50)) {
			switch e.Kind {
			case KindPerson:
				e.Person.Name, e.Person.Extra, e.Person.State = s, s+s, "x"+s
			case KindAuction:
				e.Auction.Description, e.Auction.Extra = s, s
			default:
				e.Bid.Channel, e.Bid.URL, e.Bid.Extra = s, "", s
			}
			line := AppendJSON(nil, &e)
			if !checkDecode(t, line) {
				t.Fatalf("the fast path does not decode %q", line)
			}
			// What AppendJSON writes encoding/json decodes to the event,
			// but for invalid UTF-8, which becomes U+FFFD.
			var got Event
			if err := DecodeJSON(line, &got); err != nil {
				t.Fatal(err)
			}
			if want := e; !strings.Contains(s, "\xff") && !strings.Contains(s, "\xed") && got != want {
				t.Fatalf("%q decoded to %+v, want %+v", line, got, want)
			}
		}
	}
}

// TestDecodeErrors: DecodeJSON keeps UnmarshalJSON's errors, and a failed
// decode leaves the event as encoding/json leaves it: alone when the JSON
// does not decode, zero when it does not hold exactly one event.
func TestDecodeErrors(t *testing.T) {
	const notOne = "nexmark: decoding an event: want an object with exactly one of the keys person, auction and bid"
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	for _, c := range []struct {
		in     string
		is     func(error) bool // the error encoding/json wraps
		result Event            // what the event is left as
	}{
		{`{}`, nil, Event{}},
		{`{"person":{"id":1},"bid":{"auction":2}}`, nil, Event{}},
		{`{"bid":{"price":"12"}}`, func(err error) bool { return errors.As(err, &typ) }, previous},
		{`{"bid":{"price":1.5}}`, func(err error) bool { return errors.As(err, &typ) }, previous},
		{`{"bid":{"price":1}`, func(err error) bool { return err.Error() == "nexmark: decoding an event: unexpected end of JSON input" }, previous},
		{`{"bid":{"price":1}}x`, func(err error) bool { return errors.As(err, &syntax) }, previous},
	} {
		e := previous
		err := DecodeJSON([]byte(c.in), &e)
		switch {
		case err == nil:
			t.Errorf("DecodeJSON(%s) succeeded", c.in)
		case c.is == nil && err.Error() != notOne:
			t.Errorf("DecodeJSON(%s) = %v, want %q", c.in, err, notOne)
		case c.is != nil && (!strings.HasPrefix(err.Error(), "nexmark: decoding an event: ") || !c.is(err)):
			t.Errorf("DecodeJSON(%s) = %v, not the error of encoding/json", c.in, err)
		}
		if e != c.result {
			t.Errorf("DecodeJSON(%s) left %+v, want %+v", c.in, e, c.result)
		}
		e = previous
		if err2 := json.Unmarshal([]byte(c.in), &e); err2 == nil {
			t.Errorf("json.Unmarshal(%s) into an Event succeeded", c.in)
		}
	}
}

// TestDecodeStringsShare: an event's strings share one allocation, in the
// order of the fields, which holds the decoded bytes and nothing else.
func TestDecodeStringsShare(t *testing.T) {
	var e Event
	if err := DecodeJSON([]byte(`{"bid":{"extra":"ex","channel":"ch\n","url":"u"}}`), &e); err != nil {
		t.Fatal(err)
	}
	joined := e.Bid.Channel + e.Bid.URL + e.Bid.Extra
	if joined != "ch\nuex" {
		t.Fatalf("strings %q", joined)
	}
	after := func(a, b string) bool {
		return uintptr(unsafe.Pointer(unsafe.StringData(a)))+uintptr(len(a)) == uintptr(unsafe.Pointer(unsafe.StringData(b)))
	}
	if !after(e.Bid.Channel, e.Bid.URL) || !after(e.Bid.URL, e.Bid.Extra) {
		t.Errorf("the strings are not one allocation in field order")
	}
}

// FuzzDecode: on any input, DecodeJSON decodes what encoding/json decodes
// (the same Event, an error or not, the same message), and so does the
// fast path whenever it takes the input.
func FuzzDecode(f *testing.F) {
	g, err := NewGenerator(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	for n := range int64(60) {
		e := g.Event(n)
		f.Add(AppendJSON(nil, &e))
	}
	for i, s := range oddStrings {
		e := g.Event(int64(i))
		switch e.Kind {
		case KindPerson:
			e.Person.Name = s
		case KindAuction:
			e.Auction.ItemName = s
		default:
			e.Bid.Channel = s
		}
		f.Add(AppendJSON(nil, &e))
	}
	for _, c := range decodeCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

// FuzzDecodeString: a bid whose channel holds any bytes between its
// quotes decodes as encoding/json decodes it. The bytes stay in place, so
// the fuzzer explores strings rather than breaking the object around them.
func FuzzDecodeString(f *testing.F) {
	for _, s := range []string{
		``, `plain`, `\"\\\/\b\f\n\r\t`, `\u0041\u00e9\u20ac`, `\uD83D\uDE00`, `\uD800`, `\uDC00\uD800`,
		`\uD800\u0041`, `\uD800\\uDC00`, `\u12`, `\'`, "\xff\xe2\x82", "\xed\xa0\x80", "日本😀\u2028",
		"0123456789abcdef\\n0123456789\xff", "a\x01", `a"b`, `a\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDecode(t, []byte(`{"bid":{"price":1,"channel":"`+s+`","extra":"x"}}`))
		checkDecode(t, []byte(`{"person":{"name":"`+s+`","city":"`+s+`"}}`))
	})
}

// TestDecodeBytesKept: a decoded event does not hold on to the input.
func TestDecodeBytesKept(t *testing.T) {
	line := []byte(`{"bid":{"channel":"abc","url":"def","extra":"ghi"}}`)
	var e Event
	if err := DecodeJSON(line, &e); err != nil {
		t.Fatal(err)
	}
	copy(line, bytes.Repeat([]byte{'z'}, len(line)))
	if e.Bid.Channel != "abc" || e.Bid.URL != "def" || e.Bid.Extra != "ghi" {
		t.Errorf("the event changed with its input: %+v", e.Bid)
	}
}
