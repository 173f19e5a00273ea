package file

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// CSVSource returns a source of the CSV files cfg names (RFC 4180, read
// with encoding/csv), decoded by f. Each file starts with a header row,
// which binds f's columns to the file's (f.WithHeader): the file may order
// them as it likes and have more. A record is a row; a quoted field may
// hold line breaks, so a record may span lines, and its offset is the line
// it starts on. Empty lines are blank lines, skipped or rejected as
// SourceConfig.RejectBlank says.
//
// Rejected, with their text and line: a row that encoding/csv cannot
// parse (a stray or unclosed quote; one left open reaches the end of the
// file), a row whose field count is not the header's, a row f cannot
// decode, and, when the header lacks one of f's columns or names one
// twice, the header row and every row after it.
func CSVSource[T any](cfg SourceConfig, f *format.CSVFormat[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, errors.New("file source: the CSV format is nil (format.CSV builds one)")
	}
	bind := func(header []string) (func([]string) (T, error), error) {
		g, err := f.WithHeader(header)
		if err != nil {
			return nil, err
		}
		return g.DecodeFields, nil
	}
	s := newSource[T](cfg)
	s.csv = &csvDecoding[T]{comma: f.Comma(), bind: bind}
	return s, nil
}

// csvDecoding is how a CSV source turns records into T values: bind is
// given a file's header row and returns the decoding of that file's
// records.
type csvDecoding[T any] struct {
	comma rune
	bind  func(header []string) (func(fields []string) (T, error), error)
}

// csvReader reads the records of a CSV file with encoding/csv. The csv
// reader reads through tee, which keeps what it handed over since the end
// of the last record, so that each record's text (for rejections), its
// size and its lines are known exactly.
type csvReader[T any] struct {
	r   *reader[T]
	tee teeReader
	cr  *csv.Reader
	// startOff is the stream offset cr started at; lineBase the lines
	// before it.
	startOff, lineBase int64
	header             bool // read
	headerLine         int64
	width              int
	decode             func([]string) (T, error)
	headerErr          error
	// blankN empty lines from line blankLine on came before the last
	// record read.
	blankN, blankLine int64
}

// blanks handles the empty lines before the last record read: skipped
// and counted, or rejected. It returns how many it rejected.
func (c *csvReader[T]) blanks(out weir.SourceOutput[T]) int {
	if !c.r.s.cfg.RejectBlank {
		c.r.s.blank.Add(c.blankN)
		return 0
	}
	for i := range c.blankN {
		out.Reject("", c.blankLine+i, errBlank)
	}
	return int(c.blankN)
}

// teeReader hands a csv.Reader first unread, then what src reads, and keeps
// all it handed over in kept, which starts at stream offset base.
type teeReader struct {
	src    io.Reader
	unread []byte
	kept   []byte
	base   int64
	limit  int
}

var errCSVTooLong = errors.New("record too long")

func (t *teeReader) Read(p []byte) (int, error) {
	if len(t.kept) > t.limit {
		return 0, errCSVTooLong
	}
	var n int
	var err error
	if len(t.unread) > 0 {
		n = copy(p, t.unread)
		t.unread = t.unread[n:]
	} else {
		n, err = t.src.Read(p)
	}
	t.kept = append(t.kept, p[:n]...)
	return n, err
}

func newCSVReader[T any](r *reader[T]) *csvReader[T] {
	// The slack covers what the csv reader reads ahead of a record.
	return &csvReader[T]{r: r, tee: teeReader{src: r.br, limit: r.s.cfg.MaxRecordBytes + readBufferSize}}
}

func (c *csvReader[T]) start() error {
	c.open(0, 0)
	return nil
}

// open starts a csv reader at stream offset off, after line lines.
func (c *csvReader[T]) open(off, line int64) {
	c.cr = csv.NewReader(&c.tee)
	c.cr.Comma = c.r.s.csv.comma
	c.cr.FieldsPerRecord = -1 // checked against the header, with a better error
	c.cr.ReuseRecord = true
	c.startOff, c.lineBase = off, line
}

// read reads a record. It returns the record's text without the empty
// lines before it and its line break, and its line number; the reader's
// position moves past it.
func (c *csvReader[T]) read() (fields []string, raw []byte, line int64, err error) {
	r := c.r
	// Drop the text of the last record, which the caller is done with,
	// keeping what the csv reader read ahead.
	if d := r.off - c.tee.base; d > 0 {
		k := copy(c.tee.kept, c.tee.kept[d:])
		c.tee.kept = c.tee.kept[:k]
		c.tee.base = r.off
	}
	fields, err = c.cr.Read()
	end := c.startOff + c.cr.InputOffset()
	if errors.Is(err, errCSVTooLong) {
		c.blankN = 0
		raw = c.tee.kept[r.off-c.tee.base:]
		return nil, raw[:min(len(raw), r.s.cfg.MaxRecordBytes)], r.line + 1, err
	}
	seg := c.tee.kept[r.off-c.tee.base : end-c.tee.base]
	// encoding/csv skips empty lines before a record: blank lines.
	skipped := int64(0)
	for {
		if len(seg) > 0 && seg[0] == '\n' {
			seg = seg[1:]
		} else if len(seg) > 1 && seg[0] == '\r' && seg[1] == '\n' {
			seg = seg[2:]
		} else {
			break
		}
		skipped++
	}
	c.blankN, c.blankLine = skipped, r.line+1
	line = r.line + skipped + 1
	n := lines(seg)
	if len(seg) > 0 && seg[len(seg)-1] != '\n' {
		n++ // the last line of a file without a final line break
	}
	raw = trimEOL(seg)
	r.line += skipped + n
	r.off = end
	return fields, raw, line, err
}

