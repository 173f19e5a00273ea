package file

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/weirstream/weir"
)

const (
	// readBufferSize is the buffer a reader reads its file through; lines
	// shorter than it are decoded where they lie.
	readBufferSize = 64 << 10
	// pollBytes bounds what one Poll reads, so that a poll stays short
	// whatever the lines are (blank ones are not records to count).
	pollBytes = 1 << 20
	// skipBytes bounds what one Poll discards of a compressed file read
	// again up to a restored position.
	skipBytes = 8 << 20
	// positionV1 is the version byte of a reader's position.
	positionV1 = 1
)

// OpenSplit implements weir.Source. A position is a version byte (1), the
// uncompressed byte offset of the next record and the number of lines
// before it, both as unsigned varints. An uncompressed file is reopened at
// the offset; a compressed one cannot seek, so it is read again from the
// start and the bytes before the offset are discarded, a few megabytes a
// Poll.
func (s *Source[T]) OpenSplit(_ context.Context, sp weir.Split, pos []byte) (weir.SplitReader[T], error) {
	r := &reader[T]{s: s, path: sp.ID, comp: s.cfg.Compression.of(sp.ID)}
	if pos != nil {
		off, line, err := decodePosition(pos)
		if err != nil {
			return nil, fmt.Errorf("file source: %s: %w", sp.ID, err)
		}
		r.resumeOff, r.resumeLine = off, line
	}
	return r, nil
}

func decodePosition(pos []byte) (off, line int64, err error) {
	if len(pos) == 0 || pos[0] != positionV1 {
		return 0, 0, fmt.Errorf("position %x: not a version %d position", pos, positionV1)
	}
	o, n := binary.Uvarint(pos[1:])
	l, m := binary.Uvarint(pos[1+max(n, 0):])
	if n <= 0 || m <= 0 || 1+n+m != len(pos) || o > 1<<62 || l > o {
		return 0, 0, fmt.Errorf("position %x is damaged", pos)
	}
	return int64(o), int64(l), nil
}

// trackedFile reads a file and keeps the first error reading it returned,
// so that a failed read of the disk is told from a compressed stream that
// does not decode.
type trackedFile struct {
	f   *os.File
	err error
}

func (t *trackedFile) Read(p []byte) (int, error) {
	n, err := t.f.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// corruptError is a compressed file that does not decompress.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// reader reads one file.
type reader[T any] struct {
	s    *Source[T]
	path string
	comp Compression
	f    *os.File
	file trackedFile
	dec  io.Closer // the decompressor, if any
	br   *bufio.Reader
	// resumeOff and resumeLine are the position the reader was opened at.
	resumeOff, resumeLine int64
	started, ended        bool
	// off is the uncompressed offset of the next record and line the
	// number of lines before it: the position.
	off, line int64
	// skip is how many bytes of a compressed file are still to be
	// discarded to reach the restored position.
	skip int64
	// size is the size of an uncompressed file when it was opened.
	size int64
	buf  []byte // a line longer than br's buffer
	csv  *csvReader[T]
	pos  []byte
	// slot is set while the reader holds one of the source's open files;
	// wake is the runtime's, for when one comes free.
	slot bool
	wake func()
}

func (r *reader[T]) Position() []byte {
	off, line := r.off, r.line
	if !r.started {
		off, line = r.resumeOff, r.resumeLine
	}
	r.pos = binary.AppendUvarint(binary.AppendUvarint(append(r.pos[:0], positionV1), uint64(off)), uint64(line))
	return r.pos
}

func (r *reader[T]) Close() error {
	if r.dec != nil {
		_ = r.dec.Close() // nothing to flush; its errors were seen reading
		r.dec = nil
	}
	var err error
	if r.f != nil {
		err = r.f.Close()
		r.f = nil
	}
	if r.slot {
		r.slot = false
		r.s.files.release()
	}
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	return nil
}

// SetWake implements weir.WakingReader: a reader waiting for one of the
// source's MaxOpenFiles is woken when another closes.
func (r *reader[T]) SetWake(wake func()) { r.wake = wake }

func (r *reader[T]) Poll(out weir.SourceOutput[T], max int) (weir.PollStatus, error) {
	if r.ended {
		return weir.End, nil
	}
	if !r.started {
		if !r.s.files.acquire(r.wake) {
			return weir.Wait, nil
		}
		r.slot = true
		f, err := os.Open(r.path)
		if errors.Is(err, fs.ErrNotExist) {
			r.ended = true
			return weir.End, fmt.Errorf("file source: %s was listed but is gone: a file must stay until it has been read (%w)", r.path, err)
		}
		if err != nil {
			r.ended = true
			return weir.End, fmt.Errorf("file source: %w", err)
		}
		r.f, r.file.f = f, f
		r.started = true
		r.off, r.line = 0, 0
		if err := r.start(); err != nil {
			return r.fail(out, nil, err)
		}
	}
	if r.csv != nil && !r.csv.header {
		n, st, err := r.csv.readHeader(out)
		if err != nil || st == weir.End {
			return st, err
		}
		max -= n
	}
	if r.skip > 0 {
		n, err := io.CopyN(io.Discard, r.br, min(r.skip, skipBytes))
		r.skip -= n
		if errors.Is(err, io.EOF) {
			return weir.End, fmt.Errorf("file source: %s: the checkpoint's position is at byte %d (line %d), but the file ends %d bytes before it: the file changed",
				r.path, r.resumeOff, r.resumeLine, r.skip)
		}
		if err != nil {
			return r.fail(out, nil, err)
		}
		if r.skip > 0 {
			return weir.More, nil
		}
	}
	if r.csv != nil {
		return r.pollCSV(out, max)
	}
	return r.pollLines(out, max)
}

// start opens the decompressor and, for a restored reader, moves to the
// restored position: there for an uncompressed file, or to the start with
// the bytes to skip.
func (r *reader[T]) start() error {
	var in io.Reader = &r.file
	switch r.comp {
	case Gzip:
		zr, err := gzip.NewReader(in)
		if err != nil {
			return err
		}
		r.dec, in = zr, zr
	case Zstd:
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return err
		}
		r.dec, in = zr.IOReadCloser(), zr
	}
	r.br = bufio.NewReaderSize(in, readBufferSize)
	if r.comp == Uncompressed {
		fi, err := r.f.Stat()
		if err != nil {
			return err
		}
		r.size = fi.Size()
	}
	if r.s.csv != nil {
		r.csv = newCSVReader(r)
		return r.csv.start()
	}
	return r.moveTo(r.resumeOff, r.resumeLine, 0)
}

