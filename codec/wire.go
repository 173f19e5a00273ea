package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalid reports bytes that no value encodes to: a bool byte other than
// 0 or 1, a varint that is not in shortest form, map keys out of order and so
// on. Decoders accept only the one encoding each value has, so that decoding
// and encoding again gives back the same bytes.
var ErrInvalid = errors.New("codec: invalid encoding")

var (
	errVarintOverflow   = fmt.Errorf("%w: varint overflows 64 bits", ErrInvalid)
	errVarintNonMinimal = fmt.Errorf("%w: varint not in shortest form", ErrInvalid)
	errBool             = fmt.Errorf("%w: bool byte is not 0 or 1", ErrInvalid)
	errPointerTag       = fmt.Errorf("%w: pointer tag is not 0 or 1", ErrInvalid)
	errMapOrder         = fmt.Errorf("%w: map entries not in ascending order of their encodings", ErrInvalid)
	errIntRange         = fmt.Errorf("%w: value out of range for this platform's int", ErrInvalid)
)

// signBit64 flips the sign bit of a two's-complement int64 so that the
// big-endian bytes of the result sort in numeric order.
const signBit64 = 1 << 63

// maxZeroWidthCount bounds the element count of a slice whose elements encode
// to zero bytes (such as []struct{}). Such a count is not backed by input
// bytes, so without a bound a few bytes could ask for an arbitrarily long
// loop.
const maxZeroWidthCount = 1 << 24

// zeroTimeNanos is the encoding of the zero time.Time. The zero time (year 1)
// is outside the int64 nanosecond range, so it borrows the smallest int64,
// whose encoding is eight zero bytes and sorts before every other time.
const zeroTimeNanos = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// pathError carries the field path of a decoding failure inside a struct,
// slice or map, from the innermost value outwards.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return "field " + e.path + ": " + errText(e.err) }
func (e *pathError) Unwrap() error { return e.err }

// withPath prefixes the path of err with seg ("Items", "[]", "[key]").
func withPath(seg string, err error) error {
	if seg == "" {
		return err
	}
	if pe, ok := err.(*pathError); ok {
		if pe.path[0] == '[' {
			pe.path = seg + pe.path
		} else {
			pe.path = seg + "." + pe.path
		}
		return pe
	}
	return &pathError{path: seg, err: err}
}

// decodeError builds the error a Decode method returns.
func decodeError(typ string, off int, err error) error {
	return &DecodeError{Type: typ, Offset: off, Err: err}
}

// wrapInner turns the error of a codec decoding part of a composite value
// that starts at byte base into an error of the composite.
func wrapInner(typ string, base int, what string, err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		return &DecodeError{Type: typ, Offset: base + de.Offset, Err: &partError{what, de.Err}}
	}
	return &DecodeError{Type: typ, Offset: base, Err: &partError{what, err}}
}

// partError says which part of a composite value failed to decode.
type partError struct {
	part string // "element 3", "entry 0 key"
	err  error
}

func (e *partError) Error() string { return e.part + ": " + errText(e.err) }
func (e *partError) Unwrap() error { return e.err }

// readUvarint reads a varint in shortest form at src[pos:] and returns it with
// the position after it.
func readUvarint(src []byte, pos int) (uint64, int, error) {
	if pos < len(src) && src[pos] < 0x80 {
		return uint64(src[pos]), pos + 1, nil
	}
	x, n := binary.Uvarint(src[pos:])
	switch {
	case n == 0:
		return 0, pos, ErrShort
	case n < 0:
		return 0, pos, errVarintOverflow
	case src[pos+n-1] == 0:
		// A shortest-form varint longer than one byte never ends in a
		// zero byte.
		return 0, pos, errVarintNonMinimal
	}
	return x, pos + n, nil
}

// readLen reads the byte length of a string or byte slice and checks that
// that many bytes follow it.
func readLen(src []byte, pos int) (int, int, error) {
	n, p, err := readUvarint(src, pos)
	if err != nil {
		return 0, pos, err
	}
	if rest := len(src) - p; n > uint64(rest) {
		return 0, pos, fmt.Errorf("%w: length %d, %d bytes left", ErrShort, n, rest)
	}
	return int(n), p, nil
}

// readCount reads an element count and checks it against the bytes left,
// given that each element takes at least minSize bytes. A minSize of 0
// means that every element takes zero bytes; the count is then limited to
// maxZeroWidthCount. A negative minSize means the size is unknown; the
// count is then limited to the bytes left.
func readCount(src []byte, pos, minSize int) (int, int, error) {
	n, p, err := readUvarint(src, pos)
	if err != nil {
		return 0, pos, err
	}
	rest := uint64(len(src) - p)
	switch {
	case minSize > 0:
		if n > rest/uint64(minSize) {
			return 0, pos, fmt.Errorf("%w: %d elements of at least %d bytes, %d bytes left", ErrShort, n, minSize, rest)
		}
	case minSize == 0:
		if n > maxZeroWidthCount {
			return 0, pos, fmt.Errorf("%w: %d zero-width elements, more than %d", ErrInvalid, n, maxZeroWidthCount)
		}
	default:
		if n > rest {
			return 0, pos, fmt.Errorf("%w: %d elements, %d bytes left", ErrShort, n, rest)
		}
	}
	return int(n), p, nil
}

