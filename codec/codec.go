// Package codec turns values into bytes and back for Weir's state snapshots,
// key-group hashing and exchanges between processes.
//
// A Codec appends the encoding of a value to a byte slice and decodes a value
// from the front of a byte slice, reporting how many bytes it used, so
// encodings can be concatenated without extra framing. Encodings are stable:
// the same value encodes to the same bytes in every process, on every machine
// and in every Weir version, because key groups and savepoints depend on it.
//
// # Choosing a codec
//
// For picks the codec of a type from its kind and is what job-building code
// normally uses; Struct is For restricted to structs. Both inspect the type
// once and compile its layout, so encoding does no reflection per field.
// The primitive constructors (String, Int64, Time…) and the combinators
// Slice, Map and Pointer build the same encodings by hand, for codecs
// assembled from user-written parts.
//
// # Layouts
//
// These byte layouts are part of Weir's stable formats; a test pins each of
// them. Integers are fixed-width and big-endian, with the sign bit of signed
// integers flipped, so that the bytes of two numbers of the same type
// compare in numeric order; floats and times do the same. Lengths and
// counts are unsigned varints (encoding/binary's Uvarint) in shortest form.
//
//	type                  encoding
//	bool                  1 byte: 0x00 false, 0x01 true
//	uint8 … uint64        1, 2, 4, 8 bytes, big-endian
//	uint                  8 bytes, as uint64
//	int8 … int64          1, 2, 4, 8 bytes, big-endian, sign bit flipped
//	int                   8 bytes, as int64
//	float32, float64      IEEE 754 bits, big-endian; sign bit flipped if
//	                      clear, all bits flipped if set
//	time.Duration         as int64 (nanoseconds)
//	time.Time             as int64 Unix nanoseconds; zero Time as MinInt64
//	string, []byte        uvarint length, then the bytes
//	struct{}              nothing
//	[]T                   uvarint count, then each element
//	[N]T                  the N elements, no count ([N]byte: N raw bytes)
//	map[K]V               uvarint count, then key and value of each entry,
//	                      sorted by the key's bytes (then the value's)
//	*T                    0x00 for nil; 0x01, then T
//	struct                its exported fields in declaration order
//	defined types         as their underlying type
//
// For example, int64(1) is 80 00 00 00 00 00 00 01, "héllo" is 06 68 c3 a9
// 6c 6c 6f and []string{"a", "bc"} is 02 01 61 02 62 63.
//
// Every value has exactly one encoding, and decoders reject anything else
// (non-shortest varints, bool bytes other than 0 and 1, unsorted or
// duplicate map keys) with ErrInvalid, so decoding and encoding again gives
// back the input. Encodings carry no type information and no version: a
// struct's encoding changes when its fields do, and data written with one
// layout must be read with the same one. Some information is dropped on
// purpose: unexported struct fields, a time's location and monotonic
// reading, and the difference between nil and empty slices.
//
// # Keys
//
// A key's key group is a hash of its encoding, while Weir finds the key's
// state and timers with Go's ==, so two keys must be == exactly when they
// encode alike. Strings, integers, bools, and structs and arrays of them
// hold to that; other types do not, and Weir's KeyBy (and map state's user
// keys) make up for it or refuse them when the job is built:
//
//   - floats: -0 and +0 are == but encode differently, and NaN is == to
//     nothing, whatever its encoding. KeyBy takes -0 as +0; a record whose
//     key holds NaN is an error.
//   - times: times that differ only in location or monotonic reading, or
//     that lie past the same end of the encodable range, encode alike but
//     are not ==. KeyBy takes every time as CanonicalTime gives it.
//   - struct fields the codec leaves out (unexported, or tagged
//     codec:"-"): keys differing only in them encode alike but are not ==.
//     KeyBy rejects such key types unless a KeyCodec encodes the fields.
//   - pointers encode their pointee, while == compares addresses. KeyBy
//     rejects them, and channels and interfaces, anywhere in a key.
//
// Fixed-width encodings sort in value order, which a sorted store can use for range
// scans; strings and slices do not, because of their length prefix, which
// is what keeps a key made of several strings unambiguous.
//
// # Robustness
//
// Decode never panics, whatever its input, and never allocates for a length
// or count the remaining input cannot hold. Truncated input fails with an
// error wrapping ErrShort, malformed input with one wrapping ErrInvalid,
// both inside a *DecodeError that gives the offset and, within structs, the
// field path.
//
// Codecs hold no mutable state and are safe for concurrent use.
package codec

import (
	"errors"
	"fmt"
	"strings"
)

// Codec encodes and decodes values of type T.
//
// Append must not retain dst. Decode must not retain src in the returned
// value unless T is a byte slice that the caller owns.
type Codec[T any] interface {
	// Append appends the encoding of v to dst and returns the extended slice.
	Append(dst []byte, v T) []byte
	// Decode decodes one value from the front of src and returns it with the
	// number of bytes consumed.
	Decode(src []byte) (T, int, error)
}

// ErrShort reports that the input ended in the middle of a value.
var ErrShort = errors.New("codec: input too short")

// DecodeError reports a malformed encoding.
type DecodeError struct {
	Type   string // the Go type being decoded
	Offset int    // byte offset in the input where decoding failed
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("codec: decode %s at byte %d: %s", e.Type, e.Offset, errText(e.Err))
}

func (e *DecodeError) Unwrap() error { return e.Err }

// errText returns err's message without the "codec: " prefix of this
// package's sentinel errors, so that wrapped messages say it once.
func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.TrimPrefix(err.Error(), "codec: ")
}
