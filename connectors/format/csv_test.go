package format_test

import (
	"encoding/csv"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/connectors/format"
)

type trade struct {
	ID       string        `csv:"id"`
	Qty      int           `csv:"qty"`
	Lot      int8          `csv:"lot"`
	Venue    uint16        `csv:"venue"`
	Price    float64       `csv:"price"`
	Fee      float32       `csv:"fee"`
	Buy      bool          `csv:"buy"`
	At       time.Time     `csv:"at"`
	Hold     time.Duration `csv:"hold"`
	Peer     netip.Addr    `csv:"peer"`
	Limit    *int64        `csv:"limit"`
	Note     *string       `csv:"note"`
	Internal string        `csv:"-"`
	Desk     string        // no tag: the field's name
}

func ptr[T any](v T) *T { return &v }

func sampleTrade() trade {
	return trade{
		ID: "t-1", Qty: -3, Lot: 7, Venue: 65535, Price: 101.25, Fee: 0.5, Buy: true,
		At:   time.Date(2026, 12, 7, 13, 10, 0, 500_000_000, time.UTC),
		Hold: 90 * time.Second, Peer: netip.MustParseAddr("10.0.0.1"),
		Limit: ptr(int64(-9007199254740993)), Note: ptr("says \"hi\", twice\nthen leaves"),
		Desk: " fx",
	}
}

func TestCSVRoundTrip(t *testing.T) {
	f, err := format.CSV[trade](format.CSVConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "qty", "lot", "venue", "price", "fee", "buy", "at", "hold", "peer", "limit", "note", "Desk"}
	if got := f.Columns(); !slices.Equal(got, want) {
		t.Fatalf("Columns = %q, want %q", got, want)
	}
	in := sampleTrade()
	row, err := f.Encode([]byte("x"), in)
	if err != nil {
		t.Fatal(err)
	}
	const wantRow = `x` + `t-1,-3,7,65535,101.25,0.5,true,2026-12-07T13:10:00.5Z,1m30s,10.0.0.1,-9007199254740993,"says ""hi"", twice` + "\n" + `then leaves"," fx"`
	if string(row) != wantRow {
		t.Fatalf("Encode =\n%s\nwant\n%s", row, wantRow)
	}
	out, err := f.Decode(row[1:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("Decode = %+v\nwant %+v", out, in)
	}

	// The row reads back the same with encoding/csv, and a trailing line
	// break ends it.
	fields, err := csv.NewReader(strings.NewReader(string(row[1:]) + "\r\n")).Read()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := f.DecodeFields(fields); err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("DecodeFields(encoding/csv's fields) = %+v, %v", out, err)
	}
	if out, err := f.Decode(append(row[1:], "\r\n"...)); err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("Decode(row + CRLF) = %+v, %v", out, err)
	}
	got, err := f.AppendFields(nil, in)
	if err != nil || !slices.Equal(got, fields) {
		t.Fatalf("AppendFields = %q, %v\nwant %q", got, err, fields)
	}

	// Nil pointers are empty cells, and empty cells nil pointers.
	in.Limit, in.Note = nil, nil
	row, _ = f.Encode(nil, in)
	if !strings.Contains(string(row), "10.0.0.1,,,") {
		t.Fatalf("Encode with nil pointers = %s", row)
	}
	if out, err := f.Decode(row); err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("Decode(nil pointers) = %+v, %v", out, err)
	}
}

func TestCSVColumnsAndComma(t *testing.T) {
	f, err := format.CSV[trade](format.CSVConfig{Columns: []string{"price", "id"}, Comma: ';'})
	if err != nil {
		t.Fatal(err)
	}
	row, err := f.Encode(nil, trade{ID: "a;b", Price: 2, Qty: 5})
	if err != nil || string(row) != `2;"a;b"` {
		t.Fatalf("Encode = %q, %v", row, err)
	}
	v, err := f.Decode([]byte(`1e3;"x,y"`))
	if err != nil || v.Price != 1000 || v.ID != "x,y" || v.Qty != 0 {
		t.Fatalf("Decode = %+v, %v", v, err)
	}
	tab, err := format.CSV[trade](format.CSVConfig{Columns: []string{"id", "Desk"}, Comma: '→'})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tab.Decode([]byte("a→b")); err != nil || v.ID != "a" || v.Desk != "b" {
		t.Fatalf("Decode with a multi-byte comma = %+v, %v", v, err)
	}
}