// recordError is the error of a record encoding/csv cannot parse, or nil.
func (c *csvReader[T]) recordError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) || !(errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) || errors.Is(pe.Err, csv.ErrFieldCount)) {
		return nil
	}
	return fmt.Errorf("CSV: line %d, column %d: %w", c.lineBase+int64(pe.Line), pe.Column, pe.Err)
}

// readHeader reads the header row and binds the decoding to it. A header
// that does not bind is rejected; so is then every record of the file,
// which cannot be decoded. A restored reader moves on to its position.
// It returns how many records it rejected, and, when the reader has
// ended, End.
func (c *csvReader[T]) readHeader(out weir.SourceOutput[T]) (int, weir.PollStatus, error) {
	r := c.r
	fields, raw, line, err := c.read()
	n := 0
	if r.resumeOff == 0 {
		n = c.blanks(out)
	}
	switch {
	case errors.Is(err, io.EOF):
		st, err := r.atEOF() // an empty file
		return n, st, err
	case errors.Is(err, errCSVTooLong):
		r.ended = true
		out.Reject(string(raw), line, r.errTooLong(int64(len(c.tee.kept))))
		return n + 1, weir.End, nil
	case c.recordError(err) != nil:
		c.headerErr = c.recordError(err)
	case err != nil:
		st, err := r.fail(out, raw, err)
		return n, st, err
	default:
		header := slices.Clone(fields)
		c.decode, c.headerErr = r.s.csv.bind(header)
		c.width = len(header)
	}
	c.header, c.headerLine = true, line
	if c.headerErr != nil {
		c.headerErr = fmt.Errorf("CSV header (line %d): %w", line, c.headerErr)
	}
	if r.resumeOff == 0 {
		if c.headerErr != nil {
			out.Reject(string(raw), line, c.headerErr)
			n++
		}
		return n, weir.More, nil
	}
	// Restored: the header was read (and rejected, if bad) before the
	// checkpoint. Move on to the position.
	off, pl := r.resumeOff, r.resumeLine
	if off < r.off {
		st, err := r.fail(out, nil, fmt.Errorf("the checkpoint's position, byte %d, is inside the header, which ends at byte %d", off, r.off))
		return 0, st, err
	}
	have := c.tee.base + int64(len(c.tee.kept)) // read of the stream so far
	if off <= have {
		c.tee.unread = append([]byte(nil), c.tee.kept[off-c.tee.base:]...)
		r.off, r.line = off, pl
	} else if err := r.moveTo(off, pl, have); err != nil {
		st, err := r.fail(out, nil, err)
		return 0, st, err
	}
	c.tee.kept = c.tee.kept[:0]
	c.tee.base = off
	c.open(off, pl)
	return 0, weir.More, nil
}

func (r *reader[T]) pollCSV(out weir.SourceOutput[T], max int) (weir.PollStatus, error) {
	c := r.csv
	for n, start := 0, r.off; n < max && r.off-start < pollBytes; {
		fields, raw, line, err := c.read()
		n += c.blanks(out)
		switch {
		case errors.Is(err, io.EOF):
			return r.atEOF()
		case errors.Is(err, errCSVTooLong):
			// Without the end of the record there is no knowing where
			// the next one starts.
			r.ended = true
			out.Reject(string(raw), line, r.errTooLong(int64(len(c.tee.kept))))
			return weir.End, nil
		case err != nil && c.recordError(err) == nil:
			return r.fail(out, raw, err)
		case len(raw) > r.s.cfg.MaxRecordBytes:
			out.Reject(string(raw[:r.s.cfg.MaxRecordBytes]), line, r.errTooLong(int64(len(raw))))
		case err != nil:
			out.Reject(string(raw), line, c.recordError(err))
		case blank(raw):
			if !r.s.cfg.RejectBlank {
				r.s.blank.Add(1)
				continue
			}
			out.Reject(string(raw), line, errBlank)
		case c.headerErr != nil:
			out.Reject(string(raw), line, fmt.Errorf("not decoded: %w", c.headerErr))
		case len(fields) != c.width:
			out.Reject(string(raw), line, fmt.Errorf("CSV: line %d has %d fields, but the header (line %d) has %d columns", line, len(fields), c.headerLine, c.width))
		default:
			v, err := c.decode(fields)
			if err != nil {
				out.Reject(string(raw), line, err)
			} else {
				out.Emit(v, line)
			}
		}
		n++
	}
	return weir.More, nil
}
