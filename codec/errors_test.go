package codec_test

import (
	"encoding/hex"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/weirstream/weir/codec"
)

type (
	View struct {
		Title string
		Extra struct {
			Count int
			Fn    func()
		}
	}
	WithChan      struct{ C chan int }
	WithAny       struct{ V any }
	WithUnsafe    struct{ P unsafe.Pointer }
	WithComplex   struct{ Z complex128 }
	WithUintptr   struct{ U uintptr }
	WithDeepSlice struct {
		Items []struct{ Ch chan int }
	}
	WithMapValue struct{ M map[string]error }
	WithPtrKey   struct{ M map[*int]bool }
	WithPtrInKey struct {
		M map[struct{ P *int }]bool
	}
	WithMutex struct {
		N  int
		Mu sync.Mutex
	}
	WithMutexSkipped struct {
		N  int
		Mu sync.Mutex `codec:"-"`
	}
	Node struct {
		Value int
		Next  *Node
	}
	Tree map[string]Tree
	//lint:ignore U1000 the field is there to be left out
	onlySecret struct{ n int }
)

func TestUnsupportedTypes(t *testing.T) {
	cases := []struct {
		name string
		make func() error
		want string
	}{
		{"func in nested struct", errOf(codec.Struct[View]),
			"codec: type codec_test.View field Extra.Fn: unsupported kind func"},
		{"chan", errOf(codec.Struct[WithChan]), "codec: type codec_test.WithChan field C: unsupported kind chan"},
		{"interface", errOf(codec.Struct[WithAny]), "codec: type codec_test.WithAny field V: unsupported kind interface"},
		{"unsafe.Pointer", errOf(codec.Struct[WithUnsafe]),
			"codec: type codec_test.WithUnsafe field P: unsupported kind unsafe.Pointer"},
		{"complex", errOf(codec.Struct[WithComplex]),
			"codec: type codec_test.WithComplex field Z: unsupported kind complex128"},
		{"uintptr", errOf(codec.Struct[WithUintptr]),
			"codec: type codec_test.WithUintptr field U: unsupported kind uintptr"},
		{"slice element", errOf(codec.Struct[WithDeepSlice]),
			"codec: type codec_test.WithDeepSlice field Items[].Ch: unsupported kind chan"},
		{"map value", errOf(codec.Struct[WithMapValue]),
			"codec: type codec_test.WithMapValue field M[value]: unsupported kind interface"},
		{"pointer map key", errOf(codec.Struct[WithPtrKey]),
			"codec: type codec_test.WithPtrKey field M[key]: pointer in a map key is not supported"},
		{"pointer inside map key", errOf(codec.Struct[WithPtrInKey]),
			"codec: type codec_test.WithPtrInKey field M[key].P: pointer in a map key is not supported"},
		{"no exported fields", errOf(codec.Struct[WithMutex]),
			"codec: type codec_test.WithMutex field Mu: type sync.Mutex has no exported fields, so its state would be lost (tag the field `codec:\"-\"` to leave it out)"},
		{"only unexported fields", errOf(codec.For[onlySecret]),
			"codec: type codec_test.onlySecret: type codec_test.onlySecret has no exported fields, so its state would be lost (tag the field `codec:\"-\"` to leave it out)"},
		{"recursive struct", errOf(codec.Struct[Node]),
			"codec: type codec_test.Node field Next: recursive type codec_test.Node is not supported"},
		{"recursive map", errOf(codec.For[Tree]),
			"codec: type codec_test.Tree field [value]: recursive type codec_test.Tree is not supported"},
		{"top-level interface", errOf(codec.For[any]), "codec: type interface {}: unsupported kind interface"},
		{"top-level chan slice", errOf(codec.For[[]chan int]), "codec: type []chan int field []: unsupported kind chan"},
		{"Struct of non-struct", errOf(codec.Struct[int]), "codec: Struct: type int is not a struct"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.make()
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %q\nwant %q", err, tc.want)
			}
		})
	}
	if _, err := codec.Struct[WithMutexSkipped](); err != nil {
		t.Errorf("tagged field still compiled: %v", err)
	}
}

