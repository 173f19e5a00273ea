package codec

import (
	"encoding/binary"
	"time"
)

// sizer is implemented by this package's codecs: minSize is the fewest bytes
// any value takes, 0 only when every value takes zero bytes. Slice and Map
// use it to reject element counts that the input cannot hold before
// allocating for them.
type sizer interface{ minSize() int }

// minSizeOf returns c's minimum encoded size, or -1 if c does not say.
func minSizeOf(c any) int {
	if s, ok := c.(sizer); ok {
		return s.minSize()
	}
	return -1
}

type stringCodec struct{}

// String returns the codec for strings: the byte length as a uvarint, then
// the bytes. The length prefix keeps concatenated keys unambiguous ("ab","c"
// and "a","bc" encode differently); it also means encodings of strings of
// different lengths do not sort in string order.
func String() Codec[string] { return stringCodec{} }

func (stringCodec) Append(dst []byte, v string) []byte { return appendString(dst, v) }
func (stringCodec) minSize() int                       { return 1 }
func (stringCodec) Decode(src []byte) (string, int, error) {
	v, n, err := readString(src, 0)
	if err != nil {
		return "", 0, decodeError("string", 0, err)
	}
	return v, n, nil
}

type bytesCodec struct{}

// Bytes returns the codec for byte slices, laid out like String. Nil and
// empty slices encode alike and decode as nil. Decode copies the bytes out
// of its input.
func Bytes() Codec[[]byte] { return bytesCodec{} }

func (bytesCodec) Append(dst []byte, v []byte) []byte {
	return append(appendUvarint(dst, len(v)), v...)
}
func (bytesCodec) minSize() int { return 1 }
func (bytesCodec) Decode(src []byte) ([]byte, int, error) {
	v, n, err := readBytes(src, 0)
	if err != nil {
		return nil, 0, decodeError("[]byte", 0, err)
	}
	return v, n, nil
}

type boolCodec struct{}

// Bool returns the codec for bools: one byte, 0x00 for false and 0x01 for
// true. Decode rejects any other byte.
func Bool() Codec[bool] { return boolCodec{} }

func (boolCodec) Append(dst []byte, v bool) []byte { return appendBool(dst, v) }
func (boolCodec) minSize() int                     { return 1 }
func (boolCodec) Decode(src []byte) (bool, int, error) {
	v, n, err := readBool(src, 0)
	if err != nil {
		return false, 0, decodeError("bool", 0, err)
	}
	return v, n, nil
}

type intCodec struct{}

// Int returns the codec for int: eight bytes on every platform, laid out
// like Int64. On a 32-bit platform Decode rejects values out of int's range.
func Int() Codec[int] { return intCodec{} }

func (intCodec) Append(dst []byte, v int) []byte { return appendInt64(dst, int64(v)) }
func (intCodec) minSize() int                    { return 8 }
func (intCodec) Decode(src []byte) (int, int, error) {
	v, n, err := readInt(src, 0)
	if err != nil {
		return 0, 0, decodeError("int", 0, err)
	}
	return v, n, nil
}

type int8Codec struct{}

// Int8 returns the codec for int8: one byte, the two's complement with the
// sign bit flipped, so that byte order is numeric order.
func Int8() Codec[int8] { return int8Codec{} }

func (int8Codec) Append(dst []byte, v int8) []byte { return append(dst, uint8(v)^0x80) }
func (int8Codec) minSize() int                     { return 1 }
func (int8Codec) Decode(src []byte) (int8, int, error) {
	u, n, err := readU8(src, 0)
	if err != nil {
		return 0, 0, decodeError("int8", 0, err)
	}
	return int8(u ^ 0x80), n, nil
}

type int16Codec struct{}

// Int16 returns the codec for int16: two bytes, big-endian two's complement
// with the sign bit flipped, so that byte order is numeric order.
func Int16() Codec[int16] { return int16Codec{} }

func (int16Codec) Append(dst []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(v)^0x8000)
}
func (int16Codec) minSize() int { return 2 }
func (int16Codec) Decode(src []byte) (int16, int, error) {
	u, n, err := readU16(src, 0)
	if err != nil {
		return 0, 0, decodeError("int16", 0, err)
	}
	return int16(u ^ 0x8000), n, nil
}

