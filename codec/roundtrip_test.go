package codec_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
)

type rtCase struct {
	name string
	run  func(t *testing.T)
}

// rt checks that v survives a round trip through c unchanged.
func rt[T any](name string, c codec.Codec[T], v T) rtCase {
	return rtWant(name, c, v, v)
}

// rtWant checks that v decodes as want after a round trip through c (nil
// and empty slices, for example, decode alike).
func rtWant[T any](name string, c codec.Codec[T], v, want T) rtCase {
	return rtCase{name, func(t *testing.T) {
		checkRoundTrip(t, c, v, want, func(a, b T) bool { return reflect.DeepEqual(a, b) })
	}}
}

// rtEq is rt with a custom equality, for values such as NaN.
func rtEq[T any](name string, c codec.Codec[T], v T, eq func(a, b T) bool) rtCase {
	return rtCase{name, func(t *testing.T) { checkRoundTrip(t, c, v, v, eq) }}
}

func checkRoundTrip[T any](t *testing.T, c codec.Codec[T], v, want T, eq func(a, b T) bool) {
	t.Helper()
	prefix := []byte("pre")
	b := c.Append(slices.Clip(prefix), v)
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("Append overwrote dst: % x", b)
	}
	enc := b[len(prefix):]
	for range 3 { // maps are iterated in random order
		if again := c.Append(nil, v); !bytes.Equal(again, enc) {
			t.Fatalf("encoding not deterministic: % x then % x", enc, again)
		}
	}
	// Trailing bytes belong to the next value and must not be consumed.
	src := append(slices.Clone(enc), 0xff, 0x00, 0x80)
	got, n, err := c.Decode(src)
	if err != nil {
		t.Fatalf("Decode(% x): %v", enc, err)
	}
	if n != len(enc) {
		t.Fatalf("Decode consumed %d bytes, encoding has %d", n, len(enc))
	}
	if !eq(got, want) {
		t.Fatalf("round trip: got %#v, want %#v", got, want)
	}
	// The decoded value must not share memory with the input.
	for i := range src {
		src[i] ^= 0xff
	}
	if !eq(got, want) {
		t.Fatalf("decoded value changed with its input: %#v", got)
	}
	if re := c.Append(nil, got); !bytes.Equal(re, enc) {
		t.Fatalf("re-encoding the decoded value gives % x, want % x", re, enc)
	}
	for i := range len(enc) {
		if _, _, err := c.Decode(enc[:i]); !errors.Is(err, codec.ErrShort) {
			t.Fatalf("Decode of the first %d of %d bytes: err %v, want ErrShort", i, len(enc), err)
		}
	}
}

