package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A record on disk:
//
//	length  uint32  little endian, bytes of the value
//	crc     uint32  CRC-32C of length, offset, time and value
//	offset  int64   the record's offset in its partition
//	time    int64   append time, Unix nanoseconds
//	value   [length]byte
const headerSize = 24

// MaxRecordLimit is the largest value a record can hold, whatever
// Config.MaxRecordBytes says; a length above it is read as damage.
const MaxRecordLimit = 64 << 20

const segmentExt = ".seg"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the encoding of one record to dst.
func appendRecord(dst []byte, off, nanos int64, v []byte) []byte {
	n := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(off))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(nanos))
	dst = append(dst, v...)
	crc := crc32.Update(crc32.Checksum(dst[n:n+4], castagnoli), castagnoli, dst[n+8:])
	binary.LittleEndian.PutUint32(dst[n+4:], crc)
	return dst
}

var (
	// errShort: b ends inside the record.
	errShort = errors.New("record cut short")
	// errDamaged: the record's length, checksum or offset is wrong.
	errDamaged = errors.New("record damaged")
)

// parsed is one record read from a buffer; value aliases the buffer.
type parsed struct {
	off, nanos int64
	value      []byte
	size       int
}

// recordSize returns the size of the record b starts with, from its header
// alone (errShort when b holds no whole header).
func recordSize(b []byte) (int, error) {
	if len(b) < headerSize {
		return 0, errShort
	}
	l := binary.LittleEndian.Uint32(b)
	if l > MaxRecordLimit {
		return 0, fmt.Errorf("%w: length %d is above the limit of %d bytes", errDamaged, l, MaxRecordLimit)
	}
	return headerSize + int(l), nil
}

// parseRecord reads the record b starts with, which must have offset want.
func parseRecord(b []byte, want int64) (parsed, error) {
	size, err := recordSize(b)
	if err != nil {
		return parsed{}, err
	}
	if len(b) < size {
		return parsed{}, errShort
	}
	crc := crc32.Update(crc32.Checksum(b[:4], castagnoli), castagnoli, b[8:size])
	if got := binary.LittleEndian.Uint32(b[4:]); got != crc {
		return parsed{}, fmt.Errorf("%w: checksum %08x, want %08x", errDamaged, got, crc)
	}
	off := int64(binary.LittleEndian.Uint64(b[8:]))
	if off != want {
		return parsed{}, fmt.Errorf("%w: offset %d, want %d", errDamaged, off, want)
	}
	return parsed{
		off:   off,
		nanos: int64(binary.LittleEndian.Uint64(b[16:])),
		value: b[headerSize:size:size],
		size:  size,
	}, nil
}

// segmentName is the file name of the segment whose first record has
// offset base.
func segmentName(base int64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }

// listSegments returns the base offsets of the segments in dir, in order.
func listSegments(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil || base < 0 {
			return nil, fmt.Errorf("%s: a segment's name is its first offset in 20 digits", filepath.Join(dir, e.Name()))
		}
		bases = append(bases, base)
	}
	slices.Sort(bases)
	return bases, nil
}

// scanSegment reads the records of a segment from its start and returns
// how many are whole and the bytes they take: a torn or damaged tail
// begins at the returned size.
func scanSegment(f *os.File, base int64, buf []byte) (count, size int64, tail error, err error) {
	var data []byte // bytes read and not yet parsed, at file position size
	for {
		rec, perr := parseRecord(data, base+count)
		if perr == nil {
			count++
			size += int64(rec.size)
			data = data[rec.size:]
			continue
		}
		if !errors.Is(perr, errShort) {
			return count, size, perr, nil
		}
		// Read on from the first unparsed byte, enough for the record.
		need := len(buf)
		if n, err := recordSize(data); err == nil && n > need {
			need = n
		}
		if cap(buf) < need {
			buf = make([]byte, need)
		}
		buf = buf[:need]
		n, rerr := f.ReadAt(buf, size)
		if n == len(data) {
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				return count, size, nil, rerr
			}
			if n == 0 {
				return count, size, nil, nil
			}
			return count, size, errShort, nil
		}
		data = buf[:n]
	}
}
