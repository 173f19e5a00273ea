package stateless

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// TestToEurosBounds: the largest prices whose conversion fits convert
// exactly; one more (or less) is an error naming the price.
func TestToEurosBounds(t *testing.T) {
	// 10157898719003057 = ⌊(2⁶³ − 1) / 908⌋; × 908 = 9223372036854775756.
	for _, tc := range []struct {
		price, euros int64
	}{
		{10157898719003057, 9223372036854775756},
		{-10157898719003057, -9223372036854775756},
		{0, 0},
		{-1, -908},
	} {
		got, err := toEuros(tc.price)
		if err != nil || got != tc.euros {
			t.Errorf("toEuros(%d) = %d, %v; want %d", tc.price, got, err, tc.euros)
		}
	}
	for _, price := range []int64{10157898719003058, -10157898719003058, 1 << 62, -1 << 63} {
		if got, err := toEuros(price); err == nil || !strings.Contains(err.Error(), "overflows") {
			t.Errorf("toEuros(%d) = %d, %v; want an overflow error", price, got, err)
		}
	}
}

// TestQ1Overflow: in an events file, a bid whose price × 908 overflows
// int64 is an error of the operator "to euros". The default policy fails
// the job naming the file and line; with dead letters the two overflowing
// bids (lines 3 and 5) are written there with operator, file, line and
// error, and the other bids give their rows.
func TestQ1Overflow(t *testing.T) {
	const fits = 10157898719003057 // the largest price that converts
	events := []nexmark.Event{
		{Kind: nexmark.KindPerson, Person: nexmark.Person{ID: 1, Name: "a", DateTime: 1_000}}, // line 1
		bid(1, fits),      // line 2: 9223372036854775.756
		bid(2, fits+1),    // line 3: overflows
		bid(3, -fits),     // line 4: -9223372036854775.756
		bid(4, -fits-1),   // line 5: overflows
		bid(5, 1_000_000), // line 6: 908000.000
	}
	path := jobtest.WriteEvents(t, events)

	t.Run("fail", func(t *testing.T) {
		_, _, err := job.RunCollect(t.Context(), Q1, job.Options{Input: path})
		if err == nil {
			t.Fatal("the job succeeded; want it to fail on the overflowing bid on line 3")
		}
		for _, want := range []string{`"to euros"`, path, "line 3", "overflows"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})

	t.Run("dead-letter", func(t *testing.T) {
		dead := filepath.Join(t.TempDir(), "dead")
		lines, _, err := job.RunCollect(t.Context(), Q1, job.Options{Input: path, OnError: weir.DeadLetter, DeadLetters: dead})
		if err != nil {
			t.Fatal(err)
		}
		jobtest.Check(t, lines, false, []reference.Row{
			jobtest.R("auction", 1, "bidder", 7, "price", reference.Decimal("9223372036854775.756"), "dateTime", 1000, "extra", "x"),
			jobtest.R("auction", 3, "bidder", 7, "price", reference.Decimal("-9223372036854775.756"), "dateTime", 1000, "extra", "x"),
			jobtest.R("auction", 5, "bidder", 7, "price", reference.Decimal("908000.000"), "dateTime", 1000, "extra", "x"),
		})
		parts, err := filepath.Glob(filepath.Join(dead, "part-*.jsonl"))
		if err != nil || len(parts) != 1 {
			t.Fatalf("dead-letter part files %v (%v), want one", parts, err)
		}
		data, err := os.ReadFile(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		type letter struct {
			Operator string
			Split    string
			Line     int64
			Error    string
			Record   nexmark.Bid
		}
		var got []letter
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var l letter
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("dead letter %s: %v", sc.Text(), err)
			}
			got = append(got, l)
		}
		if len(got) != 2 {
			t.Fatalf("%d dead letters, want 2 (lines 3 and 5):\n%s", len(got), data)
		}
		for i, want := range []struct {
			line, auction, price int64
		}{{3, 2, fits + 1}, {5, 4, -fits - 1}} {
			l := got[i]
			if l.Operator != "to euros" || l.Split != path || l.Line != want.line ||
				!strings.Contains(l.Error, "overflows") || l.Record.Auction != want.auction || l.Record.Price != want.price {
				t.Errorf("dead letter %d: %+v; want operator \"to euros\", split %s, offset %d, an overflow error and the bid on auction %d with price %d",
					i, l, path, want.line, want.auction, want.price)
			}
		}
	})
}
