package format_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/weirstream/weir/connectors/format"
)

type order struct {
	ID    string  `json:"id"`
	Price float64 `json:"price"`
}

func TestJSONRoundTrip(t *testing.T) {
	f := format.JSON[order]()
	b, err := f.Encode([]byte("x"), order{ID: "a", Price: 2.5})
	if err != nil || string(b) != `x{"id":"a","price":2.5}` {
		t.Fatalf("Encode = %q, %v", b, err)
	}
	o, err := f.Decode(b[1:])
	if err != nil || o != (order{ID: "a", Price: 2.5}) {
		t.Fatalf("Decode = %+v, %v", o, err)
	}
	if _, err := f.Decode([]byte(`{"id":`)); err == nil || !strings.HasPrefix(err.Error(), "json: ") {
		t.Fatalf("Decode of a cut object: %v, want a json error", err)
	}
}

func TestJSONEncodeAppendsAsMarshal(t *testing.T) {
	type note struct {
		Text string         `json:"text"`
		Tags map[string]int `json:"tags,omitempty"`
	}
	f := format.JSON[note]()
	in := note{Text: "<a href=\"x\">&</a>\n", Tags: map[string]int{"b": 2, "a": 1}}
	want, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 2, 256)
	copy(dst, "ab")
	got, err := f.Encode(dst, in)
	if err != nil || string(got) != "ab"+string(want) {
		t.Fatalf("Encode = %q, %v; want %q", got, err, "ab"+string(want))
	}
	if &got[0] != &dst[0] {
		t.Fatal("Encode did not append in dst's room")
	}
	// A value that does not encode leaves dst as it was.
	got, err = format.JSON[func()]().Encode(dst, func() {})
	if err == nil || !strings.HasPrefix(err.Error(), "json: ") || string(got) != "ab" {
		t.Fatalf("Encode of a func = %q, %v; want dst and a json error", got, err)
	}
}

func BenchmarkJSONEncode(b *testing.B) {
	f := format.JSON[order]()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Encode(buf, order{ID: "o-1234", Price: 12.5}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBytesDecodeCopies(t *testing.T) {
	in := []byte("abc")
	out, _ := format.Bytes().Decode(in)
	in[0] = 'x'
	if string(out) != "abc" {
		t.Fatalf("Decode kept its input: %q", out)
	}
}

func BenchmarkJSONDecode(b *testing.B) {
	type player struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	type view struct {
		ViewID   string  `json:"view_id"`
		Title    string  `json:"title"`
		Customer string  `json:"customer"`
		Player   player  `json:"player"`
		Bitrate  int64   `json:"bitrate"`
		Rebuffer float64 `json:"rebuffer_ratio"`
		Ended    bool    `json:"ended"`
	}
	data := []byte(`{"view_id":"v-123456","title":"Big Buck Bunny","customer":"acme","player":{"name":"hls.js","version":"1.5.7"},"bitrate":2500000,"rebuffer_ratio":0.0125,"ended":true}`)
	dec := format.JSON[view]()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
