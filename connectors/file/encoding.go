package file

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/weirstream/weir/connectors/format"
)

// Encoding writes part files in a file format with more to it than lines:
// CSV, with a header row in every file, and Parquet, a bulk format whose
// files are written whole (a footer ends them). CSV and Parquet return
// one; other formats (Avro, ORC) can implement it.
//
// Every part file is complete when the sink rolls it, which it does at
// every checkpoint (as Flink rolls bulk formats on checkpoints), at
// Config.RollSize and at Config.RollInterval; so a committed file is
// always a whole file of its format.
type Encoding[T any] interface {
	// NewFile starts a part file written to w, writing what comes before
	// the records (a header row) if anything.
	NewFile(w io.Writer) (FileEncoder[T], error)
}

// FileEncoder writes the records of one part file. It is used from one
// goroutine at a time.
type FileEncoder[T any] interface {
	// Encode writes v. An error that leaves the file as it was (a record
	// that cannot be encoded) is v's own: the job's error policy handles
	// it and the file goes on. An encoder that fails having written part
	// of v must fail every later call, Close included, so that the file
	// is never committed.
	Encode(v T) error
	// Close finishes the file, writing what ends it (a footer); it does
	// not close w.
	Close() error
}

// sizer is implemented by encoders that buffer records before writing
// them to the file (Parquet): Size estimates the size of the finished
// file, which RollSize is measured against.
type sizer interface{ Size() int64 }

// linesEncoding writes the lines Config.Format makes.
type linesEncoding[T any] struct{ format func(T) ([]byte, error) }

func (e linesEncoding[T]) NewFile(w io.Writer) (FileEncoder[T], error) {
	return &linesFile[T]{format: e.format, w: w}, nil
}

type linesFile[T any] struct {
	format func(T) ([]byte, error)
	w      io.Writer
	line   []byte
}

func (f *linesFile[T]) Encode(v T) error {
	rec, err := f.format(v)
	if err != nil {
		return fmt.Errorf("format: %w", err)
	}
	f.line = append(append(f.line[:0], rec...), '\n')
	_, err = f.w.Write(f.line)
	return err
}

func (f *linesFile[T]) Close() error { return nil }

// CSV returns an Encoding of CSV files in the format f: each part file
// starts with a header row, f's columns (f.Columns), followed by a row per
// record (f.Encode), fields separated by f's separator and quoted as RFC
// 4180 says; rows end in "\n". A format without columns (a format.Record
// without CSVConfig.Columns) gets them from f.WithHeader first.
func CSV[T any](f *format.CSVFormat[T]) (Encoding[T], error) {
	if f == nil {
		return nil, errors.New("file: CSV: the format is nil")
	}
	header := slices.Clone(f.Columns())
	if len(header) == 0 {
		return nil, errors.New("file: CSV: the format has no columns (set CSVConfig.Columns, or give it a header with WithHeader)")
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Comma = f.Comma()
	if err := cw.Write(header); err != nil {
		return nil, fmt.Errorf("file: CSV: header: %w", err)
	}
	cw.Flush()
	return &csvEncoding[T]{f: f, header: buf.Bytes()}, nil
}

type csvEncoding[T any] struct {
	f      *format.CSVFormat[T]
	header []byte // the header row, with its line break
}

func (e *csvEncoding[T]) NewFile(w io.Writer) (FileEncoder[T], error) {
	if _, err := w.Write(e.header); err != nil {
		return nil, err
	}
	return &csvFile[T]{f: e.f, w: w}, nil
}

type csvFile[T any] struct {
	f   *format.CSVFormat[T]
	w   io.Writer
	row []byte
}

func (f *csvFile[T]) Encode(v T) error {
	row, err := f.f.Encode(f.row[:0], v)
	if err != nil {
		return err
	}
	f.row = append(row, '\n')
	_, err = f.w.Write(f.row)
	return err
}

func (f *csvFile[T]) Close() error { return nil }

// Parquet returns an Encoding of Parquet files whose schema is that of T,
// a struct (parquet struct tags name the columns and set their encodings;
// see github.com/parquet-go/parquet-go). Files are Snappy-compressed
// unless opts say otherwise; opts are those of parquet.NewGenericWriter.
//
// A Parquet file keeps its rows in memory until it is closed (or a row
// group is full: parquet.MaxRowsPerRowGroup), so a part file's size, which
// RollSize bounds, is the writer's estimate and memory grows with it.
func Parquet[T any](opts ...parquet.WriterOption) (enc Encoding[T], err error) {
	opts = append([]parquet.WriterOption{parquet.Compression(&parquet.Snappy)}, opts...)
	// Writing a zero T to nowhere shows a type parquet cannot write, and
	// bad options, now rather than at the first record (the writer panics
	// on them).
	defer func() {
		if p := recover(); p != nil {
			enc, err = nil, fmt.Errorf("file: Parquet[%T]: %v", *new(T), p)
		}
	}()
	w := parquet.NewGenericWriter[T](io.Discard, opts...)
	if _, err := w.Write(make([]T, 1)); err != nil {
		return nil, fmt.Errorf("file: Parquet[%T]: %w", *new(T), err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("file: Parquet[%T]: %w", *new(T), err)
	}
	return &parquetEncoding[T]{opts: opts}, nil
}

type parquetEncoding[T any] struct{ opts []parquet.WriterOption }

func (e *parquetEncoding[T]) NewFile(w io.Writer) (FileEncoder[T], error) {
	return &parquetFile[T]{w: parquet.NewGenericWriter[T](w, e.opts...)}, nil
}

type parquetFile[T any] struct {
	w   *parquet.GenericWriter[T]
	row [1]T
	err error // a failed write: the file is broken
}

func (f *parquetFile[T]) Encode(v T) error {
	if f.err != nil {
		return f.err
	}
	f.row[0] = v
	_, err := f.w.Write(f.row[:])
	f.row[0] = *new(T)
	if err != nil {
		f.err = fmt.Errorf("parquet: %w", err)
	}
	return f.err
}

func (f *parquetFile[T]) Close() error {
	if f.err != nil {
		return f.err
	}
	return f.w.Close()
}

func (f *parquetFile[T]) Size() int64 { return f.w.Size() }
