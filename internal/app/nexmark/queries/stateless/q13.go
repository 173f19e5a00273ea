package stateless

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q13 is the bounded side input join: each bid joined with the rows of a
// static side input whose key is MOD(auction, 10000) (a lookup join; a bid
// without a match is dropped). Columns auction, bidder, price, dateTime,
// value.
//
// The side input is the CSV file job.Context.SideInput, one "key,value"
// row a line as the reference's side_input.txt (RFC 4180 quoting allowed,
// blank lines skipped, spaces around the key ignored). A key appearing on
// several lines gives one result row per line, in file order, as a lookup
// join does. Keys outside (−10000, 10000) can never equal MOD(auction,
// 10000) and are dropped. A malformed line fails the job before it starts,
// with an error naming the file and line. Without a file the side input is
// that of the reference's SideInputGenerator --num 10000: keys 0 to 9 999,
// each with its decimal string as value ("42" → "42").
//
// The table is loaded once, in Build, and only read afterwards, so every
// subtask's join closes over the same immutable table: the side input is
// not state and needs no checkpointing (a restore loads the file again).
var Q13 = job.Query{Name: "q13", Title: "bounded side input join", Build: buildQ13}

// sideKeys is the modulus of the join key and the size of the default side
// input.
const sideKeys = 10_000

// sideTable maps a join key k in (−sideKeys, sideKeys) to its side-input
// values, at index k + sideKeys − 1. It is built once and never changed.
type sideTable [][]string

func newSideTable() sideTable { return make(sideTable, 2*sideKeys-1) }

// add appends a value for key; a key no bid can have is dropped.
func (t sideTable) add(key int64, value string) {
	if key <= -sideKeys || key >= sideKeys {
		return
	}
	t[key+sideKeys-1] = append(t[key+sideKeys-1], value)
}

// lookup returns the values of the side rows joined with auction.
func (t sideTable) lookup(auction int64) []string { return t[auction%sideKeys+sideKeys-1] }

// defaultSideTable is the side input of the reference's
// SideInputGenerator with 10 000 rows: key k, value strconv.Itoa(k).
func defaultSideTable() sideTable {
	t := newSideTable()
	for k := range int64(sideKeys) {
		t.add(k, strconv.FormatInt(k, 10))
	}
	return t
}

// loadSideInput reads the side input file at path ("" for the default).
func loadSideInput(path string) (sideTable, error) {
	if path == "" {
		return defaultSideTable(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("side input: %w", err)
	}
	defer f.Close()
	return readSideInput(f, path)
}

// readSideInput parses a side input of "key,value" CSV lines; name is the
// file's name in errors.
func readSideInput(r io.Reader, name string) (sideTable, error) {
	t := newSideTable()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					return nil, fmt.Errorf("side input %s, line %d: %d field(s), want 2 (key,value)", name, pe.StartLine, len(rec))
				}
				return nil, fmt.Errorf("side input %s, line %d: %w", name, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("side input %s: %w", name, err)
		}
		key, err := strconv.ParseInt(strings.TrimSpace(rec[0]), 10, 64)
		if err != nil {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("side input %s, line %d: key %q is not a BIGINT", name, line, rec[0])
		}
		t.add(key, rec[1])
	}
}

// q13Row is a bid joined with one side-input value.
type q13Row struct {
	auction, bidder, price, dateTime int64
	value                            string
}

func buildQ13(c *job.Context) error {
	side, err := loadSideInput(c.SideInput)
	if err != nil {
		return err
	}
	joined := weir.FlatMap(c.Bids(), func(b nexmark.Bid, out weir.Out[q13Row]) error {
		for _, v := range side.lookup(b.Auction) {
			out.Emit(q13Row{auction: b.Auction, bidder: b.Bidder, price: b.Price, dateTime: b.DateTime, value: v})
		}
		return nil
	}).Name("join side input")
	job.Emit(c, joined, func(dst []byte, r q13Row) []byte {
		row := job.BeginRow(dst)
		row.Int("auction", r.auction)
		row.Int("bidder", r.bidder)
		row.Int("price", r.price)
		row.Int("dateTime", r.dateTime)
		row.Str("value", r.value)
		return row.End()
	})
	return nil
}
