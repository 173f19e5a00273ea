package weir

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// GeneratorSpec configures Generator.
type GeneratorSpec struct {
	// Splits is the number of splits (default 1); records are dealt to them
	// by sequence number, split i getting i, i+Splits, i+2·Splits, ….
	Splits int
	// Count is the total number of records; zero means unbounded.
	Count int64
	// Rate limits the records per second over all splits; zero means as
	// fast as possible.
	Rate float64
}

// Validate reports the first problem with the spec.
func (s GeneratorSpec) Validate() error {
	switch {
	case s.Splits < 0:
		return fmt.Errorf("generator: Splits %d must not be negative", s.Splits)
	case s.Count < 0:
		return fmt.Errorf("generator: Count %d must not be negative", s.Count)
	case !(s.Rate >= 0) || math.IsInf(s.Rate, 1):
		// An infinite rate would make every wait zero-length in theory and
		// the due count overflow in practice: the source would never emit.
		return fmt.Errorf("generator: Rate %v must be a finite number, not negative (0 is as fast as possible)", s.Rate)
	}
	return nil
}

// GeneratorSource produces records from a function of their sequence
// number, so its output is the same in every run.
type GeneratorSource[T any] struct {
	spec GeneratorSpec
	fn   func(seq int64) T
}

// Generator returns a source whose record with sequence number seq is
// fn(seq).
func Generator[T any](spec GeneratorSpec, fn func(seq int64) T) *GeneratorSource[T] {
	if spec.Splits == 0 {
		spec.Splits = 1
	}
	return &GeneratorSource[T]{spec: spec, fn: fn}
}

// Splits implements Source.
func (g *GeneratorSource[T]) Splits(context.Context) ([]Split, error) {
	if err := g.spec.Validate(); err != nil {
		return nil, err
	}
	out := make([]Split, g.spec.Splits)
	for i := range out {
		out[i] = Split{ID: strconv.Itoa(i)}
	}
	return out, nil
}

// Bounded implements Source.
func (g *GeneratorSource[T]) Bounded() bool { return g.spec.Count > 0 }

// OpenSplit implements Source.
func (g *GeneratorSource[T]) OpenSplit(_ context.Context, s Split, pos []byte) (SplitReader[T], error) {
	i, err := strconv.Atoi(s.ID)
	if err != nil || i < 0 || i >= g.spec.Splits {
		return nil, fmt.Errorf("generator: no split %q", s.ID)
	}
	r := &genReader[T]{g: g, next: int64(i), stride: int64(g.spec.Splits)}
	if pos != nil {
		next, n := binary.Varint(pos)
		if n <= 0 || next < 0 || next%r.stride != int64(i) {
			return nil, fmt.Errorf("generator: split %q: bad position %x", s.ID, pos)
		}
		r.next = next
	}
	if g.spec.Rate > 0 {
		r.rate = g.spec.Rate / float64(g.spec.Splits)
		r.start = time.Now()
	}
	return r, nil
}

type genReader[T any] struct {
	g            *GeneratorSource[T]
	next, stride int64
	rate         float64
	start        time.Time
	sent         int64
}

func (r *genReader[T]) Poll(out SourceOutput[T], max int) (PollStatus, error) {
	n := int64(max)
	if r.rate > 0 {
		due := int64(time.Since(r.start).Seconds()*r.rate) - r.sent
		if due <= 0 {
			return Wait, nil
		}
		n = min(n, due)
	}
	count := r.g.spec.Count
	for ; n > 0; n-- {
		if count > 0 && r.next >= count {
			return End, nil
		}
		out.Emit(r.g.fn(r.next), r.next)
		r.next += r.stride
		r.sent++
	}
	if count > 0 && r.next >= count {
		return End, nil
	}
	return More, nil
}

func (r *genReader[T]) Position() []byte { return binary.AppendVarint(nil, r.next) }
func (r *genReader[T]) Close() error     { return nil }

// SliceSource emits the elements of a slice, in order, as one split. Tests
// use it.
type SliceSource[T any] struct {
	items []T
}