func runCases(t *testing.T, cases []rtCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

func TestRoundTripPrimitives(t *testing.T) {
	nan := math.Float64frombits(0x7ff8_0000_dead_beef)
	sameBits64 := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	sameBits32 := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	runCases(t, []rtCase{
		rt("bool false", codec.Bool(), false),
		rt("bool true", codec.Bool(), true),
		rt("int min", codec.Int(), math.MinInt),
		rt("int max", codec.Int(), math.MaxInt),
		rt("int -7", codec.Int(), -7),
		rt("int8 min", codec.Int8(), math.MinInt8),
		rt("int8 max", codec.Int8(), math.MaxInt8),
		rt("int16 min", codec.Int16(), math.MinInt16),
		rt("int16 max", codec.Int16(), math.MaxInt16),
		rt("int32 min", codec.Int32(), math.MinInt32),
		rt("int32 max", codec.Int32(), math.MaxInt32),
		rt("int64 min", codec.Int64(), math.MinInt64),
		rt("int64 max", codec.Int64(), math.MaxInt64),
		rt("int64 0", codec.Int64(), 0),
		rt("uint max", codec.Uint(), math.MaxUint),
		rt("uint8 max", codec.Uint8(), math.MaxUint8),
		rt("uint16 max", codec.Uint16(), math.MaxUint16),
		rt("uint32 max", codec.Uint32(), math.MaxUint32),
		rt("uint64 max", codec.Uint64(), math.MaxUint64),
		rt("uint64 0", codec.Uint64(), 0),
		rtEq("float64 nan payload", codec.Float64(), nan, sameBits64),
		rtEq("float64 -0", codec.Float64(), math.Copysign(0, -1), sameBits64),
		rt("float64 -inf", codec.Float64(), math.Inf(-1)),
		rt("float64 smallest", codec.Float64(), math.SmallestNonzeroFloat64),
		rt("float64 pi", codec.Float64(), math.Pi),
		rtEq("float32 nan", codec.Float32(), float32(math.NaN()), sameBits32),
		rtEq("float32 -0", codec.Float32(), float32(math.Copysign(0, -1)), sameBits32),
		rt("float32 max", codec.Float32(), math.MaxFloat32),
		rt("float32 -1.5", codec.Float32(), -1.5),
		rt("string empty", codec.String(), ""),
		rt("string", codec.String(), "héllo, wörld"),
		rt("string invalid utf-8", codec.String(), "\xff\xfe\x00"),
		rt("string long", codec.String(), strings.Repeat("0123456789", 1000)),
		rt("bytes", codec.Bytes(), []byte{0, 1, 0xff}),
		rt("bytes nil", codec.Bytes(), nil),
		rtWant("bytes empty", codec.Bytes(), []byte{}, nil),
		rt("time zero", codec.Time(), time.Time{}),
		rt("time epoch", codec.Time(), time.Unix(0, 0).UTC()),
		rt("time", codec.Time(), time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC)),
		rt("time before epoch", codec.Time(), time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)),
		rt("time lowest", codec.Time(), time.Unix(0, math.MinInt64+1).UTC()),
		rt("time highest", codec.Time(), time.Unix(0, math.MaxInt64).UTC()),
		rtWant("time in a zone becomes UTC", codec.Time(),
			time.Date(2024, 6, 1, 12, 0, 0, 0, time.FixedZone("X", -7*3600)),
			time.Date(2024, 6, 1, 19, 0, 0, 0, time.UTC)),
		rtWant("time loses monotonic reading", codec.Time(),
			time.Unix(1_700_000_000, 5).Add(0), time.Unix(1_700_000_000, 5).UTC()),
		rtWant("time clamped", codec.Time(),
			time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MaxInt64).UTC()),
		rt("duration", codec.Duration(), -90*time.Minute),
		rt("duration max", codec.Duration(), time.Duration(math.MaxInt64)),
		rt("unit", codec.Unit(), struct{}{}),
	})
}

func TestRoundTripComposites(t *testing.T) {
	one, two := 1, 2
	nan := math.NaN()
	runCases(t, []rtCase{
		rt("slice of strings", codec.Slice(codec.String()), []string{"a", "", "ccc"}),
		rt("slice nil", codec.Slice(codec.String()), nil),
		rtWant("slice empty", codec.Slice(codec.Int64()), []int64{}, nil),
		rt("slice long", codec.Slice(codec.Uint16()), slices.Repeat([]uint16{1, 2, 3}, 1000)),
		rt("slice of slices", codec.Slice(codec.Slice(codec.Bool())), [][]bool{{true}, nil, {false, true}}),
		rt("slice of units", codec.Slice(codec.Unit()), make([]struct{}, 5)),
		rt("slice of pointers", codec.Slice(codec.Pointer(codec.Int())), []*int{&one, nil, &two}),
		rt("map", codec.Map(codec.String(), codec.Int64()), map[string]int64{"a": 1, "b": -2, "": 0}),
		rtWant("map nil", codec.Map(codec.String(), codec.Int64()), nil, map[string]int64{}),
		rt("map empty", codec.Map(codec.String(), codec.Int64()), map[string]int64{}),
		rt("map big", codec.Map(codec.Int32(), codec.Int32()), bigMap(500)),
		rt("set", codec.Map(codec.String(), codec.Unit()), map[string]struct{}{"x": {}, "y": {}}),
		rt("map with unit key", codec.Map(codec.Unit(), codec.String()), map[struct{}]string{{}: "only"}),
		rt("map of maps", codec.Map(codec.Int8(), codec.Map(codec.String(), codec.Bool())),
			map[int8]map[string]bool{1: {"t": true}, -1: {}}),
		rtEq("map with NaN keys", codec.Map(codec.Float64(), codec.Int8()),
			map[float64]int8{nan: 2, math.Float64frombits(math.Float64bits(nan)): 1, 0: 5},
			sameNaNMap),
		rt("pointer nil", codec.Pointer(codec.String()), nil),
		rt("pointer", codec.Pointer(codec.String()), ptr("x")),
		rt("pointer to pointer", codec.Pointer(codec.Pointer(codec.Int())), ptr(&one)),
		rt("pointer to nil pointer", codec.Pointer(codec.Pointer(codec.Int())), ptr[*int](nil)),
	})
}

