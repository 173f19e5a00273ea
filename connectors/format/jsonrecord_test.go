package format_test

import (
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weirstream/weir/connectors/format"
)

func TestJSONRecordDecode(t *testing.T) {
	r, err := format.JSONRecord().Decode([]byte(`{"id":"v1","n":9007199254740993,"neg":-2,"x":1.5,"one":1.0,"e":1e2,
		"big":18446744073709551616,"ok":true,"none":null,"tags":["a",2,{"k":3}],"geo":{"lat":1,"cdn":{"pop":"ams"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := format.Record{
		"id": "v1", "n": int64(9007199254740993), "neg": int64(-2), "x": 1.5, "one": int64(1), "e": int64(100),
		"big": 18446744073709551616.0, "ok": true, "none": nil,
		"tags": []any{"a", int64(2), format.Record{"k": int64(3)}},
		"geo":  format.Record{"lat": int64(1), "cdn": format.Record{"pop": "ams"}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("Decode =\n%#v\nwant\n%#v", r, want)
	}
	b, err := format.JSONRecord().Encode([]byte("x"), r)
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `x{"big":18446744073709552000,"e":100,"geo":{"cdn":{"pop":"ams"},"lat":1},"id":"v1","n":9007199254740993,"neg":-2,"none":null,"ok":true,"one":1,"tags":["a",2,{"k":3}],"x":1.5}`
	if string(b) != wantJSON {
		t.Fatalf("Encode =\n%s\nwant\n%s", b, wantJSON)
	}
}

func TestJSONRecordErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, "json: no JSON value, want an object"},
		{`[1]`, "json: an array, want an object"},
		{`"s"`, "json: a string, want an object"},
		{`null`, "json: null, want an object"},
		{`{"a":1} x`, "json: invalid character 'x' after top-level value (after byte 9)"},
		{`{"a":tru}`, "json: invalid character '}' in literal true (expecting 'e') (after byte 9)"},
		{`{"a":{"b":[1,1e999]}}`, `json: number 1e999 at a.b.1 does not fit a float64`},
	} {
		_, err := format.JSONRecord().Decode([]byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// A Record inside a struct reads numbers as JSONRecord does.
func TestRecordInAStruct(t *testing.T) {
	type env struct {
		Kind string        `json:"kind"`
		Body format.Record `json:"body"`
	}
	v, err := format.JSON[env]().Decode([]byte(`{"kind":"k","body":{"n":12345678901234567,"m":{"x":0.5}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Body, format.Record{"n": int64(12345678901234567), "m": format.Record{"x": 0.5}}) {
		t.Fatalf("Body = %#v", v.Body)
	}
	v, err = format.JSON[env]().Decode([]byte(`{"kind":"k","body":null}`))
	if err != nil || v.Body != nil {
		t.Fatalf("null body = %#v, %v", v.Body, err)
	}
}

func FuzzJSONRecordDecode(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1,"b":[1.5,"x",null,true,{"c":-0}]}`, `{"a":"\u00e9\ud83d\ude00"}`,
		`{"n":9223372036854775808}`, `{"n":-9223372036854775808}`, `{"a":1e999}`, `[]`, ` {"a":{}} `, `{"a":1}x`,
	} {
		f.Add([]byte(s))
	}
	dec := format.JSONRecord()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := dec.Decode(data)
		if err != nil {
			// What the standard library reads as an object of valid
			// UTF-8 with finite numbers, JSONRecord reads too.
			var m map[string]any
			if utf8.Valid(data) && stdjson.Unmarshal(data, &m) == nil && m != nil && !strings.Contains(err.Error(), "does not fit") {
				t.Fatalf("Decode(%q): %v; encoding/json reads %v", data, err, m)
			}
			return
		}
		enc, err := dec.Encode(nil, r)
		if err != nil {
			t.Fatalf("Encode(%v): %v", r, err)
		}
		r2, err := dec.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q)) = %q): %v", data, enc, err)
		}
		if enc2, _ := dec.Encode(nil, r2); string(enc2) != string(enc) {
			t.Fatalf("%q encodes as %q, then as %q", data, enc, enc2)
		}
	})
}

func BenchmarkJSONRecordDecode(b *testing.B) {
	data := []byte(`{"view_id":"v-123456","title":"Big Buck Bunny","customer":"acme","player":{"name":"hls.js","version":"1.5.7"},"events":[{"t":"play","at":1733577000123},{"t":"error","code":3016}],"bitrate":2500000,"rebuffer_ratio":0.0125,"ended":true}`)
	dec := format.JSONRecord()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONAnyDecode(b *testing.B) {
	data := []byte(`{"view_id":"v-123456","title":"Big Buck Bunny","customer":"acme","player":{"name":"hls.js","version":"1.5.7"},"events":[{"t":"play","at":1733577000123},{"t":"error","code":3016}],"bitrate":2500000,"rebuffer_ratio":0.0125,"ended":true}`)
	dec := format.JSON[map[string]any]()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONStructDecode(b *testing.B) {
	type view struct {
		ID       int64  `json:"id"`
		User     string `json:"user"`
		Page     string `json:"page"`
		Referrer string `json:"referrer"`
		Agent    string `json:"agent"`
		Country  string `json:"country"`
		Ts       int64  `json:"ts"`
		Duration int64  `json:"durationMs"`
		Bytes    int64  `json:"bytes"`
		Session  string `json:"session"`
	}
	data := []byte(`{"id":12345678,"user":"user-004711","page":"/videos/big-buck-bunny","referrer":"https://example.com/home","agent":"Mozilla/5.0 (X11; Linux x86_64)","country":"DE","ts":1733577000123,"durationMs":5310,"bytes":2500000,"session":"s-98765"}`)
	dec := format.JSON[view]()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