type int32Codec struct{}

// Int32 returns the codec for int32: four bytes, big-endian two's complement
// with the sign bit flipped, so that byte order is numeric order.
func Int32() Codec[int32] { return int32Codec{} }

func (int32Codec) Append(dst []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(v)^0x80000000)
}
func (int32Codec) minSize() int { return 4 }
func (int32Codec) Decode(src []byte) (int32, int, error) {
	u, n, err := readU32(src, 0)
	if err != nil {
		return 0, 0, decodeError("int32", 0, err)
	}
	return int32(u ^ 0x80000000), n, nil
}

type int64Codec struct{}

// Int64 returns the codec for int64: eight bytes, big-endian two's
// complement with the sign bit flipped, so that byte order is numeric order
// (math.MinInt64 is 00 00 00 00 00 00 00 00, 0 is 80 00 00 00 00 00 00 00).
func Int64() Codec[int64] { return int64Codec{} }

func (int64Codec) Append(dst []byte, v int64) []byte { return appendInt64(dst, v) }
func (int64Codec) minSize() int                      { return 8 }
func (int64Codec) Decode(src []byte) (int64, int, error) {
	v, n, err := readInt64(src, 0)
	if err != nil {
		return 0, 0, decodeError("int64", 0, err)
	}
	return v, n, nil
}

type uintCodec struct{}

// Uint returns the codec for uint: eight bytes on every platform, laid out
// like Uint64. On a 32-bit platform Decode rejects values out of uint's
// range.
func Uint() Codec[uint] { return uintCodec{} }

func (uintCodec) Append(dst []byte, v uint) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}
func (uintCodec) minSize() int { return 8 }
func (uintCodec) Decode(src []byte) (uint, int, error) {
	v, n, err := readUint(src, 0)
	if err != nil {
		return 0, 0, decodeError("uint", 0, err)
	}
	return v, n, nil
}

type uint8Codec struct{}

// Uint8 returns the codec for uint8 (byte): the byte itself.
func Uint8() Codec[uint8] { return uint8Codec{} }

func (uint8Codec) Append(dst []byte, v uint8) []byte { return append(dst, v) }
func (uint8Codec) minSize() int                      { return 1 }
func (uint8Codec) Decode(src []byte) (uint8, int, error) {
	v, n, err := readU8(src, 0)
	if err != nil {
		return 0, 0, decodeError("uint8", 0, err)
	}
	return v, n, nil
}

type uint16Codec struct{}

// Uint16 returns the codec for uint16: two bytes, big-endian.
func Uint16() Codec[uint16] { return uint16Codec{} }

func (uint16Codec) Append(dst []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(dst, v)
}
func (uint16Codec) minSize() int { return 2 }
func (uint16Codec) Decode(src []byte) (uint16, int, error) {
	v, n, err := readU16(src, 0)
	if err != nil {
		return 0, 0, decodeError("uint16", 0, err)
	}
	return v, n, nil
}

type uint32Codec struct{}

// Uint32 returns the codec for uint32: four bytes, big-endian.
func Uint32() Codec[uint32] { return uint32Codec{} }

func (uint32Codec) Append(dst []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(dst, v)
}
func (uint32Codec) minSize() int { return 4 }
func (uint32Codec) Decode(src []byte) (uint32, int, error) {
	v, n, err := readU32(src, 0)
	if err != nil {
		return 0, 0, decodeError("uint32", 0, err)
	}
	return v, n, nil
}

type uint64Codec struct{}

// Uint64 returns the codec for uint64: eight bytes, big-endian.
func Uint64() Codec[uint64] { return uint64Codec{} }

func (uint64Codec) Append(dst []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, v)
}
func (uint64Codec) minSize() int { return 8 }
func (uint64Codec) Decode(src []byte) (uint64, int, error) {
	v, n, err := readU64(src, 0)
	if err != nil {
		return 0, 0, decodeError("uint64", 0, err)
	}
	return v, n, nil
}

type float32Codec struct{}