func ptr[T any](v T) *T { return &v }

func bigMap(n int) map[int32]int32 {
	m := make(map[int32]int32, n)
	for i := range int32(n) {
		m[i*7919-1_000_000] = i
	}
	return m
}

// sameNaNMap compares maps with NaN keys, which == cannot look up: it
// compares the multisets of (key bits, value) entries.
func sameNaNMap(a, b map[float64]int8) bool {
	type entry struct {
		k uint64
		v int8
	}
	list := func(m map[float64]int8) []entry {
		var es []entry
		for k, v := range m {
			es = append(es, entry{math.Float64bits(k), v})
		}
		slices.SortFunc(es, func(x, y entry) int {
			if x.k != y.k {
				return cmpOf(x.k, y.k)
			}
			return cmpOf(int64(x.v), int64(y.v))
		})
		return es
	}
	return slices.Equal(list(a), list(b))
}

// Types for the For and Struct round trips.
type (
	Score   float64
	Tags    []string
	Stamp   time.Time
	Counter struct {
		N    uint64
		Last time.Time
	}
	Point struct{ X, Y int32 }
	Leaf  struct {
		Name  Title
		Score Score
		Raw   []byte
	}
	Base struct{ ID string }
	base struct {
		Kind   uint8
		secret string
	}
	// Everything is a struct using every supported kind.
	Everything struct {
		Base
		base
		B        bool
		I        int
		I8       int8
		I16      int16
		I32      int32
		I64      int64
		U        uint
		U8       uint8
		U16      uint16
		U32      uint32
		U64      uint64
		F32      float32
		F64      float64
		S        string
		Bs       []byte
		T        time.Time
		D        time.Duration
		Title    Title
		Stamp    Stamp
		Tags     Tags
		Arr      [3]int16
		Bytes4   [4]byte
		Grid     [2][2]bool
		Leaves   []Leaf
		LeafPtr  *Leaf
		Ptrs     []*Point
		ByName   map[string]Leaf
		ByPoint  map[Point][]string
		ByArr    map[[2]uint8]Counter
		Set      map[int32]struct{}
		Times    []time.Time
		Nested   struct{ A, B []int8 }
		Empty    struct{}
		Units    []struct{}
		Zero     [0]int
		Maybe    *time.Duration
		unexport int
		Ignored  chan int `codec:"-"`
	}
)

func sampleEverything() Everything {
	d := 3 * time.Second
	return Everything{
		Base: Base{ID: "id-1"}, base: base{Kind: 7},
		B: true, I: -1, I8: -8, I16: -16, I32: -32, I64: -64,
		U: 1, U8: 8, U16: 16, U32: 32, U64: 64, F32: 3.5, F64: -2.25,
		S: "s", Bs: []byte("bs"), T: time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC), D: time.Hour,
		Title: "title", Stamp: Stamp(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)),
		Tags: Tags{"a", "b", ""}, Arr: [3]int16{1, -2, 3}, Bytes4: [4]byte{1, 2, 3, 4},
		Grid:    [2][2]bool{{true, false}, {false, true}},
		Leaves:  []Leaf{{"l1", 1.5, nil}, {"l2", -1, []byte{9}}},
		LeafPtr: &Leaf{Name: "p"},
		Ptrs:    []*Point{{1, 2}, nil, {-3, 4}},
		ByName:  map[string]Leaf{"x": {Name: "x"}, "y": {Score: 2}},
		ByPoint: map[Point][]string{{0, 0}: {"origin"}, {1, -1}: nil},
		ByArr:   map[[2]uint8]Counter{{1, 2}: {N: 3, Last: time.Unix(5, 0).UTC()}},
		Set:     map[int32]struct{}{1: {}, -5: {}},
		Times:   []time.Time{{}, time.Unix(1, 1).UTC()},
		Nested:  struct{ A, B []int8 }{A: []int8{1}, B: []int8{-1, -2}},
		Units:   make([]struct{}, 3),
		Maybe:   &d,
	}
}

