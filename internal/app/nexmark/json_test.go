package nexmark

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// stdJSON encodes e the way encoding/json does with HTML escaping off.
func stdJSON(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// wrapped is the shape of one line, for encoding/json.
func wrapped(e *Event) any {
	switch e.Kind {
	case KindPerson:
		return struct {
			P Person `json:"person"`
		}{e.Person}
	case KindAuction:
		return struct {
			A Auction `json:"auction"`
		}{e.Auction}
	default:
		return struct {
			B Bid `json:"bid"`
		}{e.Bid}
	}
}

// TestAppendJSONIsEncodingJSON: the hand-written encoder writes the bytes
// encoding/json writes, and they decode back to the event.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	g := newGenerator(t, DefaultConfig())
	for n, e := range g.Range(0, 5_000) {
		got := AppendJSON(nil, &e)
		if want := stdJSON(t, wrapped(&e)); !bytes.Equal(got, want) {
			t.Fatalf("event %d:\nAppendJSON   %s\nencoding/json %s", n, got, want)
		}
		if m, err := e.MarshalJSON(); err != nil || !bytes.Equal(m, got) {
			t.Fatalf("event %d: MarshalJSON = %s, %v; want %s", n, m, err, got)
		}
		var back Event
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		if back != e {
			t.Fatalf("event %d: decoded %+v, want %+v", n, back, e)
		}
	}
}

// TestFieldNames pins the keys of each kind: the Nexmark model's names.
func TestFieldNames(t *testing.T) {
	want := map[string][]string{
		"person":  {"city", "creditCard", "dateTime", "emailAddress", "extra", "id", "name", "state"},
		"auction": {"category", "dateTime", "description", "expires", "extra", "id", "initialBid", "itemName", "reserve", "seller"},
		"bid":     {"auction", "bidder", "channel", "dateTime", "extra", "price", "url"},
	}
	g := newGenerator(t, DefaultConfig())
	seen := map[string]bool{}
	for n, e := range g.Range(0, 50) {
		var line map[string]map[string]any
		if err := json.Unmarshal(AppendJSON(nil, &e), &line); err != nil {
			t.Fatal(err)
		}
		if len(line) != 1 {
			t.Fatalf("event %d has keys %v, want one", n, line)
		}
		for kind, fields := range line {
			if kind != e.Kind.String() {
				t.Fatalf("event %d of kind %v written as %q", n, e.Kind, kind)
			}
			var keys []string
			for k := range fields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, want[kind]) {
				t.Fatalf("event %d: %s with keys %v, want %v", n, kind, keys, want[kind])
			}
			seen[kind] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("the first 50 events are only of kinds %v", seen)
	}
}

func TestAppendStringEscapes(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted"`, `back\slash`, "new\nline", "tab\there", "\r\b\f\x00\x1f\x7f",
		"<&>", "é ü 日本", "\u2028\u2029", "bad \xff utf-8 \xe2\x80", "https://x/?a=1&channel_id=2",
	} {
		got := appendString(nil, s)
		if want := stdJSON(t, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"person":{"id":1},"bid":{"auction":2}}`,
		`{"trade":{}}`,
		`{"person":null}`,
		`[1]`,
		`{"bid":{"price":"12"}}`,
	} {
		var e Event
		if err := json.Unmarshal([]byte(in), &e); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", in, e)
		} else if !strings.Contains(err.Error(), "nexmark: decoding an event") {
			t.Errorf("Unmarshal(%s): %v, want an error saying what failed", in, err)
		}
	}
	if _, err := (Event{Kind: 7}).MarshalJSON(); err == nil {
		t.Error("MarshalJSON of Kind(7) succeeded")
	}
	if got := Kind(7).String(); got != "Kind(7)" {
		t.Errorf("Kind(7).String() = %q", got)
	}
}

// FuzzAppendString: whatever the string, the encoder agrees with
// encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "\"\\\x00", "\u2028", "\xff\xfe", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), stdJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// FuzzUnmarshalEvent: decoding never panics, and what decodes encodes to
// JSON that decodes to the same event.
func FuzzUnmarshalEvent(f *testing.F) {
	g, err := NewGenerator(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	for n := range int64(5) {
		e := g.Event(n)
		f.Add(AppendJSON(nil, &e))
	}
	f.Add([]byte(`{"bid":{"channel":"\u2028\ud800"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		if err := json.Unmarshal(data, &e); err != nil {
			return
		}
		var back Event
		if err := json.Unmarshal(AppendJSON(nil, &e), &back); err != nil || back != e {
			t.Fatalf("%s decoded to %+v, which encodes to %s, which decodes to %+v, %v", data, e, AppendJSON(nil, &e), back, err)
		}
	})
}
