package codec_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
)

// The fuzz targets feed arbitrary bytes to the decoders. Decoding must never
// panic; it either fails with a *DecodeError wrapping ErrShort or
// ErrInvalid, or succeeds, and then the value must encode back to exactly
// the bytes it was decoded from (every value has one encoding) and decode
// again. Seeds are added below; testdata/fuzz/<target>/ holds the inputs
// earlier fuzzing runs found interesting (copied from the fuzz cache in
// $(go env GOCACHE)/fuzz) and any that once failed, all of which plain
// go test replays.
//
//	go test ./codec/ -run '^$' -fuzz '^FuzzStructDecode$' -fuzztime 1m

func checkCanonical[T any](t *testing.T, c codec.Codec[T], data []byte) {
	t.Helper()
	v, n, err := c.Decode(data)
	if err != nil {
		var de *codec.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error %T %q is not a *DecodeError", err, err)
		}
		if !errors.Is(err, codec.ErrShort) && !errors.Is(err, codec.ErrInvalid) {
			t.Fatalf("error %q wraps neither ErrShort nor ErrInvalid", err)
		}
		if de.Offset < 0 || de.Offset > len(data) {
			t.Fatalf("error offset %d outside the %d-byte input", de.Offset, len(data))
		}
		if n != 0 {
			t.Fatalf("consumed %d bytes on error", n)
		}
		_ = err.Error()
		return
	}
	if n < 0 || n > len(data) {
		t.Fatalf("consumed %d of %d bytes", n, len(data))
	}
	enc := c.Append(nil, v)
	if !bytes.Equal(enc, data[:n]) {
		t.Fatalf("decoded % x, which encodes as % x", data[:n], enc)
	}
	v2, n2, err := c.Decode(enc)
	if err != nil || n2 != len(enc) {
		t.Fatalf("decoding the re-encoding: n=%d of %d, err %v", n2, len(enc), err)
	}
	if enc2 := c.Append(nil, v2); !bytes.Equal(enc2, enc) {
		t.Fatalf("second round trip gives % x, want % x", enc2, enc)
	}
}

// fuzzOne returns a check of data against c.
func fuzzOne[T any](c codec.Codec[T]) func(*testing.T, []byte) {
	return func(t *testing.T, data []byte) { checkCanonical(t, c, data) }
}

// addSeeds adds the encoding of each value (with selector sel) and every
// one-byte-shorter prefix of it.
func addSeeds[T any](f *testing.F, sel uint8, c codec.Codec[T], vs ...T) {
	for _, v := range vs {
		enc := c.Append(nil, v)
		if sel == noSel {
			f.Add(enc)
			if len(enc) > 0 {
				f.Add(enc[:len(enc)-1])
			}
			continue
		}
		f.Add(sel, enc)
		if len(enc) > 0 {
			f.Add(sel, enc[:len(enc)-1])
		}
	}
}

const noSel = 255

// Two NaNs, with different payloads; a map can hold both, or either twice.
var (
	nanA = math.Float64frombits(0x7ff8_0000_0000_0001)
	nanB = math.Float64frombits(0xfff8_0000_0000_0002)
)

func FuzzStringDecode(f *testing.F) {
	addSeeds(f, noSel, codec.String(), "", "a", "héllo", string(make([]byte, 200)))
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(fuzzOne(codec.String()))
}

func FuzzBytesDecode(f *testing.F) {
	addSeeds(f, noSel, codec.Bytes(), nil, []byte{0}, make([]byte, 300))
	f.Fuzz(fuzzOne(codec.Bytes()))
}

// numberChecks are the fixed-width codecs, chosen by a selector byte.
var numberChecks = []func(*testing.T, []byte){
	fuzzOne(codec.Bool()), fuzzOne(codec.Int()), fuzzOne(codec.Int8()), fuzzOne(codec.Int16()),
	fuzzOne(codec.Int32()), fuzzOne(codec.Int64()), fuzzOne(codec.Uint()), fuzzOne(codec.Uint8()),
	fuzzOne(codec.Uint16()), fuzzOne(codec.Uint32()), fuzzOne(codec.Uint64()),
	fuzzOne(codec.Float32()), fuzzOne(codec.Float64()),
}

func FuzzNumberDecode(f *testing.F) {
	for sel := range len(numberChecks) {
		f.Add(uint8(sel), []byte{0x80, 0, 0, 0, 0, 0, 0, 1})
		f.Add(uint8(sel), []byte{0xff, 0xf8, 0, 0, 0, 0, 0, 1})
		f.Add(uint8(sel), []byte{2})
	}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		numberChecks[int(sel)%len(numberChecks)](t, data)
	})
}