// Float32 returns the codec for float32: the four IEEE 754 bytes,
// big-endian, with the sign bit flipped for positive numbers and every bit
// flipped for negative ones, so that byte order is numeric order. Every bit
// pattern round-trips, NaN payloads included; -0 and +0 encode differently.
func Float32() Codec[float32] { return float32Codec{} }

func (float32Codec) Append(dst []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(dst, float32Key(v))
}
func (float32Codec) minSize() int { return 4 }
func (float32Codec) Decode(src []byte) (float32, int, error) {
	k, n, err := readU32(src, 0)
	if err != nil {
		return 0, 0, decodeError("float32", 0, err)
	}
	return float32FromKey(k), n, nil
}

type float64Codec struct{}

// Float64 returns the codec for float64: the eight IEEE 754 bytes,
// big-endian, with the sign bit flipped for positive numbers and every bit
// flipped for negative ones, so that byte order is numeric order. Every bit
// pattern round-trips, NaN payloads included; -0 and +0 encode differently,
// so floats that compare equal can be different keys.
func Float64() Codec[float64] { return float64Codec{} }

func (float64Codec) Append(dst []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(dst, float64Key(v))
}
func (float64Codec) minSize() int { return 8 }
func (float64Codec) Decode(src []byte) (float64, int, error) {
	k, n, err := readU64(src, 0)
	if err != nil {
		return 0, 0, decodeError("float64", 0, err)
	}
	return float64FromKey(k), n, nil
}

type timeCodec struct{}

// Time returns the codec for time.Time: the Unix time in nanoseconds, laid
// out like Int64, so that byte order is time order.
//
// The encoding keeps the instant only. Decode returns the time in UTC: the
// location (time zone) and any monotonic clock reading are lost, so compare
// decoded times with Time.Equal, not ==. The zero Time encodes as
// math.MinInt64 (eight zero bytes) and decodes as the zero Time. Times
// before 1677-09-21T00:12:43.145224193Z or after
// 2262-04-11T23:47:16.854775807Z, which int64 nanoseconds cannot hold, are
// clamped to those bounds.
func Time() Codec[time.Time] { return timeCodec{} }

func (timeCodec) Append(dst []byte, v time.Time) []byte { return appendTime(dst, v) }
func (timeCodec) minSize() int                          { return 8 }
func (timeCodec) Decode(src []byte) (time.Time, int, error) {
	v, n, err := readTime(src, 0)
	if err != nil {
		return time.Time{}, 0, decodeError("time.Time", 0, err)
	}
	return v, n, nil
}

// CanonicalTime returns the time that t's encoding decodes to: the zero
// Time for the zero Time, otherwise t's instant in UTC, without a monotonic
// clock reading, clamped to the range Time's encoding holds. Two times
// encode alike exactly when their canonical times are equal by ==, which is
// how Weir gives keys of type time.Time (and structs holding one) an
// identity that agrees with their encoding.
func CanonicalTime(t time.Time) time.Time { return nanosTime(timeNanos(t)) }

type durationCodec struct{}

// Duration returns the codec for time.Duration, laid out like Int64.
func Duration() Codec[time.Duration] { return durationCodec{} }

func (durationCodec) Append(dst []byte, v time.Duration) []byte {
	return appendInt64(dst, int64(v))
}
func (durationCodec) minSize() int { return 8 }
func (durationCodec) Decode(src []byte) (time.Duration, int, error) {
	v, n, err := readInt64(src, 0)
	if err != nil {
		return 0, 0, decodeError("time.Duration", 0, err)
	}
	return time.Duration(v), n, nil
}

type unitCodec struct{}

// Unit returns the codec for struct{}, which encodes to zero bytes. It is
// the value codec of a keyed set (Map with Unit values) and the namespace
// codec of state that has no namespace.
func Unit() Codec[struct{}] { return unitCodec{} }

func (unitCodec) Append(dst []byte, _ struct{}) []byte { return dst }
func (unitCodec) minSize() int                         { return 0 }
func (unitCodec) Decode([]byte) (struct{}, int, error) { return struct{}{}, 0, nil }
