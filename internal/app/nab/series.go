// Package nab reads the Numenta Anomaly Benchmark (NAB) corpus and scores
// a detector's per-row anomaly scores the way NAB does: a probation period
// at the start of each file, labelled anomaly windows rewarding the earliest
// detection with a scaled sigmoid, false positives weighted by the profile
// and by their distance past the last window, a threshold swept over the
// whole corpus, and the raw score normalised between the null detector
// (never alerts: 0) and the perfect one (100).
//
// The scoring follows NAB's documented algorithm (numenta/NAB, MIT
// licence); its correctness is checked by reproducing NAB's published
// scores from published detections (see the tests).
package nab

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Series is a timestamp,value series in file order. Timestamps may repeat
// and need not be in order: a detector scores rows, not times.
type Series struct {
	Times  []time.Time
	Values []float64
}

// Len is the number of rows.
func (s *Series) Len() int { return len(s.Values) }

// timeLayouts are the timestamp forms ReadSeries accepts. A timestamp
// without a zone is taken as UTC.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// ParseTime parses a timestamp in one of the forms NAB and common CSV
// exports use ("2014-04-10 07:15:00", with optional fractional seconds,
// RFC 3339, or a date alone), or Unix seconds (an integer or a decimal).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > -1e11 && f < 1e11 {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not a date and time (e.g. 2014-04-10 07:15:00 or RFC 3339) nor Unix seconds", s)
}

// ReadSeries reads a CSV of timestamp,value rows with a header line (CRLF
// or LF line ends; extra columns are ignored). Errors name the file (name)
// and line.
func ReadSeries(r io.Reader, name string) (*Series, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	s := &Series{}
	header := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if header {
			header = false
			if len(rec) >= 2 && !looksNumeric(rec[1]) {
				continue
			}
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("%s:%d: want timestamp,value, got %d field(s)", name, line, len(rec))
		}
		t, err := ParseTime(rec[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: value %q is not a number", name, line, rec[1])
		}
		s.Times = append(s.Times, t)
		s.Values = append(s.Values, v)
	}
	return s, nil
}

func looksNumeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}