func FuzzTimeDecode(f *testing.F) {
	addSeeds(f, 0, codec.Time(), time.Time{}, time.Unix(0, 0), time.Unix(0, math.MaxInt64), time.Unix(0, math.MinInt64+1))
	addSeeds(f, 1, codec.Duration(), 0, -1, math.MaxInt64)
	checks := []func(*testing.T, []byte){fuzzOne(codec.Time()), fuzzOne(codec.Duration())}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		checks[int(sel)%len(checks)](t, data)
	})
}

func FuzzSliceDecode(f *testing.F) {
	strs := codec.Slice(codec.String())
	ints := codec.Slice(codec.Int32())
	nested := codec.Slice(codec.Slice(codec.Bool()))
	units := codec.Slice(codec.Unit())
	ptrs := codec.Slice(codec.Pointer(codec.Uint16()))
	addSeeds(f, 0, strs, nil, []string{"a", "", "bc"})
	addSeeds(f, 1, ints, []int32{-1, 0, 1})
	addSeeds(f, 2, nested, [][]bool{{true}, nil, {false, true}})
	addSeeds(f, 3, units, make([]struct{}, 3))
	seven := uint16(7)
	addSeeds(f, 4, ptrs, []*uint16{nil, &seven})
	checks := []func(*testing.T, []byte){fuzzOne(strs), fuzzOne(ints), fuzzOne(nested), fuzzOne(units), fuzzOne(ptrs)}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		checks[int(sel)%len(checks)](t, data)
	})
}

func FuzzMapDecode(f *testing.F) {
	byName := codec.Map(codec.String(), codec.Int64())
	byFloat := codec.Map(codec.Float64(), codec.Int8())
	nested := codec.Map(codec.Int8(), codec.Map(codec.String(), codec.Unit()))
	unitKey := codec.Map(codec.Unit(), codec.String())
	addSeeds(f, 0, byName, nil, map[string]int64{"a": 1, "bb": 2, "c": 3})
	addSeeds(f, 1, byFloat, map[float64]int8{nanA: 1, nanB: 2, -1: 3})
	addSeeds(f, 2, nested, map[int8]map[string]struct{}{1: {"x": {}}, -1: nil})
	addSeeds(f, 3, unitKey, map[struct{}]string{{}: "v"})
	checks := []func(*testing.T, []byte){fuzzOne(byName), fuzzOne(byFloat), fuzzOne(nested), fuzzOne(unitKey)}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		checks[int(sel)%len(checks)](t, data)
	})
}

func FuzzPointerDecode(f *testing.F) {
	str := codec.Pointer(codec.String())
	ptrptr := codec.Pointer(codec.Pointer(codec.Int8()))
	addSeeds(f, 0, str, nil, ptr("x"))
	addSeeds(f, 1, ptrptr, nil, ptr[*int8](nil), ptr(ptr(int8(-3))))
	checks := []func(*testing.T, []byte){fuzzOne(str), fuzzOne(ptrptr)}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		checks[int(sel)%len(checks)](t, data)
	})
}

func FuzzStructDecode(f *testing.F) {
	c := mustStruct[Everything]()
	addSeeds(f, noSel, c, Everything{}, sampleEverything())
	view := mustStruct[benchView]()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCanonical(t, c, data)
		checkCanonical(t, view, data)
	})
}

// FuzzForDecode covers the compiled codecs of non-struct types.
func FuzzForDecode(f *testing.F) {
	points := codec.MustFor[[]Point]()
	byPoint := codec.MustFor[map[Point]Title]()
	leaves := codec.MustFor[[3]Leaf]()
	counters := codec.MustFor[map[[2]uint8]Counter]()
	units := codec.MustFor[[]struct{}]()
	byFloat := codec.MustFor[map[float64][]string]()
	ptrs := codec.MustFor[[]*Point]()
	addSeeds(f, 0, points, []Point{{1, 2}, {-1, -2}})
	addSeeds(f, 1, byPoint, map[Point]Title{{1, 2}: "a", {0, 0}: ""})
	addSeeds(f, 2, leaves, [3]Leaf{{Name: "x", Raw: []byte{1}}})
	addSeeds(f, 3, counters, map[[2]uint8]Counter{{1, 1}: {N: 1}, {0, 9}: {Last: time.Unix(1, 0)}})
	addSeeds(f, 4, units, make([]struct{}, 4))
	addSeeds(f, 5, byFloat, map[float64][]string{nanA: {"n"}, nanB: nil, 2: {"a", "b"}})
	addSeeds(f, 6, ptrs, []*Point{nil, {3, 4}})
	checks := []func(*testing.T, []byte){
		fuzzOne(points), fuzzOne(byPoint), fuzzOne(leaves), fuzzOne(counters),
		fuzzOne(units), fuzzOne(byFloat), fuzzOne(ptrs),
	}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		checks[int(sel)%len(checks)](t, data)
	})
}
