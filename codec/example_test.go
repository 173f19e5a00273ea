package codec_test

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
)

func ExampleFor() {
	type ViewSummary struct {
		Title   string
		Errors  int32
		EndedAt time.Time
		Tags    []string
		cached  string // unexported: not encoded
	}
	c, err := codec.For[ViewSummary]()
	if err != nil {
		panic(err) // an unsupported field type
	}
	v := ViewSummary{Title: "intro", Errors: 2, EndedAt: time.Unix(1700000000, 0), Tags: []string{"hls"}, cached: "x"}
	b := c.Append(nil, v)
	fmt.Printf("% x\n", b)

	got, n, err := c.Decode(b)
	fmt.Println(got.Title, got.Errors, got.EndedAt.Equal(v.EndedAt), got.Tags, got.cached == "", n, err)
	// Output:
	// 05 69 6e 74 72 6f 80 00 00 02 97 97 9c fe 36 2a 00 00 01 03 68 6c 73
	// intro 2 true [hls] true 23 <nil>
}

func ExampleMap() {
	// Entries are sorted by their encoded keys, so equal maps always give
	// equal bytes.
	c := codec.Map(codec.String(), codec.Int8())
	fmt.Printf("% x\n", c.Append(nil, map[string]int8{"b": 1, "a": -1}))
	// Output:
	// 02 01 61 7f 01 62 81
}

func ExampleStruct_unsupported() {
	type Handler struct {
		Name    string
		Options struct {
			Retry   int
			OnError func(error)
		}
	}
	_, err := codec.Struct[Handler]()
	fmt.Println(err)
	// Output:
	// codec: type codec_test.Handler field Options.OnError: unsupported kind func
}

func ExampleDecodeError() {
	c := codec.Slice(codec.String())
	_, _, err := c.Decode([]byte{0x02, 0x01, 'a', 0x05, 'b'})
	fmt.Println(err)
	// Output:
	// codec: decode []string at byte 3: element 1: input too short: length 5, 1 bytes left
}
