// Package format turns the bytes of a message, a line or a file's record
// into a typed value and back: JSON, CSV, Protobuf, raw bytes and text,
// with the connectors (Kafka, files, the HTTP collector) taking a Decoder
// or an Encoder so that any of them reads and writes any format.
//
// A format decodes into a Go type (JSON, CSV into a struct,
// ProtobufMessage) or, when the shape is known only at run time, into a
// Record (JSONRecord, CSV, Protobuf), the generic message the declarative
// pipelines filter and project.
//
// A connector calls Decode once per message; a message that does not
// decode is rejected with its error (weir.SourceOutput.Reject), which the
// job's error policy sends to the dead-letter output with the source, split
// and offset. The errors say where a message went wrong: the CSV column,
// the JSON byte offset, the Protobuf field. Decoders and encoders are
// called from the tasks of every subtask at once, so they must be safe for
// concurrent use; every format here is.
package format

import (
	"fmt"
	"sync"

	json "github.com/goccy/go-json"
)

// Decoder turns one message's bytes into a T. It must not keep data (the
// caller reuses it) nor any part of it in the T it returns.
type Decoder[T any] interface {
	Decode(data []byte) (T, error)
}

// Encoder appends the encoding of v to dst and returns the extended slice.
type Encoder[T any] interface {
	Encode(dst []byte, v T) ([]byte, error)
}

// Format is a Decoder and an Encoder of one encoding.
type Format[T any] interface {
	Decoder[T]
	Encoder[T]
}

// JSON is the JSON format of T: a JSON value decoded into a T with the
// rules of encoding/json (struct tags, unknown fields ignored), and a T
// encoded as one line of JSON without a trailing newline.
func JSON[T any]() Format[T] { return jsonFormat[T]{} }

type jsonFormat[T any] struct{}

func (jsonFormat[T]) Decode(data []byte) (T, error) {
	var v T
	if err := json.UnmarshalOf(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("json: %w", err)
	}
	return v, nil
}

func (jsonFormat[T]) Encode(dst []byte, v T) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	e.out.b = dst
	err := e.enc.Encode(v)
	b := e.out.b
	e.out.b = nil
	jsonEncoders.Put(e)
	if err != nil {
		return dst, fmt.Errorf("json: %w", err)
	}
	return b[:len(b)-1], nil // without the newline the encoder ends a value with
}

// jsonEncoder appends values' encodings to a caller's slice, so that
// encoding a value allocates nothing of its own (json.Marshal returns a
// copy of its buffer); a pool keeps one per concurrent caller. The encoder
// escapes HTML characters as json.Marshal does.
type jsonEncoder struct {
	out *appendWriter
	enc *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	w := &appendWriter{}
	return &jsonEncoder{out: w, enc: json.NewEncoder(w)}
}}

// appendWriter is an io.Writer appending to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Bytes is the raw format: a message's bytes as they are (a copy).
func Bytes() Format[[]byte] { return bytesFormat{} }

type bytesFormat struct{}

func (bytesFormat) Decode(data []byte) ([]byte, error)          { return append([]byte(nil), data...), nil }
func (bytesFormat) Encode(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }

// String is the text format: a message's bytes as a string, not checked
// for UTF-8.
func String() Format[string] { return stringFormat{} }

type stringFormat struct{}

func (stringFormat) Decode(data []byte) (string, error)          { return string(data), nil }
func (stringFormat) Encode(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