func errOf[T any](f func() (codec.Codec[T], error)) func() error {
	return func() error {
		_, err := f()
		return err
	}
}

func TestMustForPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "unsupported kind func") {
			t.Errorf("recovered %v, want the For error", r)
		}
	}()
	codec.MustFor[func()]()
}

type (
	deep struct {
		A     uint8
		Inner struct {
			Items []struct{ B bool }
		}
	}
	keyed struct {
		M map[Point]string
	}
)

func TestCorruptInput(t *testing.T) {
	type decodeFunc func([]byte) (int, error)
	dec := func(c any) decodeFunc {
		switch c := c.(type) {
		case codec.Codec[bool]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[string]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[[]string]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[[]int64]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[[]struct{}]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[map[string]bool]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[map[struct{}]struct{}]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[*int8]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[[]map[string]bool]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[deep]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[keyed]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[[]Leaf]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		case codec.Codec[[]Point]:
			return func(b []byte) (int, error) { _, n, err := c.Decode(b); return n, err }
		}
		panic("add a case")
	}
	cases := []struct {
		name   string
		decode decodeFunc
		in     string // hex
		is     error
		msg    string // the whole error message
	}{
		{"bool 2", dec(codec.Bool()), "02", codec.ErrInvalid,
			"codec: decode bool at byte 0: invalid encoding: bool byte is not 0 or 1"},
		{"empty", dec(codec.Bool()), "", codec.ErrShort, "codec: decode bool at byte 0: input too short"},
		{"string non-minimal length", dec(codec.String()), "8000", codec.ErrInvalid,
			"codec: decode string at byte 0: invalid encoding: varint not in shortest form"},
		{"string length overflow", dec(codec.String()), "ffffffffffffffffff7f", codec.ErrInvalid,
			"codec: decode string at byte 0: invalid encoding: varint overflows 64 bits"},
		{"string length past end", dec(codec.String()), "0561", codec.ErrShort,
			"codec: decode string at byte 0: input too short: length 5, 1 bytes left"},
		{"string huge length", dec(codec.String()), "ffffffffffffffff7f", codec.ErrShort,
			"codec: decode string at byte 0: input too short: length 9223372036854775807, 0 bytes left"},
		{"slice huge count", dec(codec.Slice(codec.Int64())), "ffffffff0f", codec.ErrShort,
			"codec: decode []int64 at byte 0: input too short: 4294967295 elements of at least 8 bytes, 0 bytes left"},
		{"slice element", dec(codec.Slice(codec.String())), "02 0161 0361", codec.ErrShort,
			"codec: decode []string at byte 3: element 1: input too short: length 3, 1 bytes left"},
		{"zero-width count", dec(codec.Slice(codec.Unit())), "8080808001", codec.ErrInvalid,
			"codec: decode []struct {} at byte 0: invalid encoding: 268435456 zero-width elements, more than 16777216"},
		{"map unsorted", dec(codec.Map(codec.String(), codec.Bool())), "02 0162 00 0161 01", codec.ErrInvalid,
			"codec: decode map[string]bool at byte 4: invalid encoding: map entries not in ascending order of their encodings"},
		{"map duplicate", dec(codec.Map(codec.String(), codec.Bool())), "02 0161 00 0161 01", codec.ErrInvalid,
			"codec: decode map[string]bool at byte 4: invalid encoding: map entries not in ascending order of their encodings"},
		{"map zero-width keys", dec(codec.Map(codec.Unit(), codec.Unit())), "02", codec.ErrInvalid,
			"codec: decode map[struct {}]struct {} at byte 0: invalid encoding: map entries not in ascending order of their encodings"},
		{"pointer tag", dec(codec.Pointer(codec.Int8())), "02", codec.ErrInvalid,
			"codec: decode *int8 at byte 0: invalid encoding: pointer tag is not 0 or 1"},
		{"nested combinators", dec(codec.Slice(codec.Map(codec.String(), codec.Bool()))), "02 00 02 0161 00 0161", codec.ErrInvalid,
			"codec: decode []map[string]bool at byte 6: element 1: invalid encoding: map entries not in ascending order of their encodings"},
		{"struct field path", dec(codec.MustFor[deep]()), "07 02 01 02", codec.ErrInvalid,
			"codec: decode codec_test.deep at byte 3: field Inner.Items[].B: invalid encoding: bool byte is not 0 or 1"},
		{"struct truncated", dec(codec.MustFor[deep]()), "07 02 01", codec.ErrShort,
			"codec: decode codec_test.deep at byte 1: field Inner.Items: input too short: 2 elements of at least 1 bytes, 1 bytes left"},
		{"struct map key order", dec(codec.MustFor[keyed]()), "02 80000001 80000000 00 80000000 80000000 00", codec.ErrInvalid,
			"codec: decode codec_test.keyed at byte 10: field M[key]: invalid encoding: map entries not in ascending order of their encodings"},
		{"struct map value", dec(codec.MustFor[keyed]()), "01 80000001 80000000 05", codec.ErrShort,
			"codec: decode codec_test.keyed at byte 9: field M[value]: input too short: length 5, 0 bytes left"},
		{"slice of structs", dec(codec.MustFor[[]Leaf]()), "01 0161 bff0000000000000 05", codec.ErrShort,
			"codec: decode []codec_test.Leaf at byte 11: field [].Raw: input too short: length 5, 0 bytes left"},
		{"slice of fixed-size structs", dec(codec.MustFor[[]Point]()), "02 8000000180000002 80000003", codec.ErrShort,
			"codec: decode []codec_test.Point at byte 0: input too short: 2 elements of at least 8 bytes, 12 bytes left"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := hex.DecodeString(strings.ReplaceAll(tc.in, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			n, err := tc.decode(in)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if err.Error() != tc.msg {
				t.Errorf("message\n got %q\nwant %q", err, tc.msg)
			}
			if n != 0 {
				t.Errorf("consumed %d bytes on error", n)
			}
		})
	}
}

// A count or length the input cannot hold must be rejected before anything
// is allocated for it.
func TestClaimedLengthsDoNotAllocate(t *testing.T) {
	type big struct{ A, B, C, D [64]int64 }
	inputs := []struct {
		name   string
		decode func([]byte) error
	}{
		{"string", func(b []byte) error { _, _, err := codec.String().Decode(b); return err }},
		{"bytes", func(b []byte) error { _, _, err := codec.Bytes().Decode(b); return err }},
		{"slice", func(b []byte) error { _, _, err := codec.Slice(codec.Int64()).Decode(b); return err }},
		{"map", func(b []byte) error { _, _, err := codec.Map(codec.Int64(), codec.Int64()).Decode(b); return err }},
		{"compiled slice", func(b []byte) error { _, _, err := codec.MustFor[[]big]().Decode(b); return err }},
		{"compiled map", func(b []byte) error { _, _, err := codec.MustFor[map[int64]big]().Decode(b); return err }},
		{"compiled strings", func(b []byte) error { _, _, err := codec.MustFor[[]string]().Decode(b); return err }},
	}
	claim := append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, make([]byte, 64)...) // 4G, then 64 bytes
	for _, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := in.decode(claim)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: decoded a 4G-element claim from 69 bytes", in.name)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
			t.Errorf("%s: allocated %d bytes for a 69-byte input", in.name, got)
		}
	}
}