func TestRoundTripFor(t *testing.T) {
	everything := sampleEverything()
	emptyish := Everything{ByName: map[string]Leaf{}, ByPoint: map[Point][]string{}, ByArr: map[[2]uint8]Counter{}, Set: map[int32]struct{}{}}
	runCases(t, []rtCase{
		rt("string", codec.MustFor[string](), "s"),
		rt("defined string", codec.MustFor[Title](), "t"),
		rt("defined float", codec.MustFor[Score](), -0.5),
		rt("defined slice", codec.MustFor[Tags](), Tags{"x", "y"}),
		rt("defined time", codec.MustFor[Stamp](), Stamp(time.Unix(9, 9).UTC())),
		rt("defined time zero", codec.MustFor[Stamp](), Stamp{}),
		rt("struct with time", codec.MustFor[Counter](), Counter{N: 1, Last: time.Unix(3, 4).UTC()}),
		rt("[]Point", codec.MustFor[[]Point](), []Point{{1, 2}, {3, 4}}),
		rt("[]*Point", codec.MustFor[[]*Point](), []*Point{{1, 2}, nil}),
		rt("*Point", codec.MustFor[*Point](), &Point{5, 6}),
		rt("[][]byte", codec.MustFor[[][]byte](), [][]byte{{1}, nil, {2, 3}}),
		rt("[]time.Time", codec.MustFor[[]time.Time](), []time.Time{time.Unix(1, 0).UTC(), {}}),
		rt("[]int", codec.MustFor[[]int](), []int{-1, 0, 1}),
		rt("[]float32", codec.MustFor[[]float32](), []float32{-1, 0.5}),
		rt("[]bool", codec.MustFor[[]bool](), []bool{true, false}),
		rt("[]Score", codec.MustFor[[]Score](), []Score{1, 2}),
		rt("[][2]string", codec.MustFor[[][2]string](), [][2]string{{"a", "b"}, {"", "c"}}),
		rt("[4]Point", codec.MustFor[[4]Point](), [4]Point{{1, 1}, {2, 2}}),
		rt("map[Point]Title", codec.MustFor[map[Point]Title](), map[Point]Title{{1, 2}: "a", {-1, 0}: "b"}),
		rt("map[string][]Leaf", codec.MustFor[map[string][]Leaf](), map[string][]Leaf{"k": {{Name: "n"}}, "e": nil}),
		rt("map[Title]struct{}", codec.MustFor[map[Title]struct{}](), map[Title]struct{}{"a": {}, "b": {}}),
		rt("[]struct{}", codec.MustFor[[]struct{}](), make([]struct{}, 10)),
		rt("[]map", codec.MustFor[[]map[int8]int8](), []map[int8]int8{{1: 1}, {}}),
		rt("Everything", codec.MustFor[Everything](), everything),
		rtWant("Everything zero", codec.MustFor[Everything](), Everything{}, emptyish),
	})
}

func TestStructSkipsUnexportedAndTagged(t *testing.T) {
	c := mustStruct[Everything]()
	v := sampleEverything()
	v.base.secret = "not encoded"
	v.unexport = 99
	v.Ignored = make(chan int)
	got, _, err := c.Decode(c.Append(nil, v))
	if err != nil {
		t.Fatal(err)
	}
	if got.secret != "" || got.unexport != 0 || got.Ignored != nil {
		t.Errorf("unexported or ignored fields decoded: %q %d %v", got.secret, got.unexport, got.Ignored)
	}
	if got.Kind != 7 {
		t.Errorf("exported field of embedded unexported struct lost: Kind = %d", got.Kind)
	}
}

// Decoding must overwrite every encoded field even when the compiled code
// reuses memory (map keys and values are decoded into one scratch value).
func TestMapValuesDoNotShareMemory(t *testing.T) {
	c := codec.MustFor[map[string]Leaf]()
	in := map[string]Leaf{"a": {Raw: []byte{1}}, "b": {}, "c": {Raw: []byte{2, 3}}}
	got, _, err := c.Decode(c.Append(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got %v, want %v", got, in)
	}
	got["a"].Raw[0] = 42
	if got["c"].Raw[0] != 2 {
		t.Fatalf("values share memory: %v", got)
	}
}
