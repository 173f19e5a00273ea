// Package codec turns values into bytes and back for Weir's state snapshots,
// key-group hashing and exchanges between processes.
//
// A Codec appends the encoding of a value to a byte slice and decodes a value
// from the front of a byte slice, reporting how many bytes it used, so
// encodings can be concatenated without extra framing. Encodings are stable:
// the same value encodes to the same bytes in every process, on every machine
// and in every Weir version, because key groups and savepoints depend on it.
package codec

import (
	"errors"
	"fmt"
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
	return fmt.Sprintf("codec: decode %s at byte %d: %v", e.Type, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
