package format_test

import (
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

func TestBytesDecodeCopies(t *testing.T) {
	in := []byte("abc")
	out, _ := format.Bytes().Decode(in)
	in[0] = 'x'
	if string(out) != "abc" {
		t.Fatalf("Decode kept its input: %q", out)
	}
}