func TestCSVOneEmptyColumnIsQuoted(t *testing.T) {
	f, _ := format.CSV[trade](format.CSVConfig{Columns: []string{"id"}})
	row, _ := f.Encode(nil, trade{})
	if string(row) != `""` {
		t.Fatalf("Encode of one empty column = %q, want \"\" (an empty line is skipped by readers)", row)
	}
	if v, err := f.Decode(row); err != nil || v.ID != "" {
		t.Fatalf("Decode(%q) = %+v, %v", row, v, err)
	}
}

func TestCSVTimeLayout(t *testing.T) {
	type ev struct {
		At  time.Time  `csv:"at"`
		End *time.Time `csv:"end"`
	}
	f, err := format.CSV[ev](format.CSVConfig{TimeLayout: time.DateTime})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.Decode([]byte("2026-12-07 13:10:00,"))
	if err != nil || !v.At.Equal(time.Date(2026, 12, 7, 13, 10, 0, 0, time.UTC)) || v.End != nil {
		t.Fatalf("Decode = %+v, %v", v, err)
	}
	row, _ := f.Encode(nil, v)
	if string(row) != "2026-12-07 13:10:00," {
		t.Fatalf("Encode = %q", row)
	}
	_, err = f.Decode([]byte("2026-12-07T13:10:00Z,"))
	var ce *format.CSVError
	if !errors.As(err, &ce) || ce.Column != "at" || ce.Index != 1 || !strings.Contains(err.Error(), `layout "2006-01-02 15:04:05"`) {
		t.Fatalf("Decode of an RFC 3339 time in another layout: %v", err)
	}
}

func TestCSVDecodeErrors(t *testing.T) {
	f, err := format.CSV[trade](format.CSVConfig{Columns: []string{"id", "qty", "lot", "venue", "price", "buy", "at", "hold", "peer", "limit"}})
	if err != nil {
		t.Fatal(err)
	}
	const good = "a,1,2,3,4.5,true,2026-12-07T13:10:00Z,1s,::1,9"
	if _, err := f.Decode([]byte(good)); err != nil {
		t.Fatalf("Decode(%q): %v", good, err)
	}
	cell := func(i int, v string) string {
		fields := strings.Split(good, ",")
		fields[i] = v
		return strings.Join(fields, ",")
	}
	for _, tc := range []struct {
		row  string
		want string
	}{
		{cell(1, "x"), `csv: column 2 "qty": value "x": not an int: invalid syntax`},
		{cell(1, ""), `csv: column 2 "qty": empty cell: not an int: invalid syntax`},
		{cell(2, "300"), `csv: column 3 "lot": value "300": not an int8: value out of range`},
		{cell(3, "-1"), `csv: column 4 "venue": value "-1": not a uint16: invalid syntax`},
		{cell(4, "4,5"), `csv: row has 11 fields, want 10 (id, qty, lot, venue, price, buy, at, hold, peer, limit)`},
		{cell(4, "1.2.3"), `csv: column 5 "price": value "1.2.3": not a float64: invalid syntax`},
		{cell(5, "yes"), `csv: column 6 "buy": value "yes": not a bool: invalid syntax`},
		{cell(6, "yesterday"), `csv: column 7 "at": value "yesterday": not a time in layout`},
		{cell(7, "1 s"), `csv: column 8 "hold": value "1 s": time: unknown unit`},
		{cell(8, "10.0.0"), `csv: column 9 "peer": value "10.0.0": netip.Addr: ParseAddr("10.0.0")`},
		{cell(9, "nine"), `csv: column 10 "limit": value "nine": not an int64: invalid syntax`},
		{cell(9, strings.Repeat("9", 100)), `value "` + strings.Repeat("9", 64) + `…": not an int64: value out of range`},
		{"a,b", "csv: row has 2 fields, want 10"},
		{`a,"b`, "csv: field 2: quote opened at byte 2 is not closed"},
		{`a,b"c`, "csv: field 2: quote at byte 3 in an unquoted field"},
		{`a,"b"c`, `csv: field 2: 'c' after the closing quote at byte 5, want "," or the end of the row`},
		{"a,b\nc,d", "csv: field 2: line break at byte 3 in an unquoted field"},
	} {
		_, err := f.Decode([]byte(tc.row))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want %q", tc.row, err, tc.want)
		}
	}
	var ce *format.CSVError
	if _, err := f.Decode([]byte(cell(1, "x"))); !errors.As(err, &ce) || ce.Column != "qty" || ce.Index != 2 || ce.Value != "x" {
		t.Fatalf("the error is not a CSVError naming column 2 qty and x: %#v", err)
	}
}

