package codec_test

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
)

// The expected bytes below are written out by hand, not kept in a golden
// file with an -update flag: a layout change must be a deliberate edit of
// this table (and a savepoint format version bump), never a regenerated
// file.

// layoutCase pins the encoding of one value.
type layoutCase struct {
	name   string
	encode func() []byte
	want   string // hex, spaces ignored
}

func pin[T any](name string, c codec.Codec[T], v T, want string) layoutCase {
	return layoutCase{name, func() []byte { return c.Append(nil, v) }, want}
}

// Title is a defined string type; it must encode as a string.
type Title string

type pinned struct {
	Name   string
	N      int32
	hidden int // unexported: skipped
	Tags   []string
	At     time.Time
	P      *bool
	M      map[string]uint8
	A      [2]byte
	Inner  struct{ X, Y uint8 }
	T      Title
	Skip   float64 `codec:"-"`
}

func TestLayouts(t *testing.T) {
	yes := true
	i16 := int16(5)
	cases := []layoutCase{
		pin("bool false", codec.Bool(), false, "00"),
		pin("bool true", codec.Bool(), true, "01"),
		pin("int8 min", codec.Int8(), math.MinInt8, "00"),
		pin("int8 -1", codec.Int8(), -1, "7f"),
		pin("int8 0", codec.Int8(), 0, "80"),
		pin("int8 max", codec.Int8(), math.MaxInt8, "ff"),
		pin("int16 -2", codec.Int16(), -2, "7ffe"),
		pin("int16 1", codec.Int16(), 1, "8001"),
		pin("int32 -1", codec.Int32(), -1, "7fffffff"),
		pin("int32 1", codec.Int32(), 1, "80000001"),
		pin("int64 min", codec.Int64(), math.MinInt64, "00000000 00000000"),
		pin("int64 -1", codec.Int64(), -1, "7fffffff ffffffff"),
		pin("int64 1", codec.Int64(), 1, "80000000 00000001"),
		pin("int 300", codec.Int(), 300, "80000000 0000012c"),
		pin("uint8", codec.Uint8(), 0xab, "ab"),
		pin("uint16", codec.Uint16(), 0x1234, "1234"),
		pin("uint32", codec.Uint32(), 0xdeadbeef, "deadbeef"),
		pin("uint64 1", codec.Uint64(), 1, "00000000 00000001"),
		pin("uint 258", codec.Uint(), 258, "00000000 00000102"),
		pin("float64 1", codec.Float64(), 1, "bff00000 00000000"),
		pin("float64 -1", codec.Float64(), -1, "400fffff ffffffff"),
		pin("float64 0", codec.Float64(), 0, "80000000 00000000"),
		pin("float64 -0", codec.Float64(), math.Copysign(0, -1), "7fffffff ffffffff"),
		pin("float64 +inf", codec.Float64(), math.Inf(1), "fff00000 00000000"),
		pin("float64 nan", codec.Float64(), math.Float64frombits(0x7ff8000000000001), "fff80000 00000001"),
		pin("float32 1", codec.Float32(), 1, "bf800000"),
		pin("float32 -2.5", codec.Float32(), -2.5, "3fdfffff"),
		pin("string empty", codec.String(), "", "00"),
		pin("string", codec.String(), "héllo", "06 68c3a96c6c6f"),
		pin("string 200 bytes", codec.String(), strings.Repeat("z", 200), "c801"+strings.Repeat("7a", 200)),
		pin("bytes", codec.Bytes(), []byte{1, 2, 3}, "03 010203"),
		pin("bytes nil", codec.Bytes(), nil, "00"),
		pin("time zero", codec.Time(), time.Time{}, "00000000 00000000"),
		pin("time epoch", codec.Time(), time.Unix(0, 0), "80000000 00000000"),
		pin("time", codec.Time(), time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), "97a668b7 30013206"),
		pin("time zone ignored", codec.Time(), time.Date(2024, 1, 2, 4, 4, 5, 6, time.FixedZone("CET", 3600)), "97a668b7 30013206"),
		pin("time clamped low", codec.Time(), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), "00000000 00000001"),
		pin("time clamped high", codec.Time(), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "ffffffff ffffffff"),
		pin("duration", codec.Duration(), 1500*time.Millisecond, "80000000 59682f00"),
		pin("unit", codec.Unit(), struct{}{}, ""),
		pin("slice", codec.Slice(codec.String()), []string{"a", "bc"}, "02 0161 026263"),
		pin("slice nil", codec.Slice(codec.String()), nil, "00"),
		pin("map", codec.Map(codec.String(), codec.Int32()), map[string]int32{"b": 2, "a": 1},
			"02 0161 80000001 0162 80000002"),
		// Sorted by encoding: the length prefix puts "b" before "aa".
		pin("map by encoding", codec.Map(codec.String(), codec.Bool()), map[string]bool{"aa": true, "b": false},
			"02 0162 00 026161 01"),
		pin("map nil", codec.Map(codec.String(), codec.Bool()), nil, "00"),
		pin("set", codec.Map(codec.Uint8(), codec.Unit()), map[uint8]struct{}{9: {}, 3: {}}, "02 03 09"),
		pin("pointer nil", codec.Pointer(codec.Int16()), nil, "00"),
		pin("pointer", codec.Pointer(codec.Int16()), &i16, "01 8005"),
		pin("for string", codec.MustFor[string](), "x", "01 78"),
		pin("for defined string", codec.MustFor[Title](), "x", "01 78"),
		pin("for array", codec.MustFor[[3]int8](), [3]int8{-1, 0, 1}, "7f 80 81"),
		pin("for byte array", codec.MustFor[[4]byte](), [4]byte{1, 2, 3, 4}, "01020304"),
		pin("for slice of slices", codec.MustFor[[][]bool](), [][]bool{{true}, nil}, "02 01 01 00"),
		pin("struct", mustStruct[pinned](), pinned{
			Name: "ab", N: -1, hidden: 7, Tags: []string{"x"},
			At: time.Unix(0, 1), P: &yes, M: map[string]uint8{"k": 2, "": 1},
			A: [2]byte{0xca, 0xfe}, Inner: struct{ X, Y uint8 }{3, 4}, T: "t", Skip: 1.5,
		}, "02 6162"+ // Name
			"7fffffff"+ // N; hidden is skipped
			"01 01 78"+ // Tags
			"80000000 00000001"+ // At
			"01 01"+ // P
			"02 00 01 016b 02"+ // M: "" before "k"
			"cafe"+ // A
			"03 04"+ // Inner
			"01 74", // T; Skip is skipped
		),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := hex.DecodeString(strings.ReplaceAll(tc.want, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.encode(); !bytes.Equal(got, want) {
				t.Errorf("encoding changed:\n got % x\nwant % x", got, want)
			}
		})
	}
}