// Slice returns a source of the given elements; offsets are their indexes.
func Slice[T any](items ...T) *SliceSource[T] { return &SliceSource[T]{items: items} }

// Splits implements Source.
func (s *SliceSource[T]) Splits(context.Context) ([]Split, error) { return []Split{{ID: "0"}}, nil }

// Bounded implements Source.
func (s *SliceSource[T]) Bounded() bool { return true }

// OpenSplit implements Source.
func (s *SliceSource[T]) OpenSplit(_ context.Context, _ Split, pos []byte) (SplitReader[T], error) {
	r := &sliceReader[T]{items: s.items}
	if pos != nil {
		next, n := binary.Varint(pos)
		if n <= 0 || next < 0 || next > int64(len(s.items)) {
			return nil, fmt.Errorf("slice: bad position %x", pos)
		}
		r.next = int(next)
	}
	return r, nil
}

type sliceReader[T any] struct {
	items []T
	next  int
}

func (r *sliceReader[T]) Poll(out SourceOutput[T], max int) (PollStatus, error) {
	for ; max > 0 && r.next < len(r.items); max-- {
		out.Emit(r.items[r.next], int64(r.next))
		r.next++
	}
	if r.next == len(r.items) {
		return End, nil
	}
	return More, nil
}

func (r *sliceReader[T]) Position() []byte { return binary.AppendVarint(nil, int64(r.next)) }
func (r *sliceReader[T]) Close() error     { return nil }

// LinesSource reads text files line by line; each file is a split and a
// record's offset is its line number, counting from one.
type LinesSource struct {
	patterns []string
}

// Lines returns a source of the lines of the files matching the glob
// patterns. Line endings (\n or \r\n) are removed.
func Lines(patterns ...string) *LinesSource { return &LinesSource{patterns: patterns} }

// Splits implements Source: one split per file, in lexical order.
func (l *LinesSource) Splits(context.Context) ([]Split, error) {
	var files []string
	for _, p := range l.patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("lines: pattern %q: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("lines: no file matches %q", p)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	files = slices.Compact(files)
	out := make([]Split, len(files))
	for i, f := range files {
		out[i] = Split{ID: f}
	}
	return out, nil
}

// Bounded implements Source.
func (l *LinesSource) Bounded() bool { return true }

// OpenSplit implements Source. The position holds the byte offset and the
// line number of the next line.
func (l *LinesSource) OpenSplit(_ context.Context, s Split, pos []byte) (SplitReader[string], error) {
	f, err := os.Open(s.ID)
	if err != nil {
		return nil, fmt.Errorf("lines: %w", err)
	}
	r := &linesReader{f: f}
	if pos != nil {
		off, n := binary.Uvarint(pos)
		line, m := binary.Uvarint(pos[max(n, 0):])
		if n <= 0 || m <= 0 {
			f.Close()
			return nil, fmt.Errorf("lines: %s: bad position %x", s.ID, pos)
		}
		if _, err := f.Seek(int64(off), io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("lines: %w", err)
		}
		r.off, r.line = int64(off), int64(line)
	}
	r.br = bufio.NewReaderSize(f, 64<<10)
	return r, nil
}

type linesReader struct {
	f    *os.File
	br   *bufio.Reader
	off  int64 // byte offset of the next line
	line int64 // lines read so far
}

func (r *linesReader) Poll(out SourceOutput[string], max int) (PollStatus, error) {
	for ; max > 0; max-- {
		s, err := r.br.ReadString('\n')
		if len(s) > 0 {
			r.off += int64(len(s))
			r.line++
			n := len(s)
			if s[n-1] == '\n' {
				n--
				if n > 0 && s[n-1] == '\r' {
					n--
				}
			}
			out.Emit(s[:n], r.line)
		}
		if errors.Is(err, io.EOF) {
			return End, nil
		}
		if err != nil {
			return End, fmt.Errorf("lines: %s line %d: %w", r.f.Name(), r.line+1, err)
		}
	}
	return More, nil
}

func (r *linesReader) Position() []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, uint64(r.off)), uint64(r.line))
}

func (r *linesReader) Close() error { return r.f.Close() }