type benchView struct {
	Title     string
	Views     int64
	ErrorRate float64
	EndedAt   time.Time
	Live      bool
	Tags      []string
}

func sampleView() benchView {
	return benchView{
		Title:     "Big Buck Bunny",
		Views:     123456,
		ErrorRate: 0.0125,
		EndedAt:   time.Date(2025, 5, 6, 7, 8, 9, 10, time.UTC),
		Live:      true,
		Tags:      []string{"cdn-a", "hls", "1080p"},
	}
}

// The compiled codec must not allocate to encode, and only for the
// decoded strings and slices to decode. An extra allocation per call means
// the value escaped to the heap (see encodeOps), which costs throughput on
// every record.
func TestStructAllocations(t *testing.T) {
	c := mustStruct[benchView]()
	v := sampleView()
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = c.Append(buf[:0], v) }); n != 0 {
		t.Errorf("Append: %v allocations, want 0", n)
	}
	enc := c.Append(nil, v)
	// Title; Tags' slice and the bytes its strings share.
	if n := testing.AllocsPerRun(100, func() { _, _, _ = c.Decode(enc) }); n != 3 {
		t.Errorf("Decode: %v allocations, want 3", n)
	}
	k := codec.Int64()
	if n := testing.AllocsPerRun(100, func() { buf = k.Append(buf[:0], 42) }); n != 0 {
		t.Errorf("Int64 Append: %v allocations, want 0", n)
	}
}

