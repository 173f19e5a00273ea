package format_test

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/weirstream/weir/connectors/format"
)

func ExampleCSV() {
	type Trade struct {
		ID    string    `csv:"id"`
		Qty   int       `csv:"qty"`
		At    time.Time `csv:"at"`
		Limit *float64  `csv:"limit"` // an empty cell is nil
	}
	f, err := format.CSV[Trade](format.CSVConfig{})
	if err != nil {
		panic(err)
	}
	t, err := f.Decode([]byte("t-1,3,2026-12-07T13:10:00Z,\n"))
	fmt.Println(t.ID, t.Qty, t.At.Hour(), t.Limit, err)

	_, err = f.Decode([]byte("t-2,three,2026-12-07T13:10:00Z,"))
	fmt.Println(err)

	row, _ := f.Encode(nil, Trade{ID: "a, b", Qty: 1})
	fmt.Println(string(row))
	// Output:
	// t-1 3 13 <nil> <nil>
	// csv: column 2 "qty": value "three": not an int: invalid syntax
	// "a, b",1,0001-01-01T00:00:00Z,
}

// A file's reader reads the header first, then each row in the header's
// order.
func ExampleCSVFormat_WithHeader() {
	type Reading struct {
		Sensor string  `csv:"sensor"`
		Value  float64 `csv:"value"`
	}
	f, err := format.CSV[Reading](format.CSVConfig{})
	if err != nil {
		panic(err)
	}
	r := csv.NewReader(strings.NewReader("value,unit,sensor\n1.5,C,s1\n\"2\",C,s2\n"))
	r.Comma = f.Comma()
	header, _ := r.Read()
	f, err = f.WithHeader(header)
	if err != nil {
		panic(err)
	}
	for {
		fields, err := r.Read()
		if err == io.EOF {
			break
		}
		v, err := f.DecodeFields(fields)
		fmt.Printf("%+v %v\n", v, err)
	}
	_, err = f.WithHeader([]string{"value"})
	fmt.Println(err)
	// Output:
	// {Sensor:s1 Value:1.5} <nil>
	// {Sensor:s2 Value:2} <nil>
	// csv: header (value) lacks column "sensor"
}

func ExampleJSONRecord() {
	r, err := format.JSONRecord().Decode([]byte(`{"id":9007199254740993,"rate":0.5,"player":{"name":"hls.js"},"tags":["a"]}`))
	fmt.Println(err)
	fmt.Printf("%T %v\n", r["id"], r["id"])
	fmt.Printf("%T %v\n", r["rate"], r["rate"])
	fmt.Printf("%T %v\n", r["player"], r["player"].(format.Record)["name"])
	fmt.Printf("%T %v\n", r["tags"], r["tags"])
	// Output:
	// <nil>
	// int64 9007199254740993
	// float64 0.5
	// format.Record hls.js
	// []interface {} [a]
}

func ExampleProtobuf() {
	f, err := format.Protobuf(format.ProtobufConfig{File: "testdata/proto/view.proto", Message: "weir.test.View"})
	if err != nil {
		panic(err)
	}
	b, err := f.Encode(nil, format.Record{"id": "v-1", "kind": "KIND_LIVE", "player": format.Record{"name": "hls.js"}})
	if err != nil {
		panic(err)
	}
	r, err := f.Decode(b)
	fmt.Println(r["id"], r["kind"], r["player"].(format.Record)["name"], r["n"], err)

	_, err = format.Protobuf(format.ProtobufConfig{File: "testdata/proto/view.proto", Message: "weir.test.Vue"})
	fmt.Println(err)
	// Output:
	// v-1 KIND_LIVE hls.js 0 <nil>
	// protobuf: testdata/proto/view.proto has no message "weir.test.Vue"; it has weir.test.View, weir.test.View.Event
}