type badCSV struct {
	Tags []string
}

type twice struct {
	A string `csv:"x"`
	B string `csv:"x"`
}

func TestCSVConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func() error
		want string
	}{
		{"not a struct", func() error { _, err := format.CSV[int](format.CSVConfig{}); return err }, "csv: int is neither a struct nor a format.Record"},
		{"unsupported field", func() error { _, err := format.CSV[badCSV](format.CSVConfig{}); return err }, "csv: format_test.badCSV.Tags: []string has no CSV form"},
		{"two fields, one name", func() error { _, err := format.CSV[twice](format.CSVConfig{}); return err }, `csv: format_test.twice.B: column "x" is also field A`},
		{"unknown column", func() error {
			_, err := format.CSV[trade](format.CSVConfig{Columns: []string{"id", "cost"}})
			return err
		}, `csv: Columns: format_test.trade has no column "cost" (it has id, qty,`},
		{"duplicate column", func() error {
			_, err := format.CSV[trade](format.CSVConfig{Columns: []string{"id", "qty", "id"}})
			return err
		}, `csv: Columns: "id" is both column 1 and column 3`},
		{"quote comma", func() error { _, err := format.CSV[trade](format.CSVConfig{Comma: '"'}); return err }, `csv: Comma '"' cannot separate fields`},
		{"types on a struct", func() error {
			_, err := format.CSV[trade](format.CSVConfig{Types: map[string]format.ColumnType{"id": format.TypeInt}})
			return err
		}, "csv: Types is for Record"},
		{"unknown type", func() error {
			_, err := format.CSV[format.Record](format.CSVConfig{Types: map[string]format.ColumnType{"b": 42}})
			return err
		}, `csv: Types["b"]: unknown ColumnType(42)`},
		{"type of no column", func() error {
			_, err := format.CSV[format.Record](format.CSVConfig{Columns: []string{"a"}, Types: map[string]format.ColumnType{"b": format.TypeInt}})
			return err
		}, `csv: Types["b"]: not one of the Columns a`},
	} {
		if err := tc.make(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCSVWithHeader(t *testing.T) {
	f, err := format.CSV[trade](format.CSVConfig{Columns: []string{"id", "qty"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.WithHeader([]string{"qty", "other", "id"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Columns(); !slices.Equal(got, []string{"qty", "other", "id"}) {
		t.Fatalf("Columns = %q", got)
	}
	v, err := h.Decode([]byte("5,ignored,a"))
	if err != nil || v.ID != "a" || v.Qty != 5 {
		t.Fatalf("Decode = %+v, %v", v, err)
	}
	if row, _ := h.Encode(nil, v); string(row) != "5,,a" {
		t.Fatalf("Encode = %q, want the header's order", row)
	}
	if !slices.Equal(f.Columns(), []string{"id", "qty"}) {
		t.Fatalf("WithHeader changed f: %q", f.Columns())
	}
	if _, err := f.WithHeader([]string{"qty", "price"}); err == nil || err.Error() != `csv: header (qty, price) lacks column "id"` {
		t.Fatalf("WithHeader without id: %v", err)
	}
	if _, err := f.WithHeader([]string{"id", "qty", "x", "qty"}); err == nil || err.Error() != `csv: header: column "qty" is both column 2 and column 4` {
		t.Fatalf("WithHeader with qty twice: %v", err)
	}
	// With every column of T needed, the error lists each one missing.
	all, _ := format.CSV[trade](format.CSVConfig{})
	if _, err := all.WithHeader([]string{"id"}); err == nil || !strings.Contains(err.Error(), `lacks column "qty", "lot",`) {
		t.Fatalf("WithHeader([id]): %v", err)
	}
}

func TestCSVRecord(t *testing.T) {
	f, err := format.CSV[format.Record](format.CSVConfig{
		Columns: []string{"id", "n", "x", "ok", "at"},
		Types:   map[string]format.ColumnType{"n": format.TypeInt, "x": format.TypeFloat, "ok": format.TypeBool, "at": format.TypeTime},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Decode([]byte("a,9007199254740993,1.5,true,2026-12-07T13:10:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	want := format.Record{"id": "a", "n": int64(9007199254740993), "x": 1.5, "ok": true, "at": time.Date(2026, 12, 7, 13, 10, 0, 0, time.UTC)}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("Decode = %#v\nwant %#v", r, want)
	}
	if row, err := f.Encode(nil, r); err != nil || string(row) != "a,9007199254740993,1.5,true,2026-12-07T13:10:00Z" {
		t.Fatalf("Encode = %q, %v", row, err)
	}
	// Empty typed cells are nil; empty strings stay strings.
	r, err = f.Decode([]byte(",,,,"))
	if err != nil || !reflect.DeepEqual(r, format.Record{"id": "", "n": nil, "x": nil, "ok": nil, "at": nil}) {
		t.Fatalf("Decode of empty cells = %#v, %v", r, err)
	}
	if _, err := f.Decode([]byte("a,1,x,true,")); err == nil || err.Error() != `csv: column 3 "x": value "x": not a float64: invalid syntax` {
		t.Fatalf("Decode of a bad float: %v", err)
	}
	if _, err := f.Encode(nil, format.Record{"id": []int{1}}); err == nil || err.Error() != `csv: column 1 "id": a []int has no CSV form` {
		t.Fatalf("Encode of a slice: %v", err)
	}
	// Missing keys and nil are empty cells.
	if row, err := f.Encode(nil, format.Record{"n": int64(-1), "ok": nil}); err != nil || string(row) != ",-1,,," {
		t.Fatalf("Encode of a sparse record = %q, %v", row, err)
	}
}

func TestCSVRecordFromHeader(t *testing.T) {
	f, err := format.CSV[format.Record](format.CSVConfig{Types: map[string]format.ColumnType{"n": format.TypeInt}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Decode([]byte("a")); err == nil || !strings.Contains(err.Error(), "no columns") {
		t.Fatalf("Decode without columns: %v", err)
	}
	h, err := f.WithHeader([]string{"name", "n"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Decode([]byte("x,42"))
	if err != nil || !reflect.DeepEqual(r, format.Record{"name": "x", "n": int64(42)}) {
		t.Fatalf("Decode = %#v, %v", r, err)
	}
	if _, err := f.WithHeader([]string{"name", "count"}); err == nil || err.Error() != `csv: header (name, count) lacks column "n"` {
		t.Fatalf("WithHeader without the typed column n: %v", err)
	}
	if _, err := f.WithHeader([]string{"n", "n"}); err == nil {
		t.Fatal("WithHeader with a duplicate column succeeded")
	}
}

func FuzzCSVDecode(f *testing.F) {
	type row struct {
		S string   `csv:"s"`
		I int32    `csv:"i"`
		X float64  `csv:"x"`
		B bool     `csv:"b"`
		U *uint8   `csv:"u"`
		D *float32 `csv:"d"`
	}
	for _, s := range []string{
		"a,1,2.5,true,3,1e-7", `"a,b",-1,NaN,0,,`, "\"x\"\"y\",0,1e300,f,255,\r\n",
		`"",0,0,false,,`, " a,0,0,t,0,0\n", `a"b,1,1,1,1,1`, `"a`, "",
	} {
		f.Add([]byte(s))
	}
	structs, err := format.CSV[row](format.CSVConfig{})
	if err != nil {
		f.Fatal(err)
	}
	records, err := format.CSV[format.Record](format.CSVConfig{Columns: []string{"s", "i", "x", "b", "u", "d"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := structs.Decode(data); err == nil {
			// Whatever decodes encodes into a row that decodes to the same.
			enc, err := structs.Encode(nil, v)
			if err != nil {
				t.Fatalf("Encode(%+v): %v", v, err)
			}
			v2, err := structs.Decode(enc)
			if err != nil {
				t.Fatalf("Decode(Encode(Decode(%q)) = %q): %v", data, enc, err)
			}
			if enc2, _ := structs.Encode(nil, v2); string(enc2) != string(enc) {
				t.Fatalf("%q encodes as %q, then as %q", data, enc, enc2)
			}
		}
		r, err := records.Decode(data)
		if err != nil {
			return
		}
		enc, err := records.Encode(nil, r)
		if err != nil {
			t.Fatalf("Encode(%v): %v", r, err)
		}
		r2, err := records.Decode(enc)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("%q decodes to %q, encodes as %q, decodes to %q (%v)", data, r, enc, r2, err)
		}
		// encoding/csv reads the encoded row as the same fields, except that
		// it turns a quoted field's CRLF into LF.
		if strings.Contains(string(enc), "\r") {
			return
		}
		fields, err := csv.NewReader(strings.NewReader(string(enc))).Read()
		if err != nil {
			t.Fatalf("encoding/csv cannot read %q: %v", enc, err)
		}
		if r3, err := records.DecodeFields(fields); err != nil || !reflect.DeepEqual(r, r3) {
			t.Fatalf("encoding/csv reads %q as %q", enc, fields)
		}
	})
}

func BenchmarkCSVDecode(b *testing.B) {
	f, _ := format.CSV[trade](format.CSVConfig{Columns: []string{"id", "qty", "price", "buy", "at", "note"}})
	row, _ := f.Encode(nil, sampleTrade())
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Decode(row); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCSVDecodeRecord(b *testing.B) {
	f, _ := format.CSV[format.Record](format.CSVConfig{
		Columns: []string{"id", "qty", "price", "buy", "at", "note"},
		Types:   map[string]format.ColumnType{"qty": format.TypeInt, "price": format.TypeFloat},
	})
	row := []byte(`t-1,-3,101.25,true,2026-12-07T13:10:00.5Z,"says ""hi"""`)
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Decode(row); err != nil {
			b.Fatal(err)
		}
	}
}

type Base struct {
	ID string `csv:"id"`
	At time.Time
}

type audit struct {
	Who  string `csv:"who"`
	note string // unexported: not a column
}

type event struct {
	Base
	audit
	Kind string `csv:"kind"`
}

type clash struct {
	Base
	Other string `csv:"id"`
}

type embeddedPtr struct {
	*Base
	Kind string
}

func TestCSVEmbeddedStructs(t *testing.T) {
	f, err := format.CSV[event](format.CSVConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Columns(); !slices.Equal(got, []string{"id", "At", "who", "kind"}) {
		t.Fatalf("Columns = %q", got)
	}
	in := event{Base: Base{ID: "e", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, audit: audit{Who: "ops"}, Kind: "k"}
	withNote := in
	withNote.note = "not written"
	row, err := f.Encode(nil, withNote)
	if err != nil || string(row) != "e,2026-01-02T03:04:05Z,ops,k" {
		t.Fatalf("Encode = %q, %v", row, err)
	}
	if out, err := f.Decode(row); err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("Decode = %+v, %v", out, err)
	}
	if _, err := format.CSV[clash](format.CSVConfig{}); err == nil || err.Error() != `csv: format_test.clash.Other: column "id" is also field Base.ID` {
		t.Fatalf("two fields named id: %v", err)
	}
	if _, err := format.CSV[embeddedPtr](format.CSVConfig{}); err == nil || !strings.Contains(err.Error(), "csv: format_test.embeddedPtr.Base: an embedded pointer to a struct cannot hold columns") {
		t.Fatalf("an embedded pointer: %v", err)
	}
}

func TestCSVComma(t *testing.T) {
	for _, c := range []rune{0, ';', '\t', '→'} {
		f, err := format.CSV[trade](format.CSVConfig{Comma: c})
		if err != nil {
			t.Fatal(err)
		}
		want := c
		if c == 0 {
			want = ','
		}
		if f.Comma() != want {
			t.Errorf("Comma() = %q, want %q", f.Comma(), want)
		}
	}
}

// The format keeps its own copy of the configuration.
func TestCSVConfigIsCopied(t *testing.T) {
	cfg := format.CSVConfig{Columns: []string{"id", "n"}, Types: map[string]format.ColumnType{"n": format.TypeInt}}
	f, err := format.CSV[format.Record](cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Columns[0], cfg.Types["n"] = "other", format.TypeString
	r, err := f.Decode([]byte("a,1"))
	if err != nil || !reflect.DeepEqual(r, format.Record{"id": "a", "n": int64(1)}) || f.Columns()[0] != "id" {
		t.Fatalf("after the caller changed its config: %#v, %v, %q", r, err, f.Columns())
	}
	types := map[string]format.ColumnType{"n": format.TypeInt}
	g, _ := format.CSV[format.Record](format.CSVConfig{Types: types})
	types["n"] = format.TypeString
	g, err = g.WithHeader([]string{"n"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := g.Decode([]byte("1")); err != nil || r["n"] != int64(1) {
		t.Fatalf("after the caller changed its Types: %#v, %v", r, err)
	}
}