func mustStruct[T any]() codec.Codec[T] {
	c, err := codec.Struct[T]()
	if err != nil {
		panic(err)
	}
	return c
}

// For must give the same bytes as the codecs built by hand, since users may
// mix the two for the same state.
func TestForMatchesCombinators(t *testing.T) {
	type item struct {
		ID   uint32
		Name string
	}
	ten := 10
	cases := []struct {
		name      string
		got, want []byte
	}{
		{"[]string",
			codec.MustFor[[]string]().Append(nil, []string{"a", "", "ccc"}),
			codec.Slice(codec.String()).Append(nil, []string{"a", "", "ccc"})},
		{"[]int64",
			codec.MustFor[[]int64]().Append(nil, []int64{-1, 0, 1 << 40}),
			codec.Slice(codec.Int64()).Append(nil, []int64{-1, 0, 1 << 40})},
		{"[]uint8 as bytes",
			codec.MustFor[[]uint8]().Append(nil, []uint8{1, 2}),
			codec.Slice(codec.Uint8()).Append(nil, []uint8{1, 2})},
		{"map[string]float64",
			codec.MustFor[map[string]float64]().Append(nil, map[string]float64{"x": 1, "y": -2, "zz": 0}),
			codec.Map(codec.String(), codec.Float64()).Append(nil, map[string]float64{"x": 1, "y": -2, "zz": 0})},
		{"*int",
			codec.MustFor[*int]().Append(nil, &ten),
			codec.Pointer(codec.Int()).Append(nil, &ten)},
		{"[]item",
			codec.MustFor[[]item]().Append(nil, []item{{1, "a"}, {2, "b"}}),
			codec.Slice(mustStruct[item]()).Append(nil, []item{{1, "a"}, {2, "b"}})},
		{"map[int8][]time.Duration",
			codec.MustFor[map[int8][]time.Duration]().Append(nil, map[int8][]time.Duration{-3: {1}, 4: nil, 0: {2, 3}}),
			codec.Map(codec.Int8(), codec.Slice(codec.Duration())).Append(nil, map[int8][]time.Duration{-3: {1}, 4: nil, 0: {2, 3}})},
	}
	for _, tc := range cases {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s: For gives % x, combinators % x", tc.name, tc.got, tc.want)
		}
	}
}