// moveTo positions the reader at offset off, after line lines, having
// read have bytes of the file so far.
func (r *reader[T]) moveTo(off, line, have int64) error {
	if off == have {
		r.off, r.line = off, line
		return nil
	}
	if r.comp != Uncompressed {
		if off < have {
			return fmt.Errorf("the checkpoint's position, byte %d, is inside the %d bytes read first", off, have)
		}
		r.skip = off - have
		r.off, r.line = off, line
		return nil
	}
	fi, err := r.f.Stat()
	if err != nil {
		return err
	}
	if off > fi.Size() {
		return fmt.Errorf("the checkpoint's position is at byte %d (line %d), but the file has %d bytes: the file changed",
			off, line, fi.Size())
	}
	if _, err := r.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	r.br.Reset(&r.file)
	r.off, r.line = off, line
	return nil
}

// fail handles an error reading the file: a read that failed fails the
// job; a compressed stream that does not decompress is rejected (what
// was read of the line being read, at its line number) and ends the
// split, since nothing after it can be read.
func (r *reader[T]) fail(out weir.SourceOutput[T], partial []byte, err error) (weir.PollStatus, error) {
	r.ended = true
	var ce *corruptError
	if r.file.err == nil && r.comp != Uncompressed && !errors.As(err, &ce) {
		err = &corruptError{err}
	}
	if errors.As(err, &ce) {
		out.Reject(string(partial), r.line+1, fmt.Errorf("%s file does not decompress after line %d: %w", r.comp, r.line, ce.err))
		return weir.End, nil
	}
	return weir.End, fmt.Errorf("file source: %s line %d: %w", r.path, r.line+1, err)
}

// atEOF ends the split. An uncompressed file whose size is not what was
// read grew while it was read: files must be complete when they are
// picked up.
func (r *reader[T]) atEOF() (weir.PollStatus, error) {
	r.ended = true
	if r.comp == Uncompressed {
		fi, err := r.f.Stat()
		if err != nil {
			return weir.End, fmt.Errorf("file source: %w", err)
		}
		if fi.Size() != r.off || r.size != r.off {
			return weir.End, fmt.Errorf("file source: %s had %d bytes when opened and has %d, but %d were read to its end: the file changed while it was read (write a file under a hidden name, then rename it)",
				r.path, r.size, fi.Size(), r.off)
		}
	}
	return weir.End, nil
}

// readLine reads a line and returns it without its line break, with its
// size in bytes, line break included. A line longer than MaxRecordBytes
// (line break not included) is returned cut at that length, with n its
// length.
func (r *reader[T]) readLine() (line []byte, size int64, n int64, err error) {
	limit := r.s.cfg.MaxRecordBytes
	b, err := r.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		line = trimEOL(b)
		if len(line) > limit {
			return line[:limit], int64(len(b)), int64(len(line)), err
		}
		return line, int64(len(b)), 0, err
	}
	r.buf = append(r.buf[:0], b[:min(len(b), limit)]...)
	size = int64(len(b))
	for err == bufio.ErrBufferFull {
		b, err = r.br.ReadSlice('\n')
		size += int64(len(b))
		if len(r.buf) < limit {
			r.buf = append(r.buf, b[:min(len(b), limit-len(r.buf))]...)
		}
	}
	content := size - int64(len(b)-len(trimEOL(b)))
	if content > int64(limit) {
		return r.buf, size, content, err
	}
	return r.buf[:content], size, 0, err
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// blank reports whether a line is empty or white space only.
func blank(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\v', '\f':
		default:
			return false
		}
	}
	return true
}

var errBlank = errors.New("blank line")

func (r *reader[T]) errTooLong(size int64) error {
	return fmt.Errorf("record of %d bytes is longer than MaxRecordBytes (%d)", size, r.s.cfg.MaxRecordBytes)
}

func (r *reader[T]) pollLines(out weir.SourceOutput[T], max int) (weir.PollStatus, error) {
	for n, read := 0, int64(0); n < max && read < pollBytes; {
		line, size, long, err := r.readLine()
		if err != nil && err != io.EOF {
			return r.fail(out, line, err)
		}
		if size > 0 {
			r.off += size
			r.line++
			read += size
			switch {
			case long > 0:
				out.Reject(string(line), r.line, r.errTooLong(long))
				n++
			case blank(line):
				if r.s.cfg.RejectBlank {
					out.Reject(string(line), r.line, errBlank)
					n++
				} else {
					r.s.blank.Add(1)
				}
			default:
				v, err := r.s.dec.Decode(line)
				if err != nil {
					out.Reject(string(line), r.line, err)
				} else {
					out.Emit(v, r.line)
				}
				n++
			}
		}
		if err == io.EOF {
			return r.atEOF()
		}
	}
	return weir.More, nil
}

// lines counts the line breaks in b.
func lines(b []byte) int64 { return int64(bytes.Count(b, []byte{'\n'})) }