// int and uint always take eight bytes; where they are 32 bits wide, values
// written on a 64-bit machine may not fit and must fail to decode.
func TestIntRange(t *testing.T) {
	big := codec.Int64().Append(nil, 1<<40)
	_, _, errInt := codec.Int().Decode(big)
	_, _, errFor := codec.MustFor[[]int]().Decode(append([]byte{1}, big...))
	bigU := codec.Uint64().Append(nil, 1<<40)
	_, _, errUint := codec.Uint().Decode(bigU)
	for _, err := range []error{errInt, errFor, errUint} {
		if strconv.IntSize == 64 && err != nil {
			t.Errorf("64-bit: %v", err)
		}
		if strconv.IntSize == 32 && !errors.Is(err, codec.ErrInvalid) {
			t.Errorf("32-bit: err = %v, want ErrInvalid", err)
		}
	}
}

// liar is a user codec that claims to have used more bytes than it got.
type liar struct{}

func (liar) Append(dst []byte, _ int) []byte     { return append(dst, 0) }
func (liar) Decode(src []byte) (int, int, error) { return 0, len(src) + 1, nil }

// userInt is a user codec: this package does not know its minimum size.
type userInt struct{}

func (userInt) Append(dst []byte, v int) []byte { return append(dst, byte(v)) }
func (userInt) Decode(src []byte) (int, int, error) {
	if len(src) == 0 {
		return 0, 0, errors.New("userInt: empty")
	}
	return int(src[0]), 1, nil
}

func TestUserCodecs(t *testing.T) {
	for name, decode := range map[string]func([]byte) error{
		"slice":     func(b []byte) error { _, _, err := codec.Slice[int](liar{}).Decode(b); return err },
		"map key":   func(b []byte) error { _, _, err := codec.Map[int, int](liar{}, userInt{}).Decode(b); return err },
		"map value": func(b []byte) error { _, _, err := codec.Map[int, int](userInt{}, liar{}).Decode(b); return err },
		"pointer":   func(b []byte) error { _, _, err := codec.Pointer[int](liar{}).Decode(b); return err },
		"nested":    func(b []byte) error { _, _, err := codec.Slice(codec.Slice[int](liar{})).Decode(b); return err },
	} {
		if err := decode([]byte{1, 1, 0, 0}); !errors.Is(err, codec.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}

	// Unknown element sizes: counts are bounded by the bytes left.
	s := codec.Slice[int](userInt{})
	if _, _, err := s.Decode([]byte{3, 1, 2}); !errors.Is(err, codec.ErrShort) {
		t.Errorf("count 3 with 2 bytes: err = %v, want ErrShort", err)
	}
	got, n, err := s.Decode(s.Append(nil, []int{7, 8, 9}))
	if err != nil || n != 4 || !slices.Equal(got, []int{7, 8, 9}) {
		t.Errorf("round trip: %v %d %v", got, n, err)
	}
	// A user codec's own error is wrapped with the element and offset.
	_, _, err = codec.Map[int, int](userInt{}, userInt{}).Decode([]byte{1, 5})
	if want := "codec: decode map[int]int at byte 2: entry 0 value: userInt: empty"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}