func appendUvarint(dst []byte, x int) []byte {
	for x >= 0x80 {
		dst = append(dst, byte(x)|0x80)
		x >>= 7
	}
	return append(dst, byte(x))
}

func appendString(dst []byte, s string) []byte {
	return append(appendUvarint(dst, len(s)), s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^signBit64)
}

func appendTime(dst []byte, t time.Time) []byte {
	return appendInt64(dst, timeNanos(t))
}

// timeNanos maps t to the int64 of its encoding: Unix nanoseconds, the zero
// time to zeroTimeNanos, times out of range clamped to the nearest end.
func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return zeroTimeNanos
	}
	// Seconds well inside the range need no clamping; UnixNano is exact.
	if s := t.Unix(); s > math.MinInt64/1_000_000_000 && s < math.MaxInt64/1_000_000_000 {
		return t.UnixNano()
	}
	switch {
	case t.Before(minTime):
		return minTime.UnixNano()
	case t.After(maxTime):
		return maxTime.UnixNano()
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// float64Key maps a float's bits to an integer whose big-endian bytes sort
// in the float's order: negative numbers have all bits flipped, others only
// the sign bit.
func float64Key(f float64) uint64 {
	b := math.Float64bits(f)
	if b&signBit64 != 0 {
		return ^b
	}
	return b | signBit64
}

func float64FromKey(k uint64) float64 {
	if k&signBit64 != 0 {
		return math.Float64frombits(k &^ signBit64)
	}
	return math.Float64frombits(^k)
}

func float32Key(f float32) uint32 {
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

func float32FromKey(k uint32) float32 {
	if k&(1<<31) != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}

// The read functions below decode one primitive at src[pos:] and return it
// with the position after it. On error the position is pos.

func readBool(src []byte, pos int) (bool, int, error) {
	if pos >= len(src) {
		return false, pos, ErrShort
	}
	switch src[pos] {
	case 0:
		return false, pos + 1, nil
	case 1:
		return true, pos + 1, nil
	}
	return false, pos, errBool
}

func readU8(src []byte, pos int) (uint8, int, error) {
	if pos >= len(src) {
		return 0, pos, ErrShort
	}
	return src[pos], pos + 1, nil
}

func readU16(src []byte, pos int) (uint16, int, error) {
	if len(src)-pos < 2 {
		return 0, pos, ErrShort
	}
	return binary.BigEndian.Uint16(src[pos:]), pos + 2, nil
}

func readU32(src []byte, pos int) (uint32, int, error) {
	if len(src)-pos < 4 {
		return 0, pos, ErrShort
	}
	return binary.BigEndian.Uint32(src[pos:]), pos + 4, nil
}

func readU64(src []byte, pos int) (uint64, int, error) {
	if len(src)-pos < 8 {
		return 0, pos, ErrShort
	}
	return binary.BigEndian.Uint64(src[pos:]), pos + 8, nil
}

func readInt64(src []byte, pos int) (int64, int, error) {
	u, p, err := readU64(src, pos)
	return int64(u ^ signBit64), p, err
}

func readInt(src []byte, pos int) (int, int, error) {
	v, p, err := readInt64(src, pos)
	if err == nil && int64(int(v)) != v {
		return 0, pos, errIntRange
	}
	return int(v), p, err
}

func readUint(src []byte, pos int) (uint, int, error) {
	v, p, err := readU64(src, pos)
	if err == nil && uint64(uint(v)) != v {
		return 0, pos, errIntRange
	}
	return uint(v), p, err
}

func readString(src []byte, pos int) (string, int, error) {
	n, p, err := readLen(src, pos)
	if err != nil {
		return "", pos, err
	}
	return string(src[p : p+n]), p + n, nil
}

// readBytes copies the bytes out of src, so the result does not keep src
// alive or change with it. An empty byte slice decodes as nil.
func readBytes(src []byte, pos int) ([]byte, int, error) {
	n, p, err := readLen(src, pos)
	if err != nil || n == 0 {
		return nil, p, err
	}
	b := make([]byte, n)
	copy(b, src[p:])
	return b, p + n, nil
}

func readTime(src []byte, pos int) (time.Time, int, error) {
	n, p, err := readInt64(src, pos)
	if err != nil {
		return time.Time{}, pos, err
	}
	return nanosTime(n), p, nil
}