// The fixed-width layouts sort in value order, which a sorted store can use
// for range scans.
func TestByteOrderIsValueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(name string, a, b []byte, cmp int) {
		t.Helper()
		if got := bytes.Compare(a, b); got != cmp {
			t.Fatalf("%s: bytes compare %d, values compare %d (% x vs % x)", name, got, cmp, a, b)
		}
	}
	interesting64 := []int64{math.MinInt64, math.MinInt64 + 1, -256, -1, 0, 1, 255, math.MaxInt64}
	for i := range 2000 {
		var a, b int64
		if i < len(interesting64)*len(interesting64) {
			a, b = interesting64[i/len(interesting64)], interesting64[i%len(interesting64)]
		} else {
			a, b = int64(r.Uint64()), int64(r.Uint64())
		}
		check("int64", codec.Int64().Append(nil, a), codec.Int64().Append(nil, b), cmpOf(a, b))
		check("int32", codec.Int32().Append(nil, int32(a)), codec.Int32().Append(nil, int32(b)), cmpOf(int32(a), int32(b)))
		check("int16", codec.Int16().Append(nil, int16(a)), codec.Int16().Append(nil, int16(b)), cmpOf(int16(a), int16(b)))
		check("int8", codec.Int8().Append(nil, int8(a)), codec.Int8().Append(nil, int8(b)), cmpOf(int8(a), int8(b)))
		check("uint64", codec.Uint64().Append(nil, uint64(a)), codec.Uint64().Append(nil, uint64(b)), cmpOf(uint64(a), uint64(b)))
		check("duration", codec.Duration().Append(nil, time.Duration(a)), codec.Duration().Append(nil, time.Duration(b)), cmpOf(a, b))
		ta, tb := time.Unix(0, a), time.Unix(0, b)
		if a == math.MinInt64 {
			ta = time.Time{} // the zero time takes MinInt64's place and still sorts first
		}
		if b == math.MinInt64 {
			tb = time.Time{}
		}
		check("time", codec.Time().Append(nil, ta), codec.Time().Append(nil, tb), ta.Compare(tb))
	}
	floats := []float64{math.Inf(-1), -math.MaxFloat64, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1),
		0, math.SmallestNonzeroFloat64, 1, math.MaxFloat64, math.Inf(1)}
	for range 2000 {
		floats = append(floats, math.Float64frombits(r.Uint64()))
	}
	floats = slices.DeleteFunc(floats, math.IsNaN)
	for i := 1; i < len(floats); i++ {
		a, b := floats[i-1], floats[i]
		check("float64", codec.Float64().Append(nil, a), codec.Float64().Append(nil, b), floatCmp(a, b))
		check("float32", codec.Float32().Append(nil, float32(a)), codec.Float32().Append(nil, float32(b)),
			floatCmp(float64(float32(a)), float64(float32(b))))
	}
}

func cmpOf[T int8 | int16 | int32 | int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// floatCmp orders -0 before +0, as the encoding does.
func floatCmp(a, b float64) int {
	if a == 0 && b == 0 {
		return cmpOf(int8(boolInt(!math.Signbit(a))), int8(boolInt(!math.Signbit(b))))
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
